"""`GET /metrics` on the web tier: HTTP metrics, plus the queue gauges computed at scrape time."""

from chassis.jobs import backlog
from chassis.web import exposition
from chassis.web.dependencies import ResourcesDep
from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(resources: ResourcesDep) -> Response:
    families = await backlog.collect(resources.queue, resources.sessions)
    return Response(exposition.render(families), media_type=CONTENT_TYPE_LATEST)
