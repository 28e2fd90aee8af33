-- wrk script: POST a note request with a fresh Idempotency-Key on every request, then print
-- one JSON line of results for bench/web.py to read.
-- Usage: wrk -s bench/post.lua URL -- RUN_TAG   (from chassis/)

local body = '{"title": "bench", "work_seconds": 0}'
local threads = 0
local counter = 0
local prefix = "bench-"

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  -- Unique across runs (tag), threads (number) and requests (counter).
  prefix = string.format("%s-%d-", args[1] or "bench", thread_number or 0)
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    -- A Structured Fields string, as the IETF Idempotency-Key draft writes it.
    ["Idempotency-Key"] = '"' .. prefix .. counter .. '"',
  }
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "http_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
