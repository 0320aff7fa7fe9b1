"""The shape of every background job: one asyncio task for the app's life, started once, cancelled on stop."""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

logger = logging.getLogger(__name__)


class BackgroundTask:
    """A loop (`run`) run as one named task: `start()` starts it once, `stop()` cancels it and waits for it.

    A loop never ends by itself: it catches its own failures, logs them and carries on, so that an outage of
    the database or S3 pauses the work instead of ending it.
    """

    name: ClassVar[str]
    STOP_RECANCEL_SECONDS: ClassVar[float] = 1.0

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop (once: a second call does nothing)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended; cancelled again every STOP_RECANCEL_SECONDS while it runs, so
        that a cancellation swallowed on its way (Python 3.11's `asyncio.wait_for` can) cannot keep it alive, and an
        app's shutdown waiting for it, for ever."""
        task, self._task = self._task, None
        if task is not None:
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=self.STOP_RECANCEL_SECONDS)
            if not task.cancelled() and task.exception() is not None:
                logger.error("%s had stopped on an error", self.name, exc_info=task.exception())

    async def run(self) -> None:
        """The loop."""
        raise NotImplementedError
