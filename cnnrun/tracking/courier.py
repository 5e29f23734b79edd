"""Tracking calls carried off the training thread: a bounded queue and one daemon thread, so a
tracking server that hangs, fails or dies never holds up an epoch, a signal or the exit.

A failed call is warned about once and tracking stops (later calls are dropped, except the
one that ends the run on the server, which is always tried). A queue that fills (a server
too slow for the epochs) stops tracking the same way. When the run ends, what is queued
gets a bounded time to go out: `close` gives up once no call has finished for `stall_s`
seconds, and says how many were dropped.

Example:
    >>> courier = Courier(warn=print)
    >>> courier.send("log", lambda: None)
    >>> courier.close(stall_s=1.0) is None
    True
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LIMIT = 1000  # calls waiting at most: far more than one run's epochs and files
# how long the queued calls may go without an answer once the run has ended: long enough
# for a healthy server's upload to keep going, short enough that a dead one costs little
STALL_S = 10.0
STALL_INTERRUPTED_S = 2.0  # after Ctrl-C or SIGTERM, which must end the process promptly


@dataclass(eq=False)
class Courier:
    """One run's tracking calls, made in order on a daemon thread."""

    warn: Callable[[str], None]
    hide: Callable[[str], str] = str  # masks secrets in an error's text before it is shown
    limit: int = LIMIT
    error: str | None = None
    _calls: queue.Queue = field(init=False, repr=False)
    _thread: threading.Thread = field(init=False, repr=False)
    _last: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._calls = queue.Queue(maxsize=self.limit)
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="cnnrun-tracking", daemon=True)
        self._thread.start()

    def send(self, what: str, call: Callable[[], Any], always: bool = False) -> None:
        """Queue `call`; never waits. `always`: tried even after tracking failed."""
        if self.error is not None and not always:
            return
        try:
            self._calls.put_nowait((what, call, always))
        except queue.Full:
            self.fail("queue", f"more than {self.limit} calls waiting: the server does not keep up")

    def fail(self, what: str, reason: str) -> None:
        if self.error is None:  # warned about once
            self.error = self.hide(f"{what}: {reason}")
            self.warn(f"MLflow tracking stopped ({self.error}); training goes on")

    def _loop(self) -> None:
        while (item := self._calls.get()) is not None:
            what, call, always = item
            if self.error is None or always:
                try:
                    call()
                except Exception as e:  # a tracker never stops training
                    first = str(e).splitlines()[0] if str(e) else ""
                    self.fail(what, f"{type(e).__name__}: {first}")
            self._last = time.monotonic()

    def close(self, stall_s: float) -> str | None:
        """Let the queued calls go out while they make progress; None when all did, else a
        note of how many were dropped after `stall_s` seconds without an answer."""
        self._last = time.monotonic()
        try:
            self._calls.put_nowait(None)
            ended = 1
        except queue.Full:  # the thread is stuck on a call: nothing more goes out
            ended = 0
        while self._thread.is_alive():
            if time.monotonic() - self._last > stall_s:
                dropped = self._calls.qsize() - ended + 1  # waiting, and the one in flight
                note = f"{dropped} tracking call(s) dropped: no answer in {stall_s:g} s"
                self.fail("end", note)
                return note
            self._thread.join(0.05)
        return None
