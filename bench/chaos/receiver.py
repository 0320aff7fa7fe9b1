"""The webhook receiver of `make chaos`: records every delivery it accepts, and answers as it is told.

`python -m bench.chaos.receiver --port P --log deliveries.jsonl` (WEBHOOK_SECRET in the environment) serves
`POST /hook` (the app's WEBHOOK_URL) and `POST /_mode` (`{"mode": "ok" | "error" | "hang"}`):
- `ok` checks the signature, appends one JSON line per delivery (its X-Memberdesk-Delivery, the body's id, the
  topic, whether the signature held) and answers 200;
- `error` answers 500 and records nothing;
- `hang` holds the request unanswered until the mode changes (the sender gives up after
  WEBHOOK_TIMEOUT_SECONDS), then answers 503 to nobody.
A second delivery of an id is a line of its own: the run counts duplicates from the file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from typing import IO

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.infrastructure.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)

MODES = ("ok", "error", "hang")


class Receiver:
    """The mode and the delivery log, shared by the routes."""

    def __init__(self, log: IO[bytes], secret: str) -> None:
        self.log = log
        self.secret = secret
        self.mode = "ok"
        self.changed = asyncio.Event()
        self.counts = {"delivered": 0, "refused": 0, "held": 0}

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        if self.mode == "error":
            self.counts["refused"] += 1
            return Response(status_code=500)
        if self.mode == "hang":
            self.counts["held"] += 1
            while self.mode == "hang":
                self.changed.clear()
                await self.changed.wait()
            return Response(status_code=503)
        headers = request.headers
        signed = verify_signature(
            self.secret, headers.get(TIMESTAMP_HEADER, ""), body, headers.get(SIGNATURE_HEADER, "")
        )
        try:
            event_id = str(orjson.loads(body).get("id"))
        except (orjson.JSONDecodeError, AttributeError):
            event_id = ""
        line = {
            "delivery": headers.get(DELIVERY_HEADER, ""),
            "id": event_id,
            "topic": headers.get(EVENT_HEADER, ""),
            "signed": signed,
            "at": time.time(),
        }
        self.log.write(orjson.dumps(line) + b"\n")
        self.log.flush()
        self.counts["delivered"] += 1
        return Response(status_code=200)

    async def set_mode(self, request: Request) -> Response:
        mode = orjson.loads(await request.body()).get("mode")
        if mode not in MODES:
            return JSONResponse({"error": f"mode must be one of {MODES}"}, status_code=400)
        self.mode = mode
        self.changed.set()
        return JSONResponse({"mode": mode, **self.counts})


def app(log: IO[bytes], secret: str) -> Starlette:
    receiver = Receiver(log, secret)
    return Starlette(
        routes=[Route("/hook", receiver.hook, methods=["POST"]), Route("/_mode", receiver.set_mode, methods=["POST"])]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    with args.log.open("ab") as log:
        uvicorn.run(
            app(log, os.environ["WEBHOOK_SECRET"]),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
        )


if __name__ == "__main__":
    main()
