"""The HTML decision report and the exports, checked on the page's text (the browser test runs it).

- A report builds from a RunSummary alone; every absent input's section says "not computed".
- With every stats input, each section is there and every reference of the decision has its anchor.
- Hostile text (answers, golden text, doc ids, the suite's description, a system's name, a stats record's
  text) never reaches the markup unescaped, and the JSON block holds no ``<``, ``>`` or ``&`` at all.
- The page names nothing outside itself, its ids are unique, its charts are small text-only SVG.
- The size budget: a demo-shaped run (96 cases x 6 systems x 21 metrics) renders under 5 MB.
- The exports read back with the columns and rows the docstring promises.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from html.parser import HTMLParser
from types import SimpleNamespace

import pandas as pd
import pytest

from ragft_eval.gates import GateResult
from ragft_eval.report import render_html, write_exports, write_html
from ragft_eval.report.html import REPORT_FILE, TEXT_LIMIT, json_for_script

from .conftest import IMG, PLANTED, SCRIPT, TEXTAREA, example_inputs
from .synthetic import demo_shaped, stats_inputs

BUDGET = 5_000_000
JSON_BLOCK = re.compile(r'<script type="application/json" id="cases">(.*?)</script>', re.S)


def _split(page: str) -> tuple[str, str]:
    """(the page without the JSON block, the block's raw text)."""
    found = JSON_BLOCK.search(page)
    assert found, "no case data block"
    return page[: found.start()] + page[found.end() :], found.group(1)


class _Elements(HTMLParser):
    """Every start tag with its attributes, as an HTML parser (and a browser) reads the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _elements(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser.tags


def _ids(page: str) -> list[str]:
    return re.findall(r'\sid="([^"]*)"', page)


def test_a_summary_alone_renders_and_says_what_was_not_computed(planted):
    page = render_html(planted.summary)
    for what in (
        "the decision",
        "paired comparisons",
        "latency percentiles",
        "cost per query",
        "failure attribution",
        "gates",
        "significance letters",
        "golden-set text",
    ):
        assert f"Not computed: {what}" in page, what
    for section in (
        "decision",
        "headline",
        "overall",
        "slices",
        "comparisons",
        "latency",
        "cost",
        "attribution",
        "judge",
        "gates",
        "cases-browser",
        "manifest",
    ):
        assert f'<section id="{section}">' in page, section
    # the cells carry the ids the decision module cites, in its slice names
    assert 'id="cell:baseline/(all)/token_f1"' in page
    assert 'id="cell:candidate/task_type=factual_changed/token_f1"' in page


def test_every_section_renders_from_the_stats_records_and_every_reference_has_its_anchor(planted):
    inputs = example_inputs(planted)
    page = render_html(planted.summary, **inputs)
    assert "Not computed" not in page.replace("Not computed: golden", "")
    ids = set(_ids(page))
    cited = [r for s in inputs["decision"].sentences for r in s.refs] + [c.ref for c in inputs["decision"].checks]
    assert any(r.startswith("cmp:") for r in cited) and any(r.startswith("cost:") for r in cited)
    for ref in cited:
        assert ref in ids, ref
    assert 'class="ref missing"' not in page  # nothing the decision cites is absent
    for system in ("baseline", "candidate"):
        assert f"latency:{system}" in ids and f"cost:{system}" in ids and f"attr:{system}" in ids
    # ranx-style letters: a = first column; a superscript names the systems a cell beats
    assert "<b>a</b> baseline, <b>b</b> candidate" in page
    beats = [k for k, v in inputs["letters"].items() if v]
    assert beats and '<sup class="sig"' in page
    assert "⚠ The significance letters disagree" not in page
    assert "McNemar" in page and "Holm" in page
    assert "detectable Δ" in page  # the power per slice


def test_letters_made_with_another_system_order_are_flagged(planted):
    inputs = example_inputs(planted)
    reversed_letters = {k: v.translate(str.maketrans("ab", "ba")) for k, v in inputs["letters"].items()}
    page = render_html(planted.summary, comparisons=inputs["comparisons"], letters=reversed_letters)
    assert "⚠ The significance letters disagree" in page


def test_planted_text_never_reaches_the_markup_and_the_json_block_holds_no_markup_characters(planted):
    inputs = example_inputs(planted)
    hostile_decision = SimpleNamespace(
        choice=IMG,
        lead="none",
        primary_metric=SCRIPT,
        primary_slice="(all)",
        sentences=[SimpleNamespace(text=f"because {SCRIPT}", refs=[IMG, f"cell:{IMG}"])],
        checks=[
            SimpleNamespace(
                system=IMG,
                constraint=TEXTAREA,
                value=None,
                kind="min",
                metric=IMG,
                status="not_measured",
                reason=SCRIPT,
                ref=IMG,
            )
        ],
    )
    hostile_cmp = SimpleNamespace(
        **{
            **vars(SimpleNamespace(**inputs["comparisons"][0].as_dict())),
            "reason": IMG,
            "metric": SCRIPT,
            "p_value": None,
        }
    )
    page = render_html(
        planted.summary,
        **{
            **inputs,
            "decision": hostile_decision,
            "comparisons": [*inputs["comparisons"], hostile_cmp],
            "gates": [GateResult("max_error_rate", False, f"failed {IMG}", (SCRIPT,))],
        },
    )
    markup, block = _split(page)
    for text in PLANTED:
        assert text not in markup, text
    # parsed as a browser parses it, the only elements are ours: two scripts, no img, no handler attribute
    elements = _elements(page)
    assert [a.get("type") for t, a in elements if t == "script"] == ["application/json", None]
    assert not [t for t, _ in elements if t in ("img", "textarea", "iframe", "object", "embed")]
    assert not [(t, k) for t, a in elements for k in a if k.startswith("on")], "an event-handler attribute"
    assert page.count("</script>") == 2
    # the description and the hostile records are in the markup, escaped
    assert "desc &lt;script&gt;window.pwned=1&lt;/script&gt; &quot;&gt;&lt;img" in markup
    # the JSON block: nothing that can end or change the element, and every text comes back exactly
    for ch in ("<", ">", "&", "\u2028", "\u2029"):
        assert ch not in block, repr(ch)
    assert "\\u003cscript\\u003ewindow.pwned=1\\u003c/script\\u003e" in block
    data = json.loads(block)
    answers = {c["id"]: c["r"]["candidate"]["a"] for c in data["cases"]}
    for case_id, answer in planted.answers.items():
        assert answers[case_id] == answer
    first = data["cases"][[c["id"] for c in data["cases"]].index("ex-fs-01")]
    assert IMG in [d[0] for d in first["r"]["candidate"]["ret"]]
    golden = [c for c in data["cases"] if c["g"] and c["g"]["answer"] == f"golden {IMG}"]
    assert golden and TEXTAREA in golden[0]["q"]


def test_a_hostile_system_name_is_escaped_everywhere_even_in_the_charts():
    name = '"><img src=x onerror=alert(1)> <b>'
    summary, cases = demo_shaped(n_cases=12, systems=("rag-bm25", name))
    page = render_html(summary, **stats_inputs(summary, cases, resamples=50))
    markup, block = _split(page)
    assert name not in markup
    assert not [t for t, _ in _elements(page) if t == "img"]
    assert not [(t, k) for t, a in _elements(page) for k in a if k.startswith("on")]
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in markup
    assert html.escape(name) in markup
    assert name in json.loads(block)["systems"]


def test_json_for_script_escapes_what_could_end_the_element_and_round_trips():
    value = {"a": "</script><!-- & \u2028\u2029 >", "b": [1, None, 2.5]}
    text = json_for_script(value)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == value


def test_the_page_is_self_contained_with_unique_ids_and_small_text_only_charts(demo_report):
    page = demo_report.html
    markup, _ = _split(page)
    # nothing to fetch: no external reference of any kind (SVG namespace names are not requests)
    without_ns = re.sub(r'xmlns(:\w+)?="[^"]*"', "", markup)
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", without_ns.replace("http-equiv", "")), "external URL"
    assert not re.search(r"<(link|img|iframe|object|embed|base)\b", markup)
    assert "@import" not in page and "@font-face" not in page and "url(http" not in page
    csp = [a["content"] for t, a in _elements(page) if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src 'sha256-" in csp[0]
    duplicates = [i for i, n in Counter(_ids(page)).items() if n > 1]
    assert not duplicates, duplicates[:5]
    svgs = re.findall(r"<svg.*?</svg>", markup, re.S)
    assert len(svgs) == 3  # headline metrics, latency, quality vs cost
    for svg in svgs:
        assert len(svg) < 150_000
        assert "<text" in svg and "<image" not in svg and "font-face" not in svg
        assert "<metadata" not in svg and "<!DOCTYPE" not in svg
    assert "Pareto front" in markup


def test_the_demo_shaped_report_stays_under_the_size_budget(demo_report):
    size = len(demo_report.html.encode("utf-8"))
    _, block = _split(demo_report.html)
    data = json.loads(block)
    print(
        f"\ndemo-shaped report (96 cases x 6 systems x 21 metrics, every section): {size / 1e6:.2f} MB "
        f"(case data {len(block.encode()) / 1e6:.2f} MB), rendered in {demo_report.seconds:.2f} s"
    )
    assert size < BUDGET
    assert len(data["cases"]) == 96 and len(data["systems"]) == 6 and len(data["metrics"]) == 21
    assert data["limit"] == TEXT_LIMIT
    # texts over the limit are kept whole in the data: the page shows the rest on demand
    long = [r["a"] for c in data["cases"] for r in c["r"].values() if r["a"] and len(r["a"]) > TEXT_LIMIT]
    assert long


def test_write_html_writes_report_html(planted, tmp_path):
    path = write_html(planted.summary, tmp_path / "out", gates=planted.gates)
    assert path == tmp_path / "out" / REPORT_FILE
    assert path.read_text(encoding="utf-8") == render_html(planted.summary, gates=planted.gates)


def test_exports_read_back_with_one_row_per_result_cell_and_comparison(planted, tmp_path):
    summary = planted.summary
    comparisons = example_inputs(planted)["comparisons"]
    paths = write_exports(summary, tmp_path, comparisons)
    assert [p.name for p in paths] == ["results.parquet", "table.parquet", "comparisons.csv", "comparisons.parquet"]
    results = pd.read_parquet(tmp_path / "results.parquet")
    assert list(results.columns) == [
        "run_id",
        "system",
        "golden_set",
        "case_id",
        "task_type",
        "tags",
        "metric",
        "status",
        "value",
        "reason",
        "unit",
    ]
    assert len(results) == sum(len(cr.results) for cr in summary.results)
    assert set(results["run_id"]) == {summary.run_id}
    assert results.loc[results["status"] != "scored", "value"].isna().all()
    assert list(results.iloc[0]["tags"]) == list(summary.results[0].tags)
    table = pd.read_parquet(tmp_path / "table.parquet")
    assert len(table) == len(summary.cells)
    assert {"mean", "ci_low", "ci_high", "n_scored", "error_rate"} <= set(table.columns)
    csv = pd.read_csv(tmp_path / "comparisons.csv")
    parquet = pd.read_parquet(tmp_path / "comparisons.parquet")
    assert len(csv) == len(parquet) == len(comparisons)
    for col in (
        "system_a",
        "system_b",
        "metric",
        "slice",
        "n_paired",
        "difference",
        "ci_low",
        "ci_high",
        "test",
        "p_value",
        "p_holm",
        "significant",
    ):
        assert col in csv.columns and col in parquet.columns
    first = comparisons[0]
    assert parquet.iloc[0]["p_holm"] == pytest.approx(first.p_holm)
    assert bool(parquet.iloc[0]["significant"]) == first.significant
    # without comparisons: the two run files only
    assert [p.name for p in write_exports(summary, tmp_path / "bare")] == ["results.parquet", "table.parquet"]
