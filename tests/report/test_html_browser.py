"""The HTML report in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Two pages: the example run with hostile text planted in its answers and golden text, every section
filled by the real stats functions; and the demo-shaped synthetic report (96 cases x 6 systems).  Each
loads from a file:// URL with no console error, no page error, no dialog and no request but its own file.
On the planted page a filter changes the visible cases, a case opens to every system's answer, a long
answer is truncated with the rest one click away, a decision link opens the number it cites, and the
planted scripts stay inert (``window.pwned`` stays undefined).

``RAGFT_SCREENSHOT=docs/report.png`` writes a screenshot of the demo-shaped report there (else into
the test's temporary folder).  ``-s`` prints each report's size and load time.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from ragft_eval.report import write_html
from ragft_eval.report.html import TEXT_LIMIT

from .conftest import LONG_ANSWER, LONG_CASE, SCRIPT, example_inputs

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (the test extra)")
if not CHROMIUM.exists() or not shutil.which(str(CHROMIUM)):
    pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

VISIBLE_ROWS = "#case-table tbody tr.case:not([hidden])"


class Watched:
    """A page with everything it logs, requests and opens recorded."""

    def __init__(self, page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def load(self, path: Path) -> float:
        start = time.perf_counter()
        self.page.goto(path.as_uri(), wait_until="load")
        return time.perf_counter() - start

    def assert_clean(self, path: Path) -> None:
        assert self.requests == [path.as_uri()], self.requests
        assert not self.errors, self.errors
        assert not self.dialogs, self.dialogs
        assert self.page.evaluate("typeof window.pwned") == "undefined"


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _visible(page) -> int:
    return page.locator(VISIBLE_ROWS).count()


def test_the_planted_report_loads_clean_filters_opens_cases_and_runs_nothing_planted(browser, planted, tmp_path):
    path = write_html(planted.summary, tmp_path, **example_inputs(planted))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    w = Watched(page)
    seconds = w.load(path)
    print(f"\nplanted example report: {path.stat().st_size / 1e3:.0f} kB, loaded in {seconds:.2f} s")

    total = _visible(page)
    assert total == 12
    assert page.locator("#f-count").inner_text() == "12 of 12 cases"
    # a filter changes the visible cases; the metric range narrows them; reset brings them back
    page.select_option("#f-task", "factual_static")
    assert 0 < _visible(page) < total
    assert page.locator("#f-count").inner_text() == f"{_visible(page)} of 12 cases"
    page.click("#f-reset")
    page.select_option("#f-metric", label="token_f1")
    page.fill("#f-min", "0.5")
    narrowed = _visible(page)
    assert 0 < narrowed < total
    page.select_option("#f-system", "baseline")
    page.select_option("#f-status", "failed")
    assert _visible(page) <= 1
    page.click("#f-reset")
    assert _visible(page) == total

    # a case opens: the question, the golden answer and both systems' answers, side by side
    row = page.locator(f'tr.case[data-case="{LONG_CASE}"]')
    row.click()
    detail = page.locator("tr.detail")
    assert detail.count() == 1 and detail.is_visible()
    cards = detail.locator(".card")
    assert cards.count() == 2
    answer = detail.locator('.card[data-system="candidate"] .answer')
    shown = answer.evaluate("e => e.textContent")
    assert shown == LONG_ANSWER[:TEXT_LIMIT] + "…"  # truncated at the limit, the rest one click away
    detail.locator('.card[data-system="candidate"] button.more').click()
    assert answer.evaluate("e => e.textContent") == LONG_ANSWER + SCRIPT  # planted script included, as text
    n_metrics = next(len(cr.results) for cr in planted.summary.results
                     if cr.system == "candidate" and cr.case_id == LONG_CASE)  # fmt: skip
    assert detail.locator('.card[data-system="candidate"] .mres tr').count() == n_metrics  # each with its status
    row.click()
    assert page.locator("tr.detail").count() == 0

    # every planted text is in the page as the same text, character for character
    for case_id, text in planted.answers.items():
        if case_id == LONG_CASE:
            continue
        row = page.locator(f'tr.case[data-case="{case_id}"]')
        row.click()
        got = page.locator('tr.detail .card[data-system="candidate"] .answer').evaluate("e => e.textContent")
        assert got == text
        row.click()

    # a decision link goes to the comparison it cites, opening its closed group on the way
    page.evaluate("document.querySelectorAll('#comparisons details').forEach(d => { d.open = false; })")
    link = page.locator('#decision ol.because a.ref[href^="#cmp:"]').first
    target = link.get_attribute("href")[1:]
    link.click()
    page.wait_for_function("id => document.getElementById(id).classList.contains('target')", arg=target)
    assert page.locator(f'[id="{target}"]').is_visible()

    assert page.locator("img, textarea, iframe").count() == 0  # nothing planted became an element
    w.assert_clean(path)
    page.close()


def test_the_demo_shaped_report_loads_clean_and_fast(browser, demo_report, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(demo_report.html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    w = Watched(page)
    seconds = w.load(path)
    size = path.stat().st_size
    print(f"\ndemo-shaped report: {size / 1e6:.2f} MB, loaded in {seconds:.2f} s (file:// to the load event)")
    assert _visible(page) == 96
    page.select_option("#f-tag", index=1)
    assert 0 < _visible(page) < 96
    page.click("#f-reset")
    page.evaluate("window.scrollTo(0, 0)")  # the decision and the headline: what a reader sees first
    shot = Path(os.environ.get("RAGFT_SCREENSHOT") or tmp_path / "report.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    w.assert_clean(path)
    assert seconds < 10
    page.close()
