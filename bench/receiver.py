"""The bench's webhook receiver: a small HTTP/1.1 server that records every delivery the app's outbox makes.

`python -m bench.receiver <port> <secret>` listens on 127.0.0.1. Each POST is checked as a real receiver would
(`verify_signature` over the raw body) and answered 200 at once; the receiver keeps, per delivery, the event id
(`X-Memberdesk-Delivery`), the event's `created_at` from the body (its transaction's start, just before its commit)
and the time it arrived. `GET /deliveries` answers what was recorded since the last `POST /reset` as JSON
(`[[delivery_id, created_at_epoch, received_epoch], ...]` and the number of bad signatures); `GET /health` is ok.

Written on asyncio streams rather than a framework: on a 2-core machine shared with the app, PostgreSQL and the
load generator, the receiver must cost as little CPU per delivery as it can, so that it measures the sender.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime

import orjson

from backend.infrastructure.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.deliveries: list[tuple[str, float, float]] = []
        self.bad_signatures = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                received = time.time()
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                writer.write(self.answer(request_line, headers, body, received))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def answer(self, request_line: str, headers: dict[str, str], body: bytes, received: float) -> bytes:
        method, _, rest = request_line.partition(" ")
        path = rest.partition(" ")[0]
        if method == "POST" and path == "/hook":
            self.record(headers, body, received)
            return OK
        if method == "POST" and path == "/reset":
            self.deliveries, self.bad_signatures = [], 0
            return OK
        if method == "GET" and path in ("/deliveries", "/health"):
            payload = orjson.dumps(
                {"deliveries": self.deliveries, "bad_signatures": self.bad_signatures}
                if path == "/deliveries"
                else {"status": "ok"}
            )
            return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
                len(payload),
                payload,
            )
        return NOT_FOUND

    def record(self, headers: dict[str, str], body: bytes, received: float) -> None:
        timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        if not verify_signature(self.secret, timestamp, body, signature):
            self.bad_signatures += 1
        created = datetime.fromisoformat(orjson.loads(body)["created_at"]).timestamp()
        self.deliveries.append((headers.get(DELIVERY_HEADER.lower(), ""), created, received))


async def serve(port: int, secret: str) -> None:
    receiver = Receiver(secret)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    port, secret = int(sys.argv[1]), sys.argv[2]
    try:
        import uvloop

        uvloop.run(serve(port, secret))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(serve(port, secret))


if __name__ == "__main__":
    main()
