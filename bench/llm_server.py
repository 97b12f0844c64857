"""A local OpenAI-compatible (or Anthropic) streaming server for the benchmarks: one
token per chunk.

``POST /v1/chat/completions`` with ``stream: true`` answers ``max_tokens`` tokens as
server-sent events at ``--rate`` tokens per second, paced by the clock, then a usage
chunk and ``[DONE]``; HTTP/1.1 keep-alive, chunked. With ``--protocol anthropic`` it
answers ``POST /v1/messages`` with Anthropic's named events instead (message_start,
a content_block_delta per token, message_delta, message_stop). One asyncio loop serves
every stream, so the server costs little of the machine the benchmark measures.

    python bench/llm_server.py --port 8599 --rate 50 [--protocol anthropic]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


def sse(payload: dict[str, object]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def chunk(model: str, **fields: object) -> dict[str, object]:
    return {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
            "model": model, **fields}


async def write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()


async def stream(writer: asyncio.StreamWriter, body: dict[str, object], rate: float) -> None:
    model = str(body.get("model", "bench"))
    tokens = int(body.get("max_tokens") or 100)  # type: ignore[call-overload]
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                 b"transfer-encoding: chunked\r\n\r\n")
    started = time.monotonic()
    for index in range(tokens):
        await asyncio.sleep(max(0.0, started + (index + 1) / rate - time.monotonic()))
        delta = {"content": f"word{index % 10} "}
        await write_chunk(writer, sse(chunk(model, choices=[
            {"index": 0, "delta": delta, "finish_reason": None}])))
    await write_chunk(writer, sse(chunk(model, choices=[
        {"index": 0, "delta": {}, "finish_reason": "stop"}])) + sse(chunk(
            model, choices=[],
            usage={"prompt_tokens": 100, "completion_tokens": tokens, "total_tokens": 100 + tokens},
        )) + b"data: [DONE]\n\n")
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def named(event: str, payload: dict[str, object]) -> bytes:
    data = json.dumps({"type": event, **payload}, separators=(",", ":"))
    return f"event: {event}\ndata: {data}\n\n".encode()


async def stream_anthropic(
    writer: asyncio.StreamWriter, body: dict[str, object], rate: float
) -> None:
    model = str(body.get("model", "bench"))
    tokens = int(body.get("max_tokens") or 100)  # type: ignore[call-overload]
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                 b"transfer-encoding: chunked\r\n\r\n")
    await write_chunk(writer, named("message_start", {"message": {
        "id": "msg_bench", "type": "message", "role": "assistant", "content": [],
        "model": model, "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 1}}}) + named(
        "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
    started = time.monotonic()
    for index in range(tokens):
        await asyncio.sleep(max(0.0, started + (index + 1) / rate - time.monotonic()))
        await write_chunk(writer, named("content_block_delta", {
            "index": 0, "delta": {"type": "text_delta", "text": f"word{index % 10} "}}))
    await write_chunk(writer, named("content_block_stop", {"index": 0}) + named(
        "message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                          "usage": {"output_tokens": tokens}}) + named("message_stop", {}))
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float,
    protocol: str = "openai",
) -> None:
    try:
        while True:  # keep-alive: one request after another
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            body = json.loads(await reader.readexactly(int(headers.get("content-length", 0))))
            if protocol == "anthropic":
                await stream_anthropic(writer, body, rate)
            else:
                await stream(writer, body, rate)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--protocol", choices=("openai", "anthropic"), default="openai")
    args = parser.parse_args()
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.rate, args.protocol), "127.0.0.1", args.port,
        backlog=1024,
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
