"""A real webhook receiver for tests: an HTTP server on a thread of the test process
that records every request and answers with the statuses it is told to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """``plan``: the status of each request in turn (200 once it runs out)."""

    plan: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    host: str = "127.0.0.1"
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/reportsite"

    def answer(self, received: Received) -> int:
        with self.lock:
            self.requests.append(received)
            return self.plan.pop(0) if self.plan else 200

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


@contextmanager
def running_receiver(*plan: int, host: str = "127.0.0.1", port: int = 0) -> Iterator[Receiver]:
    """A receiver listening on a loopback address (a free port unless given) until the
    block ends."""
    receiver = Receiver(plan=list(plan), host=host)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = receiver.answer(Received(self.path, dict(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
