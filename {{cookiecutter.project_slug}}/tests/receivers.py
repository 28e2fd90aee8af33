"""Real servers on loopback that record what the digest notifiers send: HTTP and SMTP."""

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    bodies: list[Any] = field(default_factory=list)
    status: int = HTTPStatus.OK
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[Any]:
        with self.lock:
            return list(self.bodies)


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Received]]:
    """Yields the URL to POST to and what it received; answers `received.status`."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with received.lock:
                received.bodies.append(json.loads(body))
            self.send_response(received.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default stderr access log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/digests", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, Received]]:
    """A minimal SMTP server (no TLS, no auth): yields its port and the raw messages it got."""
    received = Received()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def handle(self) -> None:
            self.reply("220 receiver ready")
            while command := self.rfile.readline().decode().strip():
                verb = command.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250 receiver")
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while (line := self.rfile.readline().decode()) not in (".\r\n", ""):
                        lines.append(line)
                    with received.lock:
                        received.bodies.append("".join(lines))
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()
