"""`make bench`: the app against a raw asyncpg + orjson baseline at 1M members (issue 6).

Run with `python -m bench` (what `make bench` does); `bench/run.py` describes the run and its settings.
"""
