"""Progress plumbing: silent by default, rich bars only on a terminal and never when quiet."""

from __future__ import annotations

import io

from newsseg.progress import progress_bars, silent, wants_bars


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_yields_the_items_unchanged():
    assert list(silent(iter([1, 2, 3]), "counting")) == [1, 2, 3]


def test_bars_only_on_a_terminal_and_not_when_quiet():
    assert wants_bars(stream=FakeTerminal())
    assert not wants_bars(quiet=True, stream=FakeTerminal())
    assert not wants_bars(stream=io.StringIO())


def test_disabled_bars_are_silent():
    with progress_bars(enabled=False) as track:
        assert track is silent


def test_rich_bars_draw_on_the_stream_and_yield_every_item():
    stream = FakeTerminal()
    with progress_bars(stream=stream, force_terminal=True) as track:
        assert list(track(range(5), "labeling", total=5)) == [0, 1, 2, 3, 4]
    assert "labeling" in stream.getvalue()
