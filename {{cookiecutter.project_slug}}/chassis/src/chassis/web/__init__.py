"""The HTTP tier, as features use it: accept a job, reach the request's resources, describe
problems, and run work after the response.

Inside the chassis, `web` also holds the app factory, problem rendering, request context, health
and /metrics, rate limits, idempotency keys, the body limit and the job-status route.
"""

from chassis.web.accept import SubmitDep, accepted_responses
from chassis.web.app import build_app
from chassis.web.background import after_response
from chassis.web.dependencies import (
    QueueDep,
    RedisDep,
    RequestIdDep,
    SessionDep,
    SettingsDep,
    SpawnerDep,
)
from chassis.web.problems import problem_responses

__all__ = [
    "QueueDep",
    "RedisDep",
    "RequestIdDep",
    "SessionDep",
    "SettingsDep",
    "SpawnerDep",
    "SubmitDep",
    "accepted_responses",
    "after_response",
    "build_app",
    "problem_responses",
]
