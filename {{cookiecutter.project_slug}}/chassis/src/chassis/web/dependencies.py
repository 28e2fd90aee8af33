"""FastAPI dependencies over the process resources, typed for reuse in every router.

Each is `async def` though none awaits: FastAPI runs a plain `def` dependency in its thread pool,
a thread hop per dependency per request that cost the accept path a fifth of its CPU time.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from chassis.jobs import Queue
from chassis.settings import Settings
from chassis.web.background import Spawner
from chassis.web.resources import Resources
from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """A session per request: the request owns the transaction, services never commit.

    A route that only accepts a job needs none (`web/accept.py`); one that changes rows and
    enqueues a job in the same transaction commits through `jobs.submit`. Anything left is rolled
    back.
    """
    async with resources.sessions() as session:
        yield session


async def get_settings(request: Request) -> Settings:
    # Not through ResourcesDep: every nested dependency is solved again on every request.
    settings: Settings = request.state.resources.settings
    return settings


async def get_redis(resources: ResourcesDep) -> Redis:
    return resources.redis


async def get_queue(resources: ResourcesDep) -> Queue:
    return resources.queue


async def get_spawner(resources: ResourcesDep) -> Spawner:
    return resources.spawner


async def get_request_id(request: Request) -> str:
    request_id: str = request.state.request_id
    return request_id


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
QueueDep = Annotated[Queue, Depends(get_queue)]
RequestIdDep = Annotated[str, Depends(get_request_id)]
SpawnerDep = Annotated[Spawner, Depends(get_spawner)]
