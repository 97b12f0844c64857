"""A local OpenAI-compatible streaming server for the benchmark: one token per chunk.

``POST /v1/chat/completions`` with ``stream: true`` answers ``max_tokens`` tokens as
server-sent events at ``--rate`` tokens per second, paced by the clock, then a usage
chunk and ``[DONE]``; HTTP/1.1 keep-alive, chunked. One asyncio loop serves every
stream, so the server costs little of the machine the benchmark measures.

    python bench/llm_server.py --port 8599 --rate 50
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


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float) -> None:
    try:
        while True:  # keep-alive: one request after another
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            body = json.loads(await reader.readexactly(int(headers.get("content-length", 0))))
            await stream(writer, body, rate)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.rate), "127.0.0.1", args.port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
