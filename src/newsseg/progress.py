"""Progress reporting without printing: long-running functions take a ``track`` callable.

A :data:`Track` wraps an iterable of work items and yields them unchanged, telling whoever
listens how far the work has come, like ``rich.progress.track``. Library functions accept one
(default :func:`silent`) and never print; the command line passes :func:`progress_bars`, which
draws rich progress bars on standard error when it is a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Protocol, TypeVar

Item = TypeVar("Item")


class Track(Protocol):
    """Yield ``items`` unchanged while reporting progress under ``description``. ``items``
    may be a generator that does the work as it is drawn from, or has no end (a running
    count, with no ``total``): yield each item as it comes, never gather them first."""

    def __call__(
        self, items: Iterable[Item], description: str, total: int | None = None
    ) -> Iterator[Item]: ...


def silent(items: Iterable[Item], description: str, total: int | None = None) -> Iterator[Item]:
    """The :data:`Track` that reports nothing."""
    yield from items


def wants_bars(quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Progress bars are drawn unless ``quiet`` or the stream (stderr) is not a terminal."""
    stream = sys.stderr if stream is None else stream
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


@contextmanager
def progress_bars(
    enabled: bool = True, stream: IO[str] | None = None, force_terminal: bool | None = None
) -> Iterator[Track]:
    """A :data:`Track` drawing one rich progress bar per task on ``stream`` (stderr): done
    of the total and the time left (or the count alone, when the total is unknown), and the
    time taken; the bars vanish when done. When ``enabled`` is false it is :func:`silent`."""
    if not enabled:
        yield silent
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class DoneAndLeft(ProgressColumn):
        def render(self, task) -> Text:
            if task.total is None:
                return Text(f"{task.completed:,.0f}")
            left = task.time_remaining
            eta = "" if left is None else f", {_duration(left)} left"
            return Text(f"{task.completed:,.0f}/{task.total:,.0f}{eta}")

    console = Console(file=stream or sys.stderr, force_terminal=force_terminal)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DoneAndLeft(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bars:

        def track(
            items: Iterable[Item], description: str, total: int | None = None
        ) -> Iterator[Item]:
            yield from bars.track(items, total=total, description=description)

        yield track


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
