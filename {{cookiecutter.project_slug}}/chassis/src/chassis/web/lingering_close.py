"""A bounded lingering close, so an answer sent before the body was read reaches the client.

uvicorn closes the socket as soon as it has written a response on a connection that will not be
kept alive: the body limit's 413 (which says `Connection: close`), or any answer to a client that
asked for `Connection: close` (urllib does). When the client is still sending its body, the
kernel answers the unread bytes with a reset, and a client that writes its whole body before
reading (urllib, a raw socket) loses the response with it (RFC 9112 section 9.6). Here, such a
close half-closes instead: the response is flushed and followed by a FIN, whatever the client
still sends is read and dropped, and the socket closes when the client closes its side, after
`LINGER_SECONDS`, or once `LINGER_BYTES` have been dropped, whichever comes first.

Why a protocol class: the ASGI app never sees the socket, uvicorn has no lingering option, and
uvicorn's request cycle calls `close()` on the transport its protocol hands it. This subclass of
uvicorn's httptools protocol (the one `uvicorn[standard]` runs) hands it a transport whose
`close()` lingers; every other call goes to the real transport. `chassis web` passes it to
uvicorn (`http=`); a proxy in front (nginx lingers on its own) is then not needed for this.
"""

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A few seconds: room for a client on a slow link to finish writing a rejected body and read the
# answer; a client still writing after that is not one that will read it.
LINGER_SECONDS = 5.0
# Bytes dropped before the socket closes anyway: a body of several times the default
# MAX_REQUEST_BODY_BYTES (1 MiB) still gets its answer, a flood is cut off.
LINGER_BYTES = 16 * 1024 * 1024


class LingeringHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection with an unread body by lingering."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lingering = False
        self._dropped = 0
        self._real: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._real = cast(asyncio.Transport, transport)
        super().connection_made(cast(asyncio.Transport, _LingeringTransport(self._real, self)))

    def data_received(self, data: bytes) -> None:
        if not self.lingering:
            super().data_received(data)
            return
        # The rest of a request already answered: never parsed, only counted.
        self._dropped += len(data)
        if self._dropped > LINGER_BYTES:
            self._close_now()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def body_unread(self) -> bool:
        """Whether the current request's body has not all arrived (it was answered early)."""
        return self.cycle is not None and self.cycle.more_body

    def linger(self) -> None:
        """Half-close after the response and drop what still comes, within the bounds above."""
        assert self._real is not None  # set in connection_made, before any request
        self.lingering = True
        self._real.write_eof()  # sent once the response is flushed: the client sees it end
        # Reading may be paused (uvicorn pauses when a body outruns the app).
        self._real.resume_reading()
        self._deadline = self.loop.call_later(LINGER_SECONDS, self._close_now)

    def _close_now(self) -> None:
        assert self._real is not None
        self._real.close()


class _LingeringTransport:
    """The real transport, but `close()` lingers while the request body is still arriving."""

    def __init__(self, transport: asyncio.Transport, protocol: LingeringHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        # uvicorn checks this before it arms keep-alive or starts a pipelined request.
        return self._protocol.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self._protocol.lingering:
            return  # already closing, on its own bounds
        # TLS cannot half-close (asyncio's SSL transport has no write_eof), and a connection the
        # client already dropped has nothing to linger for: close as uvicorn does.
        if (
            self._protocol.body_unread()
            and self._transport.can_write_eof()
            and not self._transport.is_closing()
        ):
            self._protocol.linger()
        else:
            self._transport.close()
