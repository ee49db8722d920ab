"""newsseg annotate in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
the command serves the page, the keyboard relabels a run of lines, Enter saves the TSV.

Skipped, saying why, without /usr/bin/chromium (or $NEWSSEG_CHROMIUM) or the playwright
package; CI sets NEWSSEG_REQUIRE_BROWSER=1 so that there a missing browser fails instead."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsseg.annotate.server import AnnotationServer
from newsseg.annotate.session import open_session
from tests.conftest import TINY_PARAMS, labeled_lines

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("NEWSSEG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "<b id=injected>bold?</b> Readers' letters <script>document.title='owned'</script>"
WAIT_MS = 60_000


def _missing(reason: str) -> None:
    if os.environ.get("NEWSSEG_REQUIRE_BROWSER") == "1":
        pytest.fail(f"NEWSSEG_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium_context(tmp_path_factory):
    """A fresh headless Chromium profile, closed after the module."""
    if not CHROMIUM.is_file():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set NEWSSEG_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context.set_default_timeout(WAIT_MS)
        yield context
        context.close()


def write_dump(folder: Path) -> tuple[Path, list[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [text for _, text in labeled_lines(2, 0)] + [HOSTILE]
    path = folder / "river-page.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_file(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.1)
    return path.read_text(encoding="utf-8")


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def rendered_labels(page) -> list[str]:
    return page.locator("#paragraphs .paragraph .label").all_text_contents()


def test_the_command_serves_the_page_and_the_keyboard_saves_a_relabeled_run(
    chromium_context, tmp_path, tiny_model_path
):
    _, lines = write_dump(tmp_path / "dumps")
    out = tmp_path / "out"
    port = free_port()
    command = [sys.executable, "-m", "newsseg", "annotate", str(tmp_path / "dumps"), "-o", str(out)]
    command += ["-m", str(tiny_model_path), "--port", str(port), "--no-browser"]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in server.stderr:  # "open http://127.0.0.1:PORT/?token=...  (Ctrl-C stops)"
            found = re.search(r"open (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url is not None and url.startswith(f"http://127.0.0.1:{port}/?token="), url

        page = chromium_context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        # The dump's paragraphs, as text: the hostile line is shown, not run.
        assert page.locator("#paragraphs .paragraph .text").all_text_contents() == lines
        assert page.locator("#injected").count() == 0 and page.title() == "newsseg annotate"
        proposed = rendered_labels(page)
        assert len(proposed) == len(lines)
        assert set(proposed) <= {"headline", "body", "legal", "teaser"}

        # Lines 2-4 (0-based 1-3): move down once, select two more with shift, label them
        # legal (3), undo (which selects the run again), label it teaser (4), save (Enter).
        page.keyboard.press("j")
        page.keyboard.press("Shift+ArrowDown")
        page.keyboard.press("Shift+j")
        page.keyboard.press("3")
        assert rendered_labels(page)[1:4] == ["legal"] * 3
        page.keyboard.press("u")
        assert rendered_labels(page) == proposed
        page.keyboard.press("4")
        expected = proposed[:1] + ["teaser"] * 3 + proposed[4:]
        assert rendered_labels(page) == expected
        page.keyboard.press("Enter")

        saved = wait_for_file(out / "river-page.tsv")
        assert saved == "".join(
            f"{label}\t{text}\n" for label, text in zip(expected, lines, strict=True)
        )
        expect(page.locator("#progress")).to_contain_text("saved 1 of 1")
        assert page.locator("#documents li.saved").count() == 1
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()


def test_retraining_on_demand_is_shown_and_relabels(
    chromium_context, tmp_path, tiny_model_path, tiny_corpus
):
    dumps = tmp_path / "dumps"
    write_dump(dumps)
    second = [text for _, text in labeled_lines(4, 1)]
    (dumps / "valley-page.txt").write_text("\n".join(second) + "\n", encoding="utf-8")
    session = open_session(
        [dumps],
        tmp_path / "out",
        tiny_model_path,
        base=[tiny_corpus],
        order="input",
        retrain_every=0,
        params=TINY_PARAMS,
    )
    server = AnnotationServer(session).start()
    try:
        page = chromium_context.new_page()
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=true]")
        assert "model #0" in page.locator("#document-info").text_content()
        page.keyboard.press("Enter")  # save the first page as proposed, open the second
        wait_for_file(tmp_path / "out" / "river-page.tsv")
        page.keyboard.press("r")
        # (Playwright's wait_for_function evaluates a string: the page's CSP forbids it.)
        expect(page.locator("#document-info")).to_contain_text("model #1", timeout=WAIT_MS * 4)
        assert session.documents[1].model == 1
        info = page.locator("#document-info").text_content()
        assert "trained on 1 saved + 12 base documents" in info
        page.close()
    finally:
        server.stop()
