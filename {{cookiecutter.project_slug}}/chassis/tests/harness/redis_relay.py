"""A TCP relay in front of the test Redis, to stage outages without touching the server itself.

The Redis behind the tests may be shared with other runs (or be a container), so it is never
stopped. The app under test talks to the relay instead, which can go down (connections reset,
new ones refused: what a stopped Redis looks like), hang (connections accepted, never answered),
stall (open connections stop carrying bytes, with no reset: a dropped network path), hold a closed
server connection open on the client's side (the server's last words arrive, its close does not)
and come back up. It relays any TCP protocol, so a test may put it in front of Postgres as well.
"""

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from urllib.parse import urlsplit


class RedisRelay:
    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._db_path = parts.path
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._hanging = False
        # Cleared while stalled: the pipes hold what they read until it is set again.
        self._flowing = asyncio.Event()
        self._flowing.set()
        # Cleared while server closes are held back from clients.
        self._closing = asyncio.Event()
        self._closing.set()
        self.port = 0
        # The local ports of the relay's connections to the server, to find them server-side.
        self.upstream_ports: list[int] = []
        # Reads from clients: with one request at a time, one per round trip (a request fits one
        # read); tests/test_round_trips.py counts Postgres round trips with it.
        self.client_reads = 0
        self.server_reads = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self._db_path}"

    async def up(self) -> None:
        self._hanging = False
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Refuse new connections and reset the open ones."""
        self._closing.set()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            # Since Python 3.12 this also waits for the connections, hence after the resets.
            await server.wait_closed()

    async def hang(self) -> None:
        """Accept connections but never answer, like a Redis behind a dropped network path."""
        await self.down()
        await self.up()
        self._hanging = True

    def stall(self) -> None:
        """Keep every connection open but carry nothing, until `resume()`."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def hold_closes(self) -> None:
        """Relay what the server sends, but not its closing the connection, until the client
        sends more (a real socket would answer that with a reset) or `down()`."""
        self._closing.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self._hanging:
                with suppress(ConnectionError):
                    await reader.read()  # swallow requests until `down()` resets the connection
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
            self._writers.add(upstream_writer)
            self.upstream_ports.append(upstream_writer.get_extra_info("sockname")[1])
            server_closed, client_spoke = asyncio.Event(), asyncio.Event()

            def from_client() -> None:
                self.client_reads += 1
                if server_closed.is_set():
                    client_spoke.set()

            def from_server() -> None:
                self.server_reads += 1

            async def hold_close() -> None:
                # Until `down()`, or until the client sends more (a real socket would answer
                # that with a reset; asyncpg's close sends a Terminate and waits for the close).
                server_closed.set()
                waits = [asyncio.create_task(e.wait()) for e in (self._closing, client_spoke)]
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for wait in waits:
                    wait.cancel()

            try:
                await asyncio.gather(
                    _pipe(reader, upstream_writer, self._flowing, on_read=from_client),
                    _pipe(
                        upstream_reader,
                        writer,
                        self._flowing,
                        on_read=from_server,
                        after_eof=hold_close,
                    ),
                    return_exceptions=True,
                )
            finally:
                self._writers.discard(upstream_writer)
        finally:
            self._writers.discard(writer)
            writer.close()


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    flowing: asyncio.Event,
    *,
    on_read: Callable[[], None] | None = None,
    after_eof: Callable[[], Awaitable[None]] | None = None,
) -> None:
    try:
        while data := await reader.read(65536):
            if on_read is not None:
                on_read()
            await flowing.wait()
            writer.write(data)
            await writer.drain()
        if after_eof is not None:
            await after_eof()
    finally:
        with suppress(ConnectionError, RuntimeError):
            writer.close()
