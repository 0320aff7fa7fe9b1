"""The progress helper: plain lines in a log, a redrawn bar on a terminal."""

from __future__ import annotations

import io

import pytest

from backend.infrastructure.progress import Progress, duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestPlainLines:
    def test_a_line_every_interval_with_rate_and_time_left_then_a_last_line(self) -> None:
        out, clock = io.StringIO(), Clock()
        with Progress("Seeding", 1_000_000, unit="members", stream=out, every=10.0, clock=clock) as progress:
            for _ in range(100):
                clock.now += 1.0
                progress.advance(5_000)
        lines = out.getvalue().splitlines()
        assert lines[0] == "Seeding: 50,000/1,000,000 members (5%), 5,000 members/s, 3:10 left"
        assert lines[1] == "Seeding: 100,000/1,000,000 members (10%), 5,000 members/s, 3:00 left"
        assert len(lines) == 11  # one per 10 s of 100 s, and the last
        assert lines[-1] == "Seeding: 500,000/1,000,000 members in 1:40, 5,000 members/s"
        assert "\r" not in out.getvalue()

    def test_nothing_before_the_first_interval_but_the_last_line(self) -> None:
        out, clock = io.StringIO(), Clock()
        with Progress("Housekeeping", 3, unit="chores", stream=out, clock=clock) as progress:
            clock.now += 2.0
            progress.advance(3)
        assert out.getvalue() == "Housekeeping: 3/3 chores in 2 s, 1.5 chores/s\n"

    def test_an_unknown_total_gives_the_count_and_rate_without_time_left(self) -> None:
        out, clock = io.StringIO(), Clock()
        progress = Progress("Copying", stream=out, every=5.0, clock=clock)
        clock.now += 5.0
        progress.update(500)
        progress.close()
        assert out.getvalue().splitlines() == ["Copying: 500, 100/s", "Copying: 500 in 5 s, 100/s"]

    def test_a_failure_says_where_it_stopped(self) -> None:
        out, clock = io.StringIO(), Clock()
        progress = Progress("Seeding", 10, stream=out, clock=clock)
        progress.advance(4)
        clock.now += 3.0
        with pytest.raises(RuntimeError), progress:
            raise RuntimeError("boom")
        assert out.getvalue() == "Seeding: stopped at 4/10 after 3 s\n"

    def test_notes_are_lines_of_their_own(self) -> None:
        out = io.StringIO()
        with Progress("Seeding", 10, stream=out, clock=Clock()) as progress:
            progress.note("rebuilding the counters")
        assert out.getvalue().splitlines()[0] == "Seeding: rebuilding the counters"


class TestBar:
    def test_a_terminal_gets_a_redrawn_bar_and_a_last_line(self) -> None:
        out, clock = io.StringIO(), Clock()
        with Progress("Seeding", 100, stream=out, bar=True, clock=clock) as progress:
            clock.now += 1.0
            progress.advance(50)
        text = out.getvalue()
        assert text.count("\r") >= 2
        assert "#" in text
        assert "Seeding: 50/100 (50%), 50/s, 1 s left" in text
        assert text.endswith("Seeding: 50/100 in 1 s, 50/s\n")

    def test_the_bar_follows_isatty(self) -> None:
        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        out = Terminal()
        Progress("Seeding", 10, stream=out).close()
        assert out.getvalue().startswith("\r")


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0 s"), (59, "59 s"), (185, "3:05"), (3723, "1:02:03")])
def test_durations_read_as_a_person_would(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_echoed_lines_go_above_the_bar_which_is_drawn_again() -> None:
    out = io.StringIO()
    progress = Progress("Bench", 3, stream=out, bar=True, clock=Clock())
    progress.echo("app list 1,000 req/s")
    assert "\r\x1b[2Kapp list 1,000 req/s\n\r\x1b[2K[" in out.getvalue()


def test_a_stage_is_shown_on_the_same_stream_the_same_way() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress("Seeding", 10, stream=out, clock=clock) as progress, progress.stage("Indexes", 4) as stage:
        clock.now += 1.0
        stage.advance(4)
    assert out.getvalue().splitlines()[0] == "Indexes: 4/4 in 1 s, 4.0/s"
