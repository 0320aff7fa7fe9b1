"""Single-request checks and measurements beside the load: exact totals, exact dashboard, presigned URLs, CSV export."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httpx

from bench.dataset import LIST_FILTER, PLAN_FILTER, QUEUE_FILTER, Samples
from bench.procs import RssSampler

MEMBERS = "/api/v1/admin/members"
DASHBOARD = "/api/v1/admin/dashboard/stats"
PHOTOS = "/api/v1/admin/photos"
EXPORT = "/api/v1/admin/members/export.csv"


@dataclass(frozen=True)
class Check:
    """One yes/no finding with what was seen."""

    ok: bool | None
    detail: str


def check_totals(client: httpx.Client, samples: Samples) -> Check:
    """X-Total-Count against count(*) for the status/gender filter, a plan and a date range."""
    cases = {
        "status+gender": (f"{MEMBERS}?status={LIST_FILTER['status']}&gender={LIST_FILTER['gender']}&limit=1", "list"),
        "plan": (f"{MEMBERS}?plan={PLAN_FILTER}&limit=1", "plan"),
        "date range": (
            f"{MEMBERS}?signed_up_from={samples.day_range.first}&signed_up_to={samples.day_range.last}&limit=1",
            "range",
        ),
    }
    seen = []
    ok = True
    for label, (path, key) in cases.items():
        response = client.get(path)
        total = response.headers.get("x-total-count")
        expected = samples.truth[key]
        exact = response.status_code == 200 and total is not None and total.isdigit() and int(total) == expected
        ok = ok and exact
        seen.append(f"{label} {total if total is not None else response.status_code} vs {expected:,}")
    return Check(ok, "; ".join(seen))


def check_queue_total(client: httpx.Client, samples: Samples) -> Check:
    """The photo queue's X-Total-Count (from its counters) against a count of the rows."""
    response = client.get(f"{PHOTOS}?{QUEUE_FILTER}&limit=1")
    total = response.headers.get("x-total-count")
    expected = samples.truth["photo_queue"]
    exact = response.status_code == 200 and total is not None and total.isdigit() and int(total) == expected
    return Check(exact, f"pending photos {total if total is not None else response.status_code} vs {expected:,}")


def check_dashboard(client: httpx.Client, samples: Samples, recount: Callable[[], dict[str, int]]) -> Check:
    """The seven headline counts against the ground truth drawn from the primary just before and just after.

    The windows roll (the last 30 and 7 days, to the request's time): a sign-up may leave a window between the
    count and the request, so a figure is exact when it lies between the two counts around it."""
    response = client.get(DASHBOARD)
    after = recount()
    if response.status_code != 200:
        return Check(False, f"{response.status_code} {response.text[:200]}")
    data = response.json()
    wrong = []
    for key, before in samples.dashboard_truth.items():
        low, high = sorted((before, after.get(key, before)))
        value = data.get(key)
        if not isinstance(value, int) or not low <= value <= high:
            wrong.append(
                f"{key} {value} vs {before}" + (f" to {after[key]}" if after.get(key, before) != before else "")
            )
    degraded = data.get("degraded") or []
    if wrong:
        return Check(False, "; ".join(wrong))
    suffix = f" (degraded sections: {', '.join(degraded)})" if degraded else ""
    return Check(not degraded, f"all 7 counts exact{suffix}")


def check_presigned(client: httpx.Client, samples: Samples) -> Check:
    """Fetch a detail's first photo and document URLs from the S3 server: 200 and the right kind of bytes."""
    for member_id in samples.member_ids[:200]:
        response = client.get(f"{MEMBERS}/{member_id}")
        if response.status_code != 200:
            return Check(False, f"detail answered {response.status_code}")
        data = response.json()
        photos = data.get("photos") or []
        documents = [d for d in data.get("documents") or [] if d.get("url")]  # identity documents carry none
        if not photos or not documents:
            continue
        with httpx.Client(timeout=10.0) as s3:
            photo = s3.get(photos[0]["url"])
            document = s3.get(documents[0]["url"])
        ok = photo.status_code == 200 and photo.content.startswith(b"\xff\xd8")
        ok = ok and document.status_code == 200 and document.content.startswith(b"%PDF")
        return Check(ok, f"photo URL {photo.status_code} ({len(photo.content)} B), document URL {document.status_code}")
    return Check(None, "no sampled member has both photos and documents")


def presign_cost_us(env: Mapping[str, str], urls: int = 20_000) -> Check:
    """Microseconds per URL of the app's own presigner (backend.infrastructure.storage.Storage.presign_many)."""
    try:
        from backend.infrastructure.settings import Settings
        from backend.infrastructure.storage import Storage

        given = {name: env[name.upper()] for name in Settings.model_fields if name.upper() in env}
        settings = Settings.model_validate(given)
        storage = Storage(cast(Any, None), settings)
        keys = [f"members/{n:08d}/photos/{n}.jpg" for n in range(urls)]

        async def measure() -> float:
            started = time.perf_counter()
            result = storage.presign_many(keys)
            if inspect.isawaitable(result):
                await result
            return time.perf_counter() - started

        seconds = asyncio.run(measure())
    except Exception as exc:
        return Check(None, f"could not measure ({exc!r})")
    per_url = seconds / urls * 1e6
    return Check(per_url < 50, f"{per_url:.1f} us per URL ({urls:,} URLs in {seconds * 1000:.0f} ms)")


@dataclass(frozen=True)
class ExportResult:
    available: bool
    status: int
    rows: int
    megabytes: float
    seconds: float
    peak_rss_mb: float | None
    complete: bool

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def measure_export(
    base_url: str, path: str, headers: Mapping[str, str], timeout: float, rss_pid: int | None
) -> ExportResult:
    """Stream one full CSV export, counting rows; the server's peak RSS is polled meanwhile when `rss_pid` is set."""
    sampler = RssSampler(rss_pid) if rss_pid is not None else None
    newlines = 0
    size = 0
    status = 0
    complete = False
    started = time.perf_counter()
    if sampler is not None:
        sampler.__enter__()
    try:
        with (
            httpx.Client(base_url=base_url, headers=dict(headers), timeout=60.0) as client,
            client.stream("GET", path) as response,
        ):
            status = response.status_code
            if status == 200:
                complete = True
                for chunk in response.iter_raw(1 << 20):
                    newlines += chunk.count(b"\n")
                    size += len(chunk)
                    if time.perf_counter() - started > timeout:
                        complete = False
                        break
    except httpx.HTTPError as exc:
        print(f"export {base_url}{path}: {exc!r}", flush=True)
        complete = False
    finally:
        if sampler is not None:
            sampler.__exit__(None, None, None)
    seconds = time.perf_counter() - started
    return ExportResult(
        # No export route: /members/export.csv falls to /members/{id} (422, not an id) or nowhere (404).
        available=status not in (404, 405, 422),
        status=status,
        rows=max(0, newlines - 1),
        megabytes=size / 1e6,
        seconds=seconds,
        peak_rss_mb=sampler.peak_mb() if sampler is not None else None,
        complete=complete,
    )
