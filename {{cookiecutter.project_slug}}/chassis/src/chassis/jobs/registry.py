"""The `@task` decorator: declares a task, its timeout and retry policy, and registers it by name."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, ParamSpec

from chassis.jobs.context import JobContext
from chassis.jobs.retry import DEFAULT_BACKOFF, Backoff

P = ParamSpec("P")
TaskFunction = Callable[Concatenate[JobContext, P], Awaitable[Any]]

DEFAULT_QUEUE = "default"

_REGISTRY: dict[str, "Task[Any]"] = {}


@dataclass(frozen=True, slots=True)
class Message:
    """A call to a task, captured with its arguments, ready to enqueue."""

    task: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE


@dataclass(frozen=True, slots=True)
class Task(Generic[P]):
    name: str
    function: TaskFunction[P]
    # None takes the worker default (`JOB_TIMEOUT_SECONDS`).
    timeout_seconds: int | None
    # Counts the first run: 3 means one run and at most two retries.
    max_tries: int
    # Exception types retried besides outages (see `jobs.retry`); anything else is permanent.
    retry_on: tuple[type[Exception], ...]
    backoff: Backoff
    # The queue whose workers run it (`<slug> worker --queue NAME`); a name in `QUEUES`.
    queue: str = DEFAULT_QUEUE

    def message(self, *args: P.args, **kwargs: P.kwargs) -> Message:
        """Capture a call's keyword arguments; they must be plain data (msgpack)."""
        if args:
            raise TypeError(f"task {self.name!r} takes keyword arguments only")
        return Message(task=self.name, kwargs=dict(kwargs), queue=self.queue)


def task(
    *,
    name: str | None = None,
    timeout_seconds: int | None = None,
    max_tries: int = 3,
    retry_on: tuple[type[Exception], ...] = (),
    backoff: Backoff = DEFAULT_BACKOFF,
    queue: str = DEFAULT_QUEUE,
) -> Callable[[TaskFunction[P]], Task[P]]:
    """Register an async function `(ctx: JobContext, **kwargs) -> result` as a worker task."""
    if max_tries < 1:
        raise ValueError("max_tries counts the first run and must be at least 1")

    def register(function: TaskFunction[P]) -> Task[P]:
        task_name = name or function.__name__
        if task_name in _REGISTRY and _REGISTRY[task_name].function is not function:
            raise ValueError(f"a task named {task_name!r} is already registered")
        declared = Task(task_name, function, timeout_seconds, max_tries, retry_on, backoff, queue)
        _REGISTRY[task_name] = declared
        return declared

    return register


def registered_tasks(queue: str | None = None) -> list[Task[Any]]:
    """Every registered task, or those of one queue."""
    return [task for task in _REGISTRY.values() if queue is None or task.queue == queue]
