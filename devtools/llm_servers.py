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
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

BRIEF_JSON = json.dumps(
    {
        "client": "Acme Ltd",
        "objective": "Reduce churn by 20% in a year.",
        "audience": "the board",
        "key_questions": ["Why did churn rise?", "What fixes onboarding?"],
        "success_criteria": ["The board can decide from it"],
        "tone": "plain",
    }
)
OUTLINE_SECTIONS = [
    {"title": "Where churn comes from", "purpose": "Why did churn rise?"},
    {"title": "What to fix first", "purpose": "What fixes onboarding?"},
]
# A model told the shape in its prompt tends to send the bare list; one held to the
# schema sends the object (a schema's top level is an object).
OUTLINE_JSON = json.dumps(OUTLINE_SECTIONS)
OUTLINE_OBJECT = json.dumps({"sections": OUTLINE_SECTIONS})
BY_SCHEMA = {"BriefAnalysis": BRIEF_JSON, "Outline": OUTLINE_OBJECT}
PROSE = (
    "## Findings\n\nChurn rose after the March price change. Onboarding is the first "
    "place to act: customers who finish it stay twice as long. "
)


def answer_for(prompt: str, schema: str = "") -> str:
    """Valid text for whichever client-report stage the prompt (or, held to a schema,
    the schema's name) belongs to."""
    if schema:
        return BY_SCHEMA[schema]
    if '"title": "BriefAnalysis"' in prompt or "Analyse the brief" in prompt:
        return BRIEF_JSON
    if '"title": "Outline"' in prompt or "Plan the body" in prompt:
        return OUTLINE_JSON
    return PROSE


def schema_of(body: dict[str, Any]) -> str:
    """The name of the JSON schema a request holds the answer to ("" for none)."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return str(response_format["json_schema"]["name"])
    choice = body.get("tool_choice") or {}
    return str(choice.get("name", "")) if choice.get("type") == "tool" else ""


def pieces(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class Reply:
    """What the server does for one request."""

    kind: str = "ok"  # ok | status | cut | no_usage | slow | stall | error_event | refusal
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    delay: float = 0.0  # between chunks (slow)
    cut_after: int = 2  # events sent before a cut (or a stall)
    text: str | None = None  # None: answer_for(prompt)
    # The finish reason to end on ("" = the normal one): OpenAI "length" or
    # "content_filter", Anthropic "max_tokens" or "refusal".
    finish: str = ""


class FakeLLMServer(abc.ABC):
    """Base: the HTTP plumbing; subclasses write the protocol's events."""

    path = ""

    def __init__(
        self, *, tokens_in: int = 1000, tokens_out: int = 500, tokens_cached: int = 0,
        tokens_cache_write: int = 0, prompt_cache: bool = False,
        openai_cache_rules: bool = False,
    ) -> None:
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out
        # Prompt-cache usage to report: OpenAI's cached_tokens (part of prompt_tokens);
        # Anthropic's cache_read_input_tokens and cache_creation_input_tokens (besides
        # input_tokens).
        self.tokens_cached = tokens_cached
        self.tokens_cache_write = tokens_cache_write
        # prompt_cache: report usage from the sizes (a token ~ 4 characters) and, as
        # cached, the longest prefix of this prompt seen before under the same
        # ``prompt_cache_key`` (none without one); bench/caching.py measures with it.
        # openai_cache_rules: as OpenAI documents it, nothing is cached below 1,024
        # tokens of prefix, then in steps of 128 tokens.
        self.prompt_cache = prompt_cache
        # Answer GET /props with this context window, as llama-server does (0: 404).
        self.context_window = 0
        self.openai_cache_rules = openai_cache_rules
        self.seen_prompts: dict[str, list[str]] = {}
        self.plan: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.client_closed = threading.Event()
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

            def do_GET(self) -> None:
                # llama.cpp's llama-server says its context window (per slot) at /props.
                if self.path.rstrip("/") == "/props" and server.context_window:
                    settings = {"n_ctx": server.context_window}
                    self.send_json(200, {"default_generation_settings": settings})
                    return
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})

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
        text = reply.text if reply.text is not None else self.answer(body)
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
        self.client_closed.set()

    def prompt_of(self, body: dict[str, Any]) -> str:
        """The user message's text (content blocks joined)."""
        messages = body.get("messages") or [{}]
        content = messages[-1].get("content", "")
        if isinstance(content, list):
            return "".join(block.get("text", "") for block in content)
        return content if isinstance(content, str) else ""

    def cache_usage(self, body: dict[str, Any], text: str) -> tuple[int, int, int]:
        """``(tokens in, cached, out)`` of one request under ``prompt_cache``."""
        prompt = "".join(
            "".join(block.get("text", "") for block in content)
            if isinstance(content := message.get("content", ""), list) else str(content)
            for message in body.get("messages") or []
        )
        key = body.get("prompt_cache_key")
        cached = 0
        with self._lock:
            if key:
                seen = self.seen_prompts.setdefault(str(key), [])
                for before in seen:
                    same = 0
                    for a, b in zip(before, prompt, strict=False):
                        if a != b:
                            break
                        same += 1
                    cached = max(cached, same)
                seen.append(prompt)
        cached //= 4
        if self.openai_cache_rules:
            cached = 0 if cached < 1024 else 1024 + (cached - 1024) // 128 * 128
        return len(prompt) // 4, cached, max(1, len(text) // 4)

    def answer(self, body: dict[str, Any]) -> str:
        """What the server answers to ``body`` by default."""
        return answer_for(self.prompt_of(body), schema_of(body))

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
        field = "refusal" if reply.kind == "refusal" else "content"
        parts = pieces(text)
        for index, piece in enumerate(parts):
            if reply.kind == "error_event" and index == len(parts) // 2:
                # How OpenAI reports trouble after the 200: an error object in the stream.
                error = {"type": "server_error",
                         "message": "The server had an error while processing your request."}
                yield f"data: {json.dumps({'error': error})}\n\n"
                return
            yield chunk([{"index": 0, "delta": {field: piece}, "finish_reason": None}])
        yield chunk([{"index": 0, "delta": {}, "finish_reason": reply.finish or "stop"}])
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if include_usage and reply.kind != "no_usage":
            tokens_in, cached, out = (
                self.cache_usage(body, text) if self.prompt_cache
                else (self.tokens_in, self.tokens_cached, self.tokens_out)
            )
            usage: dict[str, Any] = {"prompt_tokens": tokens_in, "completion_tokens": out,
                                     "total_tokens": tokens_in + out}
            if cached or self.prompt_cache:
                usage["prompt_tokens_details"] = {"cached_tokens": cached}
            yield chunk([], usage=usage)
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
            "usage": {"input_tokens": self.tokens_in, "output_tokens": 1,
                      "cache_read_input_tokens": self.tokens_cached,
                      "cache_creation_input_tokens": self.tokens_cache_write}}})
        tool = schema_of(body)
        block: dict[str, Any] = (
            {"type": "tool_use", "id": "toolu_1", "name": tool, "input": {}}
            if tool else {"type": "text", "text": ""}
        )
        yield event("content_block_start", {"index": 0, "content_block": block})
        yield event("ping", {})
        parts = pieces(text)
        half = len(parts) // 2
        for index, piece in enumerate(parts):
            if reply.kind == "error_event" and index == half:
                yield event("error", {"error": {"type": "overloaded_error",
                                                "message": "Overloaded"}})
                return
            delta = ({"type": "input_json_delta", "partial_json": piece} if tool
                     else {"type": "text_delta", "text": piece})
            yield event("content_block_delta", {"index": 0, "delta": delta})
            if index == half:
                # Output tokens so far: cumulative, so a client must not add them up.
                yield event("message_delta", {"delta": {"stop_reason": None,
                                                        "stop_sequence": None},
                                              "usage": {"output_tokens": self.tokens_out // 2}})
        yield event("content_block_stop", {"index": 0})
        stop = reply.finish or ("tool_use" if tool else "end_turn")
        yield event("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": self.tokens_out}})
        yield event("message_stop", {})
