"""Real local HTTP servers that speak OpenAI's and Anthropic's streaming protocols.

Each runs threaded in the test process on 127.0.0.1 (a free port), answers with the
replies queued in ``plan`` (then the default: a whole stream with usage), records
every request body in ``requests``, and sets ``client_closed`` when a client hangs up
in the middle of a stream (cancel must close the connection at once).
"""

from __future__ import annotations

import abc
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

BRIEF_JSON = json.dumps(
    {
        "objective": "Reduce churn by 20% in a year.",
        "audience": "the board",
        "key_questions": ["Why did churn rise?", "What fixes onboarding?"],
        "constraints": ["No new hires"],
    }
)
OUTLINE_JSON = json.dumps(
    [
        {"title": "Where churn comes from", "points": ["price change", "onboarding"]},
        {"title": "What to fix first", "points": ["onboarding", "pricing"]},
    ]
)
PROSE = (
    "## Findings\n\nChurn rose after the March price change. Onboarding is the first "
    "place to act: customers who finish it stay twice as long. "
)


def answer_for(prompt: str) -> str:
    """Valid text for whichever client-report stage the prompt belongs to."""
    if prompt.startswith("Analyse the brief"):
        return BRIEF_JSON
    if prompt.startswith("Plan the body"):
        return OUTLINE_JSON
    return PROSE


def pieces(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class Reply:
    """What the server does for one request."""

    kind: str = "ok"  # ok | status | cut | no_usage | slow | stall | error_event
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0  # between chunks (slow)
    cut_after: int = 2  # events sent before a cut (or a stall)
    text: str | None = None  # None: answer_for(prompt)


class FakeLLMServer(abc.ABC):
    """Base: the HTTP plumbing; subclasses write the protocol's events."""

    path = ""

    def __init__(self, *, tokens_in: int = 1000, tokens_out: int = 500) -> None:
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out
        self.plan: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.client_closed = threading.Event()
        self.closed_at: float | None = None
        self.streaming = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = server.plan.popleft() if server.plan else Reply()
                if self.path.rstrip("/") != server.path:
                    self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if reply.kind == "status":
                    self.send_json(reply.status, json.loads(reply.body or "{}"), reply.headers)
                    return
                server.stream(self, body, reply)

            def send_json(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What the SDK's ``base_url`` setting should be."""
        return self.url

    # --- streaming -------------------------------------------------------------
    def stream(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], reply: Reply) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        text = reply.text if reply.text is not None else answer_for(self.prompt_of(body))
        conn: socket.socket = handler.connection
        sent = 0
        try:
            for event in self.events(body, text, reply):
                if reply.kind == "cut" and sent >= reply.cut_after:
                    handler.wfile.flush()
                    conn.shutdown(socket.SHUT_RDWR)  # no terminating chunk: a cut
                    handler.close_connection = True
                    return
                data = event.encode()
                handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                handler.wfile.flush()
                sent += 1
                self.streaming.set()
                if reply.kind == "stall" and sent >= reply.cut_after:
                    self.wait_for_hangup(conn, 30.0)
                    return
                if reply.delay and self.wait_for_hangup(conn, reply.delay):
                    return
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.saw_close()
        handler.close_connection = True

    def wait_for_hangup(self, conn: socket.socket, seconds: float) -> bool:
        """Wait up to ``seconds``; True (and recorded) if the client closed meanwhile."""
        readable, _, _ = select.select([conn], [], [], seconds)
        if readable:
            try:
                if conn.recv(1, socket.MSG_PEEK) == b"":
                    self.saw_close()
                    return True
            except OSError:
                self.saw_close()
                return True
        return False

    def saw_close(self) -> None:
        if not self.client_closed.is_set():
            self.closed_at = time.monotonic()
            self.client_closed.set()

    def prompt_of(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or [{}]
        content = messages[-1].get("content", "")
        return content if isinstance(content, str) else ""

    @abc.abstractmethod
    def events(self, body: dict[str, Any], text: str, reply: Reply) -> Iterator[str]:
        """The protocol's stream of SSE lines for one reply."""


class OpenAIServer(FakeLLMServer):
    """``POST /v1/chat/completions`` with ``stream=True``: SSE chunks, usage, ``[DONE]``."""

    path = "/v1/chat/completions"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def events(self, body: dict[str, Any], text: str, reply: Reply) -> Iterator[str]:
        model = body.get("model", "")

        def chunk(choices: list[Any], **extra: Any) -> str:
            payload = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                       "model": model, "choices": choices, **extra}
            return f"data: {json.dumps(payload)}\n\n"

        yield chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                      "finish_reason": None}])
        for piece in pieces(text):
            yield chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        yield chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if include_usage and reply.kind != "no_usage":
            yield chunk([], usage={"prompt_tokens": self.tokens_in,
                                   "completion_tokens": self.tokens_out,
                                   "total_tokens": self.tokens_in + self.tokens_out})
        yield "data: [DONE]\n\n"


class AnthropicServer(FakeLLMServer):
    """``POST /v1/messages`` with ``stream=True``: Anthropic's named SSE events."""

    path = "/v1/messages"

    @property
    def base_url(self) -> str:
        return self.url

    def events(self, body: dict[str, Any], text: str, reply: Reply) -> Iterator[str]:
        def event(name: str, payload: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n"

        yield event("message_start", {"message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": body.get("model", ""), "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.tokens_in, "output_tokens": 1}}})
        yield event("content_block_start", {"index": 0,
                                            "content_block": {"type": "text", "text": ""}})
        yield event("ping", {})
        parts = pieces(text)
        half = len(parts) // 2
        for index, piece in enumerate(parts):
            if reply.kind == "error_event" and index == half:
                yield event("error", {"error": {"type": "overloaded_error",
                                                "message": "Overloaded"}})
                return
            yield event("content_block_delta", {"index": 0,
                                                "delta": {"type": "text_delta", "text": piece}})
            if index == half:
                # Output tokens so far: cumulative, so a client must not add them up.
                yield event("message_delta", {"delta": {"stop_reason": None,
                                                        "stop_sequence": None},
                                              "usage": {"output_tokens": self.tokens_out // 2}})
        yield event("content_block_stop", {"index": 0})
        yield event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": self.tokens_out}})
        yield event("message_stop", {})
