"""The console's first load stays small: every page is a chunk of its own (issue 14: at most 350 kB gzipped)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

INITIAL_JS_LIMIT = 350_000


def test_the_initial_javascript_is_at_most_350_kb_gzipped(project_root: Path) -> None:
    dist = project_root / "console" / "dist"
    if not (dist / "index.html").is_file():
        pytest.fail("the console is not built: `make test` builds it (or `make console`)")
    index = (dist / "index.html").read_text()
    # What the page loads before any route: its entry script(s) and the chunks it preloads.
    initial = re.findall(r'<script[^>]+src="/console/([^"]+\.js)"', index)
    initial += re.findall(r'<link[^>]+rel="modulepreload"[^>]+href="/console/([^"]+\.js)"', index)
    assert initial
    size = sum(len(gzip.compress((dist / name).read_bytes(), compresslevel=9)) for name in initial)
    assert size <= INITIAL_JS_LIMIT, f"{size:,} bytes gzipped in {initial}"
    pages = list((dist / "assets").glob("*.js"))
    assert len(pages) > 10  # the pages were split off
