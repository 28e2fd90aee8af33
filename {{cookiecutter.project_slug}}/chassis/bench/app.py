"""The sample service's app plus comparison routes, served only by the enqueue-path benchmark.

POST /bench/hello         answers at once: what the app's middleware and routing cost
POST /bench/arq-enqueue   a plain arq `enqueue_job` on a pool opened at start-up, nothing else
POST /bench/history-row   the Postgres half of `jobs.submit` alone: insert the job's row, commit

`python -m bench.app --port P --workers N` serves it with the same uvicorn options as `web`.
"""

import argparse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from arq.connections import ArqRedis, RedisSettings, create_pool
from chassis.jobs import history, new_job_id
from chassis.web.dependencies import RequestIdDep, SessionDep
from fastapi import FastAPI, Request, status

from sample.main import create_app
from sample.settings import Settings

# The arq baseline writes to arq's own default queue, apart from ours.
ARQ_TASK = "write_note"


def create_bench_app() -> FastAPI:
    # The environment alone configures a benchmark run; a developer's .env must not change it.
    settings = Settings(_env_file=None)
    app = create_app(settings)
    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Mapping[str, Any]]:
        # arq's documented set-up: one pool for the process, opened before the first request.
        pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
        try:
            async with service_lifespan(app_) as state:
                yield {**(state or {}), "arq_pool": pool}
        finally:
            await pool.aclose()

    app.router.lifespan_context = lifespan

    @app.post("/bench/hello", include_in_schema=False)
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.post("/bench/arq-enqueue", status_code=status.HTTP_202_ACCEPTED, include_in_schema=False)
    async def arq_enqueue(request: Request) -> dict[str, str | None]:
        pool: ArqRedis = request.state.arq_pool
        job = await pool.enqueue_job(ARQ_TASK, title="bench", work_seconds=0)
        return {"job_id": job.job_id if job else None}

    @app.post("/bench/history-row", status_code=status.HTTP_202_ACCEPTED, include_in_schema=False)
    async def history_row(session: SessionDep, request_id: RequestIdDep) -> dict[str, str]:
        job_id = new_job_id()
        kwargs = {"title": "bench", "work_seconds": 0}
        await history.insert_queued(
            session, job_id=job_id, task=ARQ_TASK, kwargs=kwargs, request_id=request_id
        )
        await session.commit()
        return {"job_id": job_id}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # The options of a service's `web` command (chassis/src/chassis/cli.py), on loopback.
    uvicorn.run(
        "bench.app:create_bench_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
