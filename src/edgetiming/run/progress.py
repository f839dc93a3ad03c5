"""The progress display of ``edgetiming run``: which recipe, how far along, time left.

On a terminal one status line is redrawn every second; elsewhere (CI logs) a
line is printed when a recipe starts and ends, and every 30 s in between.
Time left is estimated from each recipe's previous duration in the same mode
(or its ``expected_duration_s``), minus what has elapsed.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from edgetiming.run.executor import Progress, RecipeOutcome

__all__ = ["ConsoleProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75.2`` -> ``"1m15s"``; under a minute -> ``"42s"``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ConsoleProgress(Progress):
    """Writes progress to a stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, *, interval_s: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (1.0 if self.tty else 30.0)
        self.plan: list[tuple[str, float]] = []
        self.index = -1
        self.cell = 0
        self.n_cells = 0
        self.recipe_t0 = 0.0
        self.run_t0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._io = threading.Lock()

    def start(self, plan: list[tuple[str, float]]) -> None:
        self.plan = plan
        self.run_t0 = time.monotonic()
        total = sum(estimate for _, estimate in plan)
        self._print(f"running {len(plan)} recipe(s), one at a time; estimated {format_duration(total)}")
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def time_left_s(self) -> float:
        if self.index < 0:
            return sum(e for _, e in self.plan)
        elapsed = time.monotonic() - self.recipe_t0
        current = max(self.plan[self.index][1] - elapsed, 0.0)
        return current + sum(e for _, e in self.plan[self.index + 1 :])

    def status_line(self) -> str:
        slug = self.plan[self.index][0] if 0 <= self.index < len(self.plan) else "-"
        elapsed = time.monotonic() - self.recipe_t0
        return (
            f"[{self.index + 1}/{len(self.plan)}] {slug}: cell {self.cell}/{self.n_cells}, "
            f"{format_duration(elapsed)} elapsed, about {format_duration(self.time_left_s())} left"
        )

    def recipe_started(self, index: int, slug: str, n_cells: int) -> None:
        with self._lock:
            self.index, self.n_cells, self.cell = index, n_cells, 0
            self.recipe_t0 = time.monotonic()
        if not self.tty:
            self._print(self.status_line())

    def cell_started(self, index: int, cell: int) -> None:
        with self._lock:
            self.cell = cell + 1

    def recipe_finished(self, index: int, outcome: RecipeOutcome) -> None:
        with self._lock:
            self.index = index
            self.recipe_t0 = time.monotonic() - outcome.duration_s
        note = f" - {outcome.detail.splitlines()[0]}" if outcome.failed and outcome.detail else ""
        self._print(
            f"[{index + 1}/{len(self.plan)}] {outcome.recipe}: {outcome.status} "
            f"in {format_duration(outcome.duration_s)}{note}"
        )
        # the plan's estimate for this recipe is now spent
        self.plan[index] = (self.plan[index][0], 0.0)

    def finish(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        self._print(f"done in {format_duration(time.monotonic() - self.run_t0)}")

    def _tick(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.5):
            if self.index < 0 or time.monotonic() - last < self.interval_s:
                continue
            last = time.monotonic()
            with self._lock:
                line = self.status_line()
            if self.tty:
                with self._io:
                    self.stream.write("\r\x1b[2K" + line)
                    self.stream.flush()
            else:
                self._print(line)

    def _print(self, line: str) -> None:
        with self._io:
            if self.tty:
                self.stream.write("\r\x1b[2K")
            self.stream.write(line + "\n")
            self.stream.flush()
