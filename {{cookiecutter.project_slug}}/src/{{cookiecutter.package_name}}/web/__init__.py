"""The HTTP tier's wiring: resources and dependencies, problem details, request context, health and
/metrics, rate limits, idempotency keys, `SubmitDep` (accept a job) and the job-status route.
Features' routers build on it.
"""
