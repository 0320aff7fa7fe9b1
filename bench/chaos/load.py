"""The load of `make chaos`: virtual operators reading and writing as an internal tool would, every attempt kept.

Each client loops over: a page of the member list, a member's detail, a create (POST with `Idempotency-Key`),
a decision on a pending member (approve or reject, with `Idempotency-Key`) and an edit (GET for the ETag, then
PATCH with If-Match). A write that gets no definite answer (a 503, a 429, a 409 whose idempotent first attempt is
still running, a dropped connection, a timeout, even a 500) is sent again with the same key and body after the
Retry-After (at most RETRY_CAP_SECONDS), as a careful tool would, until it gets one or RETRY_DEADLINE_SECONDS pass.
Every attempt is recorded (when, what, how long, how it ended) for the table and the picture, and every write's
outcome for the checks in SQL (bench/chaos/verify.py).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx

API = "/api/v1/admin"
CLIENT_TIMEOUT_SECONDS = 10.0
"""The client gives up on an answer after this long: a hang past it is a failure of the run."""
RETRY_CAP_SECONDS = 2.0
RETRY_DEADLINE_SECONDS = 120.0
CREATE_PREFIX = "Chaos "
COMMITTED = frozenset({"acked", "answer lost"})
EDIT_PREFIX = "chaos-edit-"
RETRYABLE = frozenset({409, 429, 500, 502, 503, 504})

WEIGHTS = {"list": 3, "detail": 3, "create": 2, "decide": 2, "edit": 1, "photo": 1, "complete": 1}
PHOTO_TYPE = "image/jpeg"


@dataclass(frozen=True)
class Attempt:
    """One HTTP request: started `at` seconds into the run, `seconds` long; `status` None when no answer came."""

    op: str
    at: float
    seconds: float
    status: int | None
    error: str = ""
    retry_after: bool = False
    worker: int | None = None
    cause: float | None = None
    """For a retry: when the first failed attempt of its write ended (the fault it suffers from began then)."""

    @property
    def ended(self) -> float:
        return self.at + self.seconds

    @property
    def caused_at(self) -> float:
        """When what this attempt suffers from began: its write's first failure, else its own end."""
        return self.ended if self.cause is None else self.cause

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def kind(self) -> str:
        """How it ended: ok, 503 (with Retry-After), 429, 409-retry, 4xx, 500, 503-bare, reset, timeout."""
        if self.ok:
            return "ok"
        if self.status is None:
            return "timeout" if self.error == "timeout" else "reset"
        if self.status == 503:
            return "503" if self.retry_after else "503-bare"
        if self.status == 409 and self.retry_after:
            return "409-retry"
        if self.status in (409, 412, 429):
            return str(self.status)
        if self.status >= 500:
            return "500" if self.status == 500 else f"{self.status}"
        return "4xx"


@dataclass
class Write:
    """A logical write and what became of it: acked (a 2xx), refused (a 4xx), or unknown (gave up retrying)."""

    op: str
    key: str
    member_id: str
    attempts: int = 0
    outcome: str = "unknown"
    """acked (a 2xx), answer lost (a 409 saying the first attempt was carried out), refused <status>, unknown."""
    value: str = ""
    """A create's name, a decision's action, an edit's bio."""


@dataclass
class Ledger:
    """Everything the load did."""

    started: float = field(default_factory=time.monotonic)
    attempts: list[Attempt] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Pools:
    """The members the load works on: pending ones to decide (created ones join), each client's own to edit."""

    pending: list[str]
    editable: list[list[str]]
    readable: list[str]
    next_phone: int
    photo: bytes
    """A small JPEG to upload."""
    uploaded: list[str] = field(default_factory=list)
    """Photos whose file is in S3, waiting for `complete`."""


class Client:
    """One virtual operator: its own connection pool, cookies and random stream."""

    def __init__(self, index: int, base_url: str, headers: dict[str, str], ledger: Ledger, pools: Pools) -> None:
        self.index = index
        self.ledger = ledger
        self.pools = pools
        self.rng = random.Random(index)
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(CLIENT_TIMEOUT_SECONDS),
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
        )
        self.s3 = httpx.AsyncClient(timeout=httpx.Timeout(CLIENT_TIMEOUT_SECONDS))  # no credentials of the app
        self.edit_seq = 0

    async def close(self) -> None:
        await self.http.aclose()
        await self.s3.aclose()

    async def request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        json: object = None,
        headers: dict[str, str] | None = None,
        cause: float | None = None,
    ) -> httpx.Response | None:
        at = self.ledger.now()
        started = time.perf_counter()
        try:
            response = await self.http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            error = "timeout" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
            self.ledger.attempts.append(Attempt(op, at, time.perf_counter() - started, None, error, cause=cause))
            return None
        worker = response.headers.get("X-Memberdesk-Worker")
        self.ledger.attempts.append(
            Attempt(
                op,
                at,
                time.perf_counter() - started,
                response.status_code,
                retry_after="Retry-After" in response.headers,
                worker=int(worker) if worker and worker.isdigit() else None,
                cause=cause,
            )
        )
        return response

    async def run(self, stop: asyncio.Event, *, reads_only: bool = False) -> None:
        mix = {op: weight for op, weight in WEIGHTS.items() if op in ("list", "detail") or not reads_only}
        ops, weights = list(mix), list(mix.values())
        while not stop.is_set():
            op = self.rng.choices(ops, weights)[0]
            await getattr(self, op)()
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------------------------------------ reads

    async def list(self) -> None:
        status = self.rng.choice(["active", "pending", ""])
        await self.request("list", "GET", f"{API}/members?limit=20" + (f"&status={status}" if status else ""))

    async def detail(self) -> None:
        await self.request("detail", "GET", f"{API}/members/{self.rng.choice(self.pools.readable)}")

    # ------------------------------------------------------------------------------------------------ writes

    async def _until_answered(
        self, write: Write, op: str, method: str, path: str, body: object, headers: dict[str, str]
    ) -> httpx.Response | None:
        """Send until a definite answer (2xx, or a 4xx but a retryable 409/429); None after the deadline."""
        deadline = time.monotonic() + RETRY_DEADLINE_SECONDS
        first_failure: float | None = None
        while time.monotonic() < deadline:
            write.attempts += 1
            response = await self.request(op, method, path, json=body, headers=headers, cause=first_failure)
            if first_failure is None:
                first_failure = self.ledger.now()
            if response is not None and response.status_code not in RETRYABLE:
                return response
            if response is not None and response.status_code == 409 and "Retry-After" not in response.headers:
                return response
            pause = 0.5
            if response is not None and response.headers.get("Retry-After", "").isdigit():
                pause = min(float(response.headers["Retry-After"]), RETRY_CAP_SECONDS)
            await asyncio.sleep(pause * (0.5 + self.rng.random()))
        return None

    async def create(self) -> None:
        key = str(uuid.uuid4())
        self.pools.next_phone += 1
        name = f"{CREATE_PREFIX}{key}"
        body = {
            "phone": f"+4470{self.pools.next_phone:08d}",
            "name": name,
            "gender": self.rng.choice(["female", "male"]),
            "birth_year": self.rng.randint(1970, 2000),
            "profile": {"region": "Seoul", "job": "chaos"},
        }
        write = Write("create", key, "", value=name)
        self.ledger.writes.append(write)
        response = await self._until_answered(write, "create", "POST", f"{API}/members", body, {"Idempotency-Key": key})
        if response is None:
            return
        write.outcome = outcome_of(response)
        if response.status_code == 201:
            write.member_id = str(response.json()["id"])
            self.pools.pending.append(write.member_id)

    async def decide(self) -> None:
        if not self.pools.pending:
            return await self.list()
        member = self.pools.pending.pop(self.rng.randrange(len(self.pools.pending)))
        action = self.rng.choice(["approve", "reject"])
        body: dict[str, object] = {"reason_code": "spam"} if action == "reject" else {}
        key = str(uuid.uuid4())
        write = Write("decide", key, member, value=action)
        self.ledger.writes.append(write)
        response = await self._until_answered(
            write, "decide", "POST", f"{API}/members/{member}/{action}", body, {"Idempotency-Key": key}
        )
        if response is not None:
            write.outcome = outcome_of(response)
        return None

    async def edit(self) -> None:
        own = self.pools.editable[self.index]
        member = own[self.rng.randrange(len(own))]
        got = await self.request("edit", "GET", f"{API}/members/{member}")
        if got is None or got.status_code != 200:
            return
        self.edit_seq += 1
        bio = f"{EDIT_PREFIX}{self.index}-{self.edit_seq}-{uuid.uuid4().hex[:8]}"
        write = Write("edit", "", member, value=bio)
        self.ledger.writes.append(write)
        headers = {"If-Match": got.headers["ETag"]}
        response = await self._until_answered(
            write, "edit", "PATCH", f"{API}/members/{member}", {"profile": {"bio": bio}}, headers
        )
        if response is None:
            return
        if response.is_success:
            write.outcome = "acked"
        elif response.status_code == 412 and write.attempts > 1:
            # A retry after an unanswered attempt: that attempt may have committed. Look.
            # Not seen (a replica may lag): it stays unknown, and the checks allow either.
            again = await self.request("edit", "GET", f"{API}/members/{member}")
            if again is not None and again.status_code == 200 and (again.json().get("profile") or {}).get("bio") == bio:
                write.outcome = "acked"
        else:
            write.outcome = f"refused {response.status_code}"

    async def photo(self) -> None:
        """Start an upload (POST with Idempotency-Key) and send the file to S3 with its form (S3, not the app)."""
        member = self.rng.choice(self.pools.readable)
        key = str(uuid.uuid4())
        write = Write("photo", key, member, value=key)
        self.ledger.writes.append(write)
        started = await self._until_answered(
            write,
            "photo",
            "POST",
            f"{API}/members/{member}/photos",
            {"content_type": PHOTO_TYPE},
            {"Idempotency-Key": key},
        )
        if started is None:
            return
        if started.status_code != 201:
            write.outcome = outcome_of(started)
            return
        write.outcome, form = "acked", started.json()
        write.value = str(form["id"])
        upload = form["upload"]
        deadline = time.monotonic() + RETRY_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            try:
                sent = await self.s3.post(
                    upload["url"], data=upload["fields"], files={"file": ("photo.jpg", self.pools.photo, PHOTO_TYPE)}
                )
                if sent.status_code in (200, 201, 204):
                    self.pools.uploaded.append(write.value)
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1.0)

    async def complete(self) -> None:
        """Complete an uploaded photo (the app copies and checks it in S3); then delete every other one."""
        if not self.pools.uploaded:
            return await self.detail()
        photo = self.pools.uploaded.pop(0)
        key = str(uuid.uuid4())
        write = Write("complete", key, photo, value=photo)
        self.ledger.writes.append(write)
        response = await self._until_answered(
            write, "complete", "POST", f"{API}/photos/{photo}/complete", None, {"Idempotency-Key": key}
        )
        if response is None:
            return None
        write.outcome = outcome_of(response)
        if response.is_success and self.rng.random() < 0.5:
            await self.delete_photo(photo)
        return None

    async def delete_photo(self, photo: str) -> None:
        """DELETE until answered: a 404 after an unanswered attempt means that attempt deleted it."""
        write = Write("delete", "", photo, value=photo)
        self.ledger.writes.append(write)
        response = await self._until_answered(write, "delete", "DELETE", f"{API}/photos/{photo}", None, {})
        if response is None:
            return
        if response.is_success or (response.status_code == 404 and write.attempts > 1):
            write.outcome = "acked"
        else:
            write.outcome = f"refused {response.status_code}"


def outcome_of(response: httpx.Response) -> str:
    """acked for a 2xx; answer lost for the 409 that says an earlier attempt was carried out; else refused."""
    if response.is_success:
        return "acked"
    problem = response.headers.get("content-type", "").startswith("application/problem")
    if response.status_code == 409 and problem and response.json().get("problem") == "answer_lost":
        return "answer lost"
    return f"refused {response.status_code}"


async def drive(
    base_url: str,
    headers: dict[str, str],
    ledger: Ledger,
    pools: Pools,
    clients: int,
    readers: int,
    stop: asyncio.Event,
) -> None:
    """`clients` virtual operators reading and writing, and `readers` that only read (a dashboard, a report), until
    `stop` is set; each finishes the write it is in. The readers keep reading while every writer waits on a write."""
    crew = [Client(i, base_url, headers, ledger, pools) for i in range(clients + readers)]
    try:
        await asyncio.gather(*(client.run(stop, reads_only=client.index >= clients) for client in crew))
    finally:
        for client in crew:
            await client.close()
