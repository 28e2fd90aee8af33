"""Group commit: writes that arrive together share one transaction, and each caller waits for it.

A write that arrives while a commit is in flight waits for the next one, so an idle process
commits each write at once and a busy one commits many per round trip. The history's `Writer`
runs one per kind of write (the accept path's rows, the worker's claims and outcomes), each on a
Postgres connection of its own (`DedicatedConnection`): commits are serial, so one is enough, and
it skips the pool's checkout and pre-ping, which cost more than the writes themselves.

If a commit fails, every caller in its group gets the error when it is an outage (see
`core.outages`); otherwise the group is committed again one write at a time, so that one bad write
fails only its own caller.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from chassis.core.db import connect_asyncpg
from chassis.core.outages import is_outage
from chassis.settings import Settings

# A group statement takes milliseconds; one that takes this long is on a connection that stalled
# (a dropped network path sends no reset). It fails as an outage and the next group reconnects.
STATEMENT_TIMEOUT_SECONDS = 10.0

Item = TypeVar("Item")
Result = TypeVar("Result")
T = TypeVar("T")


@dataclass(slots=True)
class _Write(Generic[Item]):
    item: Item
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def __post_init__(self) -> None:
        # A caller cancelled while it waited never reads its write's error; read it here instead,
        # so asyncio does not log it as never retrieved.
        self.done.add_done_callback(lambda done: done.cancelled() or done.exception())


class GroupCommit(Generic[Item, Result]):
    """`join(item)` adds the item to the next group and returns its result once that commits.

    `commit` writes a group in one transaction and returns one result per item, in order. `key`
    names the row an item writes: a group holds one item per key, later ones wait for the next
    group, so one statement never touches a row twice.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        key: Callable[[Item], Hashable],
    ) -> None:
        self._commit = commit
        self._key = key
        self._pending: list[_Write[Item]] = []
        self._committer: asyncio.Task[None] | None = None

    async def join(self, item: Item) -> Result:
        write = _Write(item)
        self._pending.append(write)
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_groups())
        # A caller cancelled while it waits cancels only its own future: its item is in the group
        # already, and the group commits (and settles every other write) as if nothing happened.
        result: Result = await write.done
        return result

    async def _commit_groups(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._one_per_key(self._pending)
                try:
                    results = await self._commit([write.item for write in group])
                except Exception as exc:
                    if is_outage(exc) or len(group) == 1:
                        for write in group:
                            _settle(write, exception=exc)
                    else:
                        await self._commit_one_by_one(group)
                    continue
                for write, result in zip(group, results, strict=True):
                    _settle(write, result=result)
        finally:
            self._committer = None

    async def _commit_one_by_one(self, group: list[_Write[Item]]) -> None:
        for write in group:
            try:
                (result,) = await self._commit([write.item])
            except Exception as exc:
                _settle(write, exception=exc)
            else:
                _settle(write, result=result)

    def _one_per_key(
        self, writes: list[_Write[Item]]
    ) -> tuple[list[_Write[Item]], list[_Write[Item]]]:
        """This group, and what waits for the next."""
        group: dict[Hashable, _Write[Item]] = {}
        later: list[_Write[Item]] = []
        for write in writes:
            key = self._key(write.item)
            if key in group:
                later.append(write)
            else:
                group[key] = write
        return list(group.values()), later


class DedicatedConnection:
    """One asyncpg connection to `DATABASE_URL`, opened on first use and again after an outage.

    Every statement is bounded by STATEMENT_TIMEOUT_SECONDS: a connection that stalled fails as an
    outage, and the next call reconnects.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: asyncpg.Connection | None = None

    async def run(self, operation: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        if self._connection is None or self._connection.is_closed():
            self._connection = await connect_asyncpg(
                self._settings, command_timeout=STATEMENT_TIMEOUT_SECONDS
            )
        connection = self._connection
        try:
            return await operation(connection)
        except Exception as exc:
            if is_outage(exc) or connection.is_closed():
                # A new connection next time; this one may be half-open.
                connection.terminate()
                self._connection = None
            raise

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def _settle(
    write: _Write[Any], *, result: Any = None, exception: BaseException | None = None
) -> None:
    if write.done.done():
        return
    if exception is not None:
        write.done.set_exception(exception)
    else:
        write.done.set_result(result)
