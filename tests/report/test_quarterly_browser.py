"""The quarterly report of a quarter of history (tests/stats/quarter.py) in headless Chromium: it loads from
a file:// URL with no console error, no page error and no request but its own file; its change-point
markers link to the diffs.

``RAGFT_SCREENSHOT=docs/quarterly-report.png`` writes the screenshot there (else into the test's folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from ragft_eval.report.quarterly_html import write_quarterly
from ragft_eval.stats.trends import build_trends
from ragft_eval.store import open_store

from ..stats.quarter import build_quarter
from .test_html_browser import ARGS, CHROMIUM, Watched, playwright


def test_the_quarterly_report_loads_clean_in_chromium_and_its_markers_link_to_the_diffs(tmp_path):
    quarter = build_quarter(tmp_path / "quarter")
    with open_store(quarter.store) as db:
        trends = build_trends(db, since="2026-07-01")
    path = write_quarterly(trends, tmp_path / "out")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            w = Watched(page)
            seconds = w.load(path)
            print(f"\nquarterly report: {path.stat().st_size / 1e3:.0f} kB, loaded in {seconds:.2f} s")
            w.assert_clean(path)
            assert page.locator("svg.chart").count() == len(trends.series) + 1  # the series and latency/cost
            assert page.locator("article[id^=change-]").count() == 4
            assert page.locator("#summary .unexplained").count() == 1
            page.click('#summary a[href="#change-3"]')
            assert page.evaluate("location.hash") == "#change-3"
            assert "model" in page.locator("#change-3 h3").inner_text()
            page.evaluate("window.scrollTo(0, 0)")
            shot = Path(os.environ.get("RAGFT_SCREENSHOT") or tmp_path / "quarterly-report.png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 1280, "height": 1400})
            assert set(w.requests) == {path.as_uri()} and not w.errors  # following an anchor loads nothing
        finally:
            browser.close()
