"""The decision report: one self-contained HTML file, ``report.html``, that opens with no network.

Rendered from a run's :class:`~ragft_eval.stats.RunSummary` and what :mod:`ragft_eval.stats` computed
about it (paired comparisons and their letters, power per slice, failure attribution, latency, cost, the
decision).  Every input but the summary is optional: a section whose input is absent says so in one line,
so the page can be built from a summary alone.  Stats records are read by attribute (or key) name, so any
record with the documented fields renders.  Nothing is computed here beyond arranging what stats gives.

What makes it safe to open a report of untrusted model output:

- every piece of golden-set and model text in the markup is HTML-escaped (:func:`html.escape`);
- the per-case data sits in ``<script type="application/json" id="cases">`` with ``<``, ``>``, ``&``,
  U+2028 and U+2029 written as ``\\u003c`` etc., so no text can close the tag; the page's one script reads
  it with ``JSON.parse`` and builds the DOM with ``textContent`` only;
- a Content-Security-Policy allows that one inline script (by its hash), inline styles, and nothing else:
  no request of any kind, no injected script or event handler would run.

Charts are matplotlib SVG inlined in the page (``svg.fonttype: none``: text stays text, no embedded font).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..gates import GateResult
from ..records import Case
from ..stats import OVERALL, Cell, RunSummary
from .files import FLAG_REASON, judge_notes
from .table import fmt_counts, headline_metrics, metrics_of, systems_of, task_types_of

REPORT_FILE = "report.html"
TEXT_LIMIT = 2000  # characters of a case's text shown before "show all" (the full text stays in the JSON)

__all__ = ["REPORT_FILE", "TEXT_LIMIT", "render_html", "write_html"]


# --- small helpers ----------------------------------------------------------------------------------


def _e(x: Any) -> str:
    """HTML-escape anything for text or a quoted attribute."""
    return html.escape("" if x is None else str(x), quote=True)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A stats record's field by name: attribute or mapping key (records are duck-typed)."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _first(obj: Any, *names: str) -> Any:
    """The first of ``names`` the record has (not None): field names differ a little between records."""
    for name in names:
        value = _get(obj, name)
        if value is not None:
            return value
    return None


def _items(obj: Any) -> list[tuple[str, Any]]:
    """(system, record) pairs of a per-system input: a mapping system -> record, or records with ``system``."""
    if obj is None:
        return []
    if isinstance(obj, Mapping):
        return [(str(k), v) for k, v in obj.items()]
    return [(str(_get(r, "system", i)), r) for i, r in enumerate(obj)]


def _ref_id(ref: str) -> str:
    """The HTML id of a reference id (ids cannot hold whitespace; everything else is kept, so the ids
    the decision cites are the ids in the page)."""
    return re.sub(r"\s", "_", ref)


def _href(ref: str) -> str:
    return "#" + quote(_ref_id(ref), safe="/:@()!$'*+,;=-._~")


def _digits(unit: str | None) -> int:
    # the same precision as table.fmt_value, so the page and table.md agree digit for digit
    return 3 if unit in ("ratio", "share", "s", None) else (0 if unit == "tokens" else 5)


def _num(x: Any, unit: str | None = "ratio") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    try:
        return f"{float(x):.{_digits(unit)}f}"
    except (TypeError, ValueError):
        return _e(x)


def _money(x: Any) -> str:
    """Dollars: cents from a cent up, else three significant digits in fixed notation ($0.000347)."""
    if x is None:
        return "—"
    v = float(x)
    if v == 0 or abs(v) >= 0.01:
        return f"${v:,.2f}"
    return f"${v:.{2 - math.floor(math.log10(abs(v)))}f}"


def _pct(x: Any) -> str:
    return "—" if x is None else f"{float(x):.1%}"


def _p(x: Any) -> str:
    if x is None:
        return "—"
    v = float(x)
    return "&lt;0.001" if v < 0.001 else f"{v:.3f}"


def _ci(low: Any, high: Any, fmt: Any = None, unit: str | None = "ratio") -> str:
    """``[low, high]`` in the muted CI style ('' when there is no interval)."""
    if low is None or high is None:
        return ""
    show = fmt or (lambda x: _num(x, unit))
    return f'<span class="ci">[{show(low)}, {show(high)}]</span>'


def _code(x: Any) -> str:
    return f"<code>{_e(x)}</code>"


def _jsonish(x: Any) -> str:
    if isinstance(x, str):
        return _e(x)
    return _code(json.dumps(x, sort_keys=True, default=str, ensure_ascii=False))


_NO_PAIRS = "the run has fewer than two systems with shared cases"
_NO_COST = "no system reported a cost (set the models' prices in the suite)"
_NO_GOLDEN = "the golden sets were not available when this report was written"
_NO_DECIDE = "the suite states no decide: constraints, so no verdict is given"


def _not_computed(what: str, how: str = "") -> str:
    return f'<p class="nc">Not computed: {_e(what)}{(" — " + _e(how)) if how else ""}.</p>'


def _slice_of(task_type: str) -> str:
    """The stats slice name of a cell's ``task_type``: ``(all)``, ``task_type=<name>``, or ``tag=<name>`` as
    ``decision.tag_cells`` labels tag cells."""
    return task_type if task_type == OVERALL or task_type.startswith("tag=") else f"task_type={task_type}"


def _slice_label(slice_name: str) -> str:
    return "overall" if slice_name == OVERALL else slice_name


def json_for_script(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: ``<``, ``>``, ``&``, U+2028 and U+2029 escaped.

    They can only occur inside JSON strings, where the escaped form (``\\u003c`` for ``<``) means the same
    to ``JSON.parse``, so no text (``</script>``, ``<!--``) can end or change the element.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(ch, esc)
    return text


class _Page:
    """What the sections share: the summary's systems and letters, and the ids given out so far (the
    decision's references are checked against them)."""

    def __init__(
        self,
        summary: RunSummary,
        letters: Mapping[tuple[str, str, str], str] | None,
        tag_cells: Sequence[Cell] = (),
        wanted: Iterable[str] = (),
    ) -> None:
        self.summary = summary
        self.cells = list(summary.cells)
        self.tag_cells = list(tag_cells)
        self.systems = systems_of(self.cells) or sorted(summary.error_rates)
        # the column order, which is the order significance_letters must be given (a, b, c, ...)
        self.letter = dict(zip(self.systems, string.ascii_lowercase, strict=False))
        self.letters = letters
        self.index = {(c.system, c.task_type, c.metric): c for c in [*self.cells, *self.tag_cells]}
        self.units = {c.metric: c.unit for c in self.cells}
        self.ids: set[str] = set()
        self.wanted = {_ref_id(r) for r in wanted}  # what the decision cites: shown even where it says little
        self.flagged = set(summary.flagged_metrics)
        self.judge_flag = summary.judge_flag or "unreliable"
        self.metric_flags = summary.metric_flags

    def anchor(self, ref: str) -> str:
        """`` id="..."`` for ``ref`` the first time, "" after (ids are unique)."""
        rid = _ref_id(ref)
        if rid in self.ids:
            return ""
        self.ids.add(rid)
        return f' id="{_e(rid)}"'

    def system_head(self, system: str) -> str:
        letter = self.letter.get(system)
        tag = f' <span class="letter" title="significance letter">({letter})</span>' if letter and self.letters \
            is not None else ""  # fmt: skip
        return f"<th>{_e(system)}{tag}</th>"

    def sig(self, metric: str, slice_name: str, system: str) -> str:
        if not self.letters:
            return ""
        beats = self.letters.get((metric, slice_name, system), "")
        if not beats:
            return ""
        inverse = {v: k for k, v in self.letter.items()}
        names = ", ".join(f"{ch} ({inverse.get(ch, '?')})" for ch in beats)
        return f'<sup class="sig" title="significantly better than {_e(names)} (Holm-corrected)">{_e(beats)}</sup>'

    def cell_td(self, cell: Cell | None, *, anchor: bool = True, link: bool = False) -> str:
        if cell is None:
            return '<td class="na" title="not measured for this system">·</td>'
        slice_name = _slice_of(cell.task_type)
        ref = f"cell:{cell.system}/{slice_name}/{cell.metric}"
        ident = self.anchor(ref) if anchor else ""
        mean = _num(cell.mean, cell.unit)
        if link:
            mean = f'<a href="{_e(_href(ref))}">{mean}</a>'
        unit = f' <span class="unit">{_e(cell.unit)}</span>' if cell.unit not in ("ratio",) and cell.mean is not None \
            else ""  # fmt: skip
        ci = _ci(cell.ci_low, cell.ci_high, unit=cell.unit) if cell.n_scored + cell.n_error > 1 else ""
        cls = "num" + (" flagged" if cell.metric in self.flagged else "")
        return (f'<td{ident} class="{cls}"><span class="mean">{mean}</span>'
                f"{self.sig(cell.metric, slice_name, cell.system)}{unit}<br>{ci}"
                f'<span class="n cnt">{_e(fmt_counts(cell))}</span></td>')  # fmt: skip

    def metric_th(self, metric: str, cell: Cell | None) -> str:
        arrow = "" if cell is None else (" ↑" if cell.higher_is_better else " ↓")
        why = self.metric_flags.get(metric, self.judge_flag)
        flag = f' <span class="flag" title="{_e(FLAG_REASON[why])}">⚠ {_e(why)} judge</span>' \
            if metric in self.flagged else ""  # fmt: skip
        return f'<th scope="row">{_e(metric)}<span class="dir">{arrow}</span>{flag}</th>'


# --- sections ---------------------------------------------------------------------------------------


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{_e(ident)}"><h2>{_e(title)}</h2>\n{body}\n</section>'


def _power_records(power: Mapping[str, Any] | None, slice_name: str) -> list[tuple[str, Any]]:
    """(metric, record) of the slice: ``power`` is ``power_by_slice(...)`` (slice -> record; metric "") or
    metric -> that."""
    if not power:
        return []
    sample = next(iter(power.values()), None)
    nested = isinstance(sample, Mapping) and bool(sample) and all(isinstance(v, Mapping) for v in sample.values())
    per_metric = power if nested else {"": power}
    return [(m, by[slice_name]) for m, by in per_metric.items() if isinstance(by, Mapping) and slice_name in by]


def _power_sentence(metric: str, rec: Any) -> str:
    n, mdd = _first(rec, "n_paired", "n"), _get(rec, "mdd")
    what = f" on {metric}" if metric else ""
    if mdd is None:
        reason = _get(rec, "reason")
        return f"n={n} paired{what}: no detectable-difference estimate{f' ({reason})' if reason else ''}"
    corrected = _get(rec, "mdd_corrected")
    extra = f" ({_num(corrected)} after Holm)" if corrected is not None and corrected != mdd else ""
    return f"n={n} paired{what}: differences under {_num(mdd)}{extra} are not detectable (80% power, α=0.05)"


def _power_note(power: Mapping[str, Any] | None, slice_name: str) -> str:
    """One line: the paired cases of the slice and the smallest difference they can detect."""
    parts = [_power_sentence(m, rec) for m, rec in _power_records(power, slice_name)]
    return f'<p class="power">{_e("; ".join(parts))}</p>' if parts else ""


def _power_td(power: Mapping[str, Any] | None, slice_name: str, metric: str) -> str:
    """The headline's compact form: the detectable difference for the row's metric (else the one given)."""
    records = _power_records(power, slice_name)
    rec = next((r for m, r in records if m == metric), None) or next((r for m, r in records if m == ""), None)
    if rec is None:
        return '<td class="na">·</td>'
    mdd = _get(rec, "mdd")
    metric_of = next((m for m, r in records if r is rec), "")
    return (f'<td class="num" title="{_e(_power_sentence(metric_of, rec))}">{_num(mdd)}<br>'
            f'<span class="n">n={_e(_first(rec, "n_paired", "n"))}</span></td>')  # fmt: skip


def _headline(page: _Page, power: Mapping[str, Any] | None) -> str:
    heads = headline_metrics(page.cells, page.summary.manifest.suite_config.get("headline"))
    if not heads:
        return _section("headline", "Headline: task type × system", "<p>No task type has a scored metric.</p>")
    rows = []
    for task, metric in heads.items():
        cell0 = next((page.index[(s, task, metric)] for s in page.systems if (s, task, metric) in page.index), None)
        tds = "".join(page.cell_td(page.index.get((s, task, metric)), anchor=False, link=True) for s in page.systems)
        mdd = _power_td(power, _slice_of(task), metric) if power else ""
        rows.append(f'<tr><th scope="row"><a href="{_e(_href("slice:" + task))}">{_e(task)}</a></th>'
                    f"{page.metric_th(metric, cell0)}{mdd}{tds}</tr>")  # fmt: skip
    mdd_head = '<th title="the smallest difference the paired cases can detect (80% power)">detectable Δ</th>' \
        if power else ""  # fmt: skip
    head = (f"<tr><th>task type</th><th>metric</th>{mdd_head}"
            + "".join(page.system_head(s) for s in page.systems) + "</tr>")  # fmt: skip
    body = (f"<p>Mean [95% bootstrap CI] (counts) of each task type's headline metric; a number links to its "
            f'cell in the slice tables.</p>{_letters_legend(page)}<table class="grid"><thead>{head}</thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")  # fmt: skip
    return _section("headline", "Headline: task type × system", body)


def _letters_legend(page: _Page) -> str:
    if page.letters is None:
        return _not_computed("significance letters", "no paired comparisons were made for this run")
    names = ", ".join(f"<b>{_e(ch)}</b> {_e(s)}" for s, ch in page.letter.items())
    return (
        f'<p class="legend">Significance: each system has a letter ({names}); a cell\'s superscript letters '
        "name the systems it beats on that metric and slice (paired test, Holm-corrected, α=0.05).</p>"
    )


def _overall(page: _Page) -> str:
    s = page.summary
    head = "<tr><th>metric</th>" + "".join(page.system_head(x) for x in page.systems) + "</tr>"
    cases = "".join(f'<td class="num">{_e(s.error_rates.get(x, (0, 0))[1])}</td>' for x in page.systems)
    errs = []
    for x in page.systems:
        e, n = s.error_rates.get(x, (0, 0))
        errs.append(f'<td{page.anchor(f"errors:{x}")} class="num">{_pct(e / n) if n else "—"} '
                    f'<span class="n">({e} of {n})</span></td>')  # fmt: skip
    rows = [f'<tr><th scope="row">cases</th>{cases}</tr>', f'<tr><th scope="row">error rate</th>{"".join(errs)}</tr>']
    for m in metrics_of(page.cells):
        cells = [page.index.get((x, OVERALL, m)) for x in page.systems]
        first = next((c for c in cells if c is not None), None)
        rows.append(f"<tr>{page.metric_th(m, first)}{''.join(page.cell_td(c) for c in cells)}</tr>")
    body = (f"<p>Every metric over all cases: mean [95% bootstrap CI] (counts). Errors count as failures in "
            f"quality means; unscored cases are left out and counted. ↑ higher is better, ↓ lower.</p>"
            f'<table class="grid"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')  # fmt: skip
    return _section("overall", "Overall: metric × system", body)


def _slices(page: _Page, power: Mapping[str, Any] | None) -> str:
    """One table per task type (and per tag, for tag cells given), metrics × systems; a metric no case of
    the slice has a value for is named under the table rather than shown as a row of dashes."""
    parts = []
    head = "<tr><th>metric</th>" + "".join(page.system_head(x) for x in page.systems) + "</tr>"
    slices = task_types_of(page.cells) + sorted({c.task_type for c in page.tag_cells})
    for task in slices:
        in_slice = [c for c in [*page.cells, *page.tag_cells] if c.task_type == task]
        rows, undefined = [], []
        for m in metrics_of(in_slice):
            cells = [page.index.get((x, task, m)) for x in page.systems]
            if all(c is None or c.n_scored + c.n_error + c.n_scorer_error == 0 for c in cells):
                undefined.append(m)
                continue
            first = next((c for c in cells if c is not None), None)
            rows.append(f"<tr>{page.metric_th(m, first)}{''.join(page.cell_td(c) for c in cells)}</tr>")
        n_cases = max((c.n_cases for c in in_slice), default=0)
        none = f'<p class="n">Not defined for any case here: {_e(", ".join(undefined))}.</p>' if undefined else ""
        # collapsed: six tables of twenty rows bury the rest; a link into one (or to its title) opens it
        parts.append(f'<details class="slice"><summary><h3{page.anchor("slice:" + task)}>{_e(task)} '
                     f'<span class="n">({n_cases} cases, {len(rows)} metrics)</span></h3></summary>'
                     f"{_power_note(power, _slice_of(task))}"
                     f'<table class="grid"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>{none}'
                     "</details>")  # fmt: skip
    if not parts:
        return _section("slices", "Slices", "<p>No task types.</p>")
    note = "" if power else _not_computed("power per slice", "no headline metric was scored")
    return _section("slices", "Slices: each task type", note + "".join(parts))


def _comparisons(page: _Page, comparisons: Sequence[Any]) -> str:
    """Every comparison that could be made, by slice; those that could not are counted with their metrics.

    Rows are terse (no ``</td>``, which HTML does not need) because a demo run has thousands of them."""
    if not comparisons:
        return _section("comparisons", "Paired comparisons",
                        _not_computed("paired comparisons", _NO_PAIRS))  # fmt: skip
    by_slice: dict[str, list[Any]] = {}
    for c in comparisons:
        by_slice.setdefault(str(_get(c, "slice")), []).append(c)
    head = ("<tr><th>metric<th>A<th>B<th>n paired<th>mean A<th>mean B<th>A − B [95% CI]<th>test<th>p<th>p (Holm)"
            "<th>significantly better</tr>")  # fmt: skip
    parts = []
    for i, (slice_name, group) in enumerate(by_slice.items()):
        rows, unmade = [], {}
        for c in group:
            metric, a, b = _get(c, "metric"), _get(c, "system_a"), _get(c, "system_b")
            ref = f"cmp:{metric}/{slice_name}/{a}/{b}"
            if _get(c, "p_value") is None and _ref_id(ref) not in page.wanted:
                unmade.setdefault(metric, 0)
                unmade[metric] += 1
                continue
            unit = page.units.get(metric, "ratio")
            sig = bool(_get(c, "significant"))
            winner = _get(c, "winner") if sig else None
            left = _get(c, "n_left_out") or 0
            cls = ' class="sig-row"' if sig else ""
            rows.append(
                f"<tr{page.anchor(ref)}{cls}><td>{_e(metric)}<td>{_e(a)}<td>{_e(b)}<td>{_e(_get(c, 'n_paired'))}"
                f"{f' <i>({left} left out)</i>' if left else ''}<td>{_num(_get(c, 'mean_a'), unit)}"
                f"<td>{_num(_get(c, 'mean_b'), unit)}<td>{_num(_get(c, 'difference'), unit)} "
                f"<i>{_ci(_get(c, 'ci_low'), _get(c, 'ci_high'), unit=unit)}</i><td>{_e(_get(c, 'test') or '—')}"
                f"<td>{_p(_get(c, 'p_value'))}<td>{_p(_get(c, 'p_holm'))}"
                f"<td>{_e(winner or ('yes' if sig else ''))}{_e(_get(c, 'reason') or '')}</tr>"
            )
        n_sig = sum(bool(_get(c, "significant")) for c in group)
        skipped = ""
        if unmade:
            skipped = (f'<p class="n">{sum(unmade.values())} comparisons could not be made (no case with a value '
                       f"from both systems): {_e(', '.join(sorted(unmade)))}.</p>")  # fmt: skip
        table = f'<table class="grid small cmp"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>' \
            if rows else ""  # fmt: skip
        parts.append(f'<details{" open" if i == 0 else ""}><summary>{_e(_slice_label(slice_name))} '
                     f'<span class="n">({len(group) - sum(unmade.values())} comparisons, {n_sig} significant)'
                     f"</span></summary>{table}{skipped}</details>")  # fmt: skip
    body = ("<p>Every pair of systems on the cases both have a value for (errors count as failures, as in the "
            "means); McNemar's exact test for 0/1 values, else a sign-flip permutation test; Holm-Bonferroni "
            "across the pairs of each (metric, slice). Means here are over the paired cases only.</p>"
            + "".join(parts))  # fmt: skip
    return _section("comparisons", "Paired comparisons", body)


def _ppi(s: RunSummary) -> str:
    """The PPI++ estimates from the run's human labels, beside the judge alone and the humans alone."""
    if not s.ppi:
        return ""

    def est(value: float | None, low: float | None, high: float | None) -> str:
        return f'<td class="num">{_num(value)} {_ci(low, high)}</td>'

    rows = []
    for e in s.ppi:
        head = f"<tr><td>{_e(e['metric'])}</td><td>{_e(e['system'])}</td>"
        if "reason" in e:
            why = f"no estimate: {e['reason']} ({e['n_labels']} labels)"
            rows.append(f'{head}<td colspan="5">{_e(why)}</td></tr>')
            continue
        rows.append(f"{head}{est(e['estimate'], e['ci_low'], e['ci_high'])}"
                    f"{est(e['judge_only_mean'], e['judge_only_ci_low'], e['judge_only_ci_high'])}"
                    f"{est(e['human_only_estimate'], e['human_only_ci_low'], e['human_only_ci_high'])}"
                    f'<td class="num">{_e(e["n_labelled"])}</td>'
                    f'<td class="num">{_e(e["n_unlabelled"])}</td></tr>')  # fmt: skip
    return ("<h3>Bias-corrected by human labels (PPI++)</h3><p>The judge's mean corrected by the human labels of a "
            "random sample of cases; the judge-only interval is for the judge's own mean, not the humans'.</p>"
            '<table class="grid"><thead><tr><th>metric</th><th>system</th><th>PPI++ [95% CI]</th><th>judge only</th>'
            "<th>humans only</th><th>labelled</th><th>judge only cases</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")  # fmt: skip


def _judge(page: _Page) -> str:
    s = page.summary
    if not s.judged_metrics:
        return _section("judge", "Judge", "<p>No judged metric in this run.</p>")
    positional = any("position_consistency" in (c.get("extra") or {}) for c in s.judge_calibrations)
    rows = []
    for c in s.judge_calibrations:
        pc = (c.get("extra") or {}).get("position_consistency")
        rows.append(
            f"<tr><td>{_e(c.get('set'))}</td><td>{_e(c.get('judge_model'))}</td>"
            f'<td class="num">{_pct(c.get("agreement"))} {_ci(*(c.get("agreement_ci") or (None, None)), fmt=_pct)}</td>'
            f'<td class="num">{_num(c.get("kappa"))} {_ci(*(c.get("kappa_ci") or (None, None)))}</td>'
            + (f'<td class="num">{_pct(pc)}</td>' if positional else "")
            + f'<td class="num">{_e(c.get("n_usable"))} of {_e(c.get("n_items"))}</td><td>{_e(c.get("seed"))}</td>'
            f"<td>{'yes' if c.get('reliable') else '<b class=bad>no</b>'}</td>"
            f"<td>{_e(c.get('created_at', ''))}</td></tr>"
        )
    pc_head = "<th>position consistency</th>" if positional else ""
    table = ("<table class=\"grid\"><thead><tr><th>labelled set</th><th>judge model</th><th>agreement [CI]</th>"
             f"<th>kappa [CI]</th>{pc_head}<th>usable</th><th>seed</th><th>reliable</th><th>measured</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>") if rows else ""  # fmt: skip
    flags = ""
    for why in sorted(set(s.metric_flags.values()) or ({s.judge_flag or "unreliable"} if s.flagged_metrics else ())):
        names = sorted(m for m in s.flagged_metrics if s.metric_flags.get(m, s.judge_flag or "unreliable") == why)
        flags += (f'<p class="warn">⚠ Flagged: {_e(", ".join(names))}. '
                  f"{_e(FLAG_REASON[why]).capitalize()}: treat these columns as unvalidated.</p>")  # fmt: skip
    notes = "".join(f"<li>{_e(line)}</li>" for line in judge_notes(s))
    body = f"<p>Judged metrics: {_e(', '.join(s.judged_metrics))}.</p>{flags}{table}<ul>{notes}</ul>{_ppi(s)}"
    return _section("judge", "Judge: calibration and flags", body)


def _gates(gates: Sequence[GateResult]) -> str:
    if not gates:
        return _section("gates", "Gates", _not_computed("gates", "the suite declares none"))
    rows = "".join(
        f'<tr class="{"pass" if _get(g, "passed") else "fail"}"><td>{_e(_get(g, "name"))}</td>'
        f"<td>{'passed' if _get(g, 'passed') else '<b>FAILED</b>'}</td><td>{_e(_get(g, 'message'))}</td>"
        f"<td>{_e(', '.join(_get(g, 'failing') or ()))}</td></tr>"
        for g in gates
    )
    body = (
        '<table class="grid"><thead><tr><th>gate</th><th>verdict</th><th>message</th><th>failing</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
    )
    return _section("gates", "Gates", body)


def _manifest(summary: RunSummary) -> str:
    m = summary.manifest
    kv = [("run id", m.run_id), ("created", m.created_at), ("status", summary.status), ("suite", m.suite_name),
          ("suite path", m.suite_path), ("suite hash", m.suite_hash), ("python", m.python),
          ("selection", m.selection), ("bootstrap", m.bootstrap), ("schema version", m.schema_version)]  # fmt: skip
    run = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_jsonish(v)}</td></tr>' for k, v in kv)
    golden = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(m.golden_set_versions.get(name, '—'))}</td><td>{_code(h)}</td>"
        f'<td class="num">{len(m.case_hashes.get(name, {})) or "—"}</td></tr>'
        for name, h in m.golden_sets.items()
    )
    systems = []
    for name, cfg in m.systems.items():
        cfg = dict(cfg)
        kind, model = cfg.pop("kind", ""), cfg.pop("model", None)
        template, adapter = cfg.pop("template_hash", None), cfg.pop("adapter", None)
        systems.append(f"<tr><td>{_e(name)}</td><td>{_e(kind)}</td><td>{_jsonish(model) if model else '—'}</td>"
                       f"<td>{_code(template) if template else '—'}</td><td>{_jsonish(adapter) if adapter else '—'}"
                       f"</td><td>{_jsonish(cfg) if cfg else ''}</td></tr>")  # fmt: skip
    models = m.suite_config.get("models") or {}
    model_rows = "".join(f"<tr><td>{_e(k)}</td><td>{_jsonish(v)}</td></tr>" for k, v in models.items())
    retr = "".join(f"<tr><td>{_e(k)}</td><td>{_jsonish(v)}</td></tr>" for k, v in m.retrievers.items())
    metrics = "".join(f"<tr><td>{_e(k)}</td><td>{_jsonish(v)}</td></tr>" for k, v in m.metrics.items())
    pkgs = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in sorted(m.package_versions.items()))
    judge = (f"<h3>Judge</h3><p>identity {_code(m.judge_identity or '—')}</p><p>{_jsonish(m.judge)}</p>"
             if m.judge else "")  # fmt: skip

    def table(title: str, head: str, rows: str) -> str:
        if not rows:
            return ""
        ths = "".join(f"<th>{h}</th>" for h in head.split("|"))
        return f'<h3>{title}</h3><table class="grid small"><thead><tr>{ths}</tr></thead><tbody>{rows}</tbody></table>'

    full = json.dumps(m.model_dump(mode="json"), indent=1, sort_keys=True, ensure_ascii=False)
    body = (
        f'<details id="manifest-block"><summary>Models, prompt hashes, golden sets, package versions '
        f"(run {_e(m.run_id)})</summary>"
        f'<table class="grid small"><tbody>{run}</tbody></table>'
        + table("Golden sets", "name|version|content hash|cases selected", golden)
        + table("Systems", "system|kind|model|prompt template hash|adapter|other settings", "".join(systems))
        + table("Models", "name|spec", model_rows)
        + table("Retrievers", "name|settings and index hashes", retr)
        + table("Metrics", "name|spec", metrics)
        + judge
        + table("Package versions", "package|version", pkgs)
        + f"<details><summary>The whole manifest (JSON)</summary><pre>{_e(full)}</pre></details></details>"
    )
    return _section("manifest", "Run manifest", body)


# --- latency, cost, attribution, decision (records from stats, read by field name) -------------------


def _pct_value(p: Any) -> Any:
    """A percentile record's value (``Percentile.value``), or a bare number."""
    return _get(p, "value") if p is not None and not isinstance(p, (int, float)) else p


def _latency(page: _Page, latency: Any, chart: str) -> str:
    """``LatencyStats`` per system: p50/p95/p99 (``Percentile``: value, CI, reason when not shown)."""
    if latency is None:
        return _section("latency", "Latency", _not_computed("latency percentiles", "no system reported latencies")
                        + chart)  # fmt: skip
    rows = []
    for system, rec in _items(latency):
        tds = []
        for q in ("p50", "p95", "p99"):
            p = _get(rec, q)
            value = _pct_value(p)
            if value is None:
                reason = _get(p, "reason") or "not computed"
                tds.append(f'<td class="num na" title="{_e(reason)}">— <span class="reason">{_e(reason)}</span></td>')
            else:
                tds.append(f'<td class="num"><span class="mean">{_num(value, "s")}</span> s<br>'
                           f'{_ci(_get(p, "ci_low"), _get(p, "ci_high"), unit="s")}</td>')  # fmt: skip
        left = [f"{k} {_get(rec, f)}" for k, f in (("errored", "n_error"), ("not reported", "n_not_reported"))
                if _get(rec, f)]  # fmt: skip
        rows.append(f'<tr{page.anchor(f"latency:{system}")}><th scope="row">{_e(system)}</th>{"".join(tds)}'
                    f'<td class="num">{_e(_get(rec, "n"))} of {_e(_get(rec, "n_cases"))}</td>'
                    f'<td class="reason">{_e(", ".join(left))}</td></tr>')  # fmt: skip
    table = ('<table class="grid"><thead><tr><th>system</th><th>p50 [95% CI]</th><th>p95 [95% CI]</th>'
             "<th>p99 [95% CI]</th><th>measured</th><th>left out</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>")  # fmt: skip
    body = (
        f"<p>Each call's own time (queueing inside the harness excluded), over successful responses that "
        f"report one; a percentile the sample cannot tell from its maximum is not shown.</p>{table}{chart}"
    )
    return _section("latency", "Latency", body)


def _cost_parts(cost: Any) -> dict[str, Any]:
    """The cost input's parts: a mapping (or object) with ``costs`` (``CostStats`` per system),
    ``projections``, ``break_evens``, ``tokens`` and ``pareto`` (``points``: system -> (quality, cost per
    query), ``front``, ``metric``, ``slice``); or just the ``CostStats`` sequence."""
    if cost is None:
        return {}
    if isinstance(cost, (list, tuple)):
        return {"costs": cost}
    return {k: _get(cost, k) for k in ("costs", "projections", "break_evens", "tokens", "pareto")}


def _cost(page: _Page, cost: Any, chart: str) -> str:
    parts = _cost_parts(cost)
    if not parts.get("costs"):
        return _section("cost", "Cost", _not_computed("cost per query", _NO_COST) + chart)  # fmt: skip
    projections = dict(_items(parts.get("projections")))
    tokens = dict(_items(parts.get("tokens")))
    front = set(_get(parts.get("pareto"), "front") or ())
    rows = []
    for system, rec in _items(parts["costs"]):
        per_query = _get(rec, "system_usd_per_query")
        sys_cell = (
            f'<span class="mean">{_money(per_query)}</span><br>'
            f"{_ci(_get(rec, 'system_ci_low'), _get(rec, 'system_ci_high'), fmt=_money)}"
            if per_query is not None
            else f'— <span class="reason">{_e(_get(rec, "system_reason"))}</span>'
        )
        judge = _get(rec, "judge_usd_per_1k")
        judge_cell = (_money(judge) if judge is not None
                      else f'— <span class="reason">{_e(_get(rec, "judge_reason"))}</span>')  # fmt: skip
        calls = _get(rec, "n_judge_calls") or 0
        proj = projections.get(system)
        monthly = _get(proj, "monthly_usd")
        month_cell = "—" if proj is None else (
            f'<span class="mean">{_money(monthly)}</span><br><span class="n">incl. fixed '
            f'{_money(_get(proj, "monthly_fixed_usd"))}/month</span>' if monthly is not None
            else f'— <span class="reason">{_e(_get(proj, "reason"))}</span>')  # fmt: skip
        tok = tokens.get(system)
        tok_cell = "" if tok is None else (f'{_num(_get(tok, "prompt_tokens_mean"), "tokens")} in · '
                                           f'{_num(_get(tok, "completion_tokens_mean"), "tokens")} out')  # fmt: skip
        not_reported = _get(rec, "n_cost_not_reported") or 0
        star = ' <span class="star" title="on the Pareto front">★</span>' if system in front else ""
        reported = f"{_e(_get(rec, 'n_cost_reported'))}" + (f" ({not_reported} not reported)" if not_reported else "")
        rows.append(
            f'<tr{page.anchor(f"cost:{system}")}><th scope="row">{_e(system)}{star}</th>'
            f'<td class="num">{sys_cell}</td><td class="num">{_money(_get(rec, "system_usd_per_1k"))}</td>'
            f'<td class="num">{judge_cell}<br><span class="n">{_e(calls)} judge calls</span></td>'
            f'<td class="num">{month_cell}</td><td class="num">{tok_cell}</td><td class="num">{reported}</td></tr>'
        )
    volume = next((_get(p, "volume_per_month") for p in projections.values()), None)
    head = (f"<p>System cost is what the responses report; the judge's is a cost of evaluating, not of serving, "
            f"and stays out of the projection. Projection at <b>{_e(f'{volume:,}')}</b> queries a month.</p>"
            if volume is not None else "<p>System cost is what the responses report; the judge's is a cost of "
            "evaluating and stays out of any projection.</p>")  # fmt: skip
    table = ('<table class="grid"><thead><tr><th>system</th><th>per query [95% CI]</th><th>per 1k: system</th>'
             "<th>per 1k: judge</th><th>monthly</th><th>tokens per case</th><th>costs reported</th></tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>")  # fmt: skip
    breaks = []
    for rec in parts.get("break_evens") or ():
        a, b, vol = _get(rec, "system_a"), _get(rec, "system_b"), _get(rec, "volume")
        below, above = _get(rec, "cheaper_below"), _get(rec, "cheaper_above")
        breaks.append(f'<tr{page.anchor(f"breakeven:{a}/{b}")}><td>{_e(a)}</td><td>{_e(b)}</td>'
                      f'<td class="num">{"—" if vol is None else _e(f"{vol:,.0f}")}</td><td>{_e(below or "—")}</td>'
                      f'<td>{_e(above or "—")}</td><td class="reason">{_e(_get(rec, "reason") or "")}</td>'
                      "</tr>")  # fmt: skip
    be = ('<h3>Break-even volumes</h3><table class="grid"><thead><tr><th>system A</th><th>system B</th>'
          "<th>queries a month where they cost the same</th><th>cheaper below</th><th>cheaper above</th>"
          f"<th>note</th></tr></thead><tbody>{''.join(breaks)}</tbody></table>") if breaks else ""  # fmt: skip
    return _section("cost", "Cost: per query, projection and break-even", head + table + be + chart)


_CATEGORY_LABEL = {"correct": "correct", "retrieval_miss": "retrieval missed", "generation_miss": "generation missed",
                   "no_retrieval": "wrong, no retrieval"}  # fmt: skip


def _case_links(keys: Iterable[Any], limit: int = 60) -> str:
    keys = list(keys)
    links = []
    for key in keys[:limit]:
        gs, cid = (key[0], key[1]) if isinstance(key, (list, tuple)) else ("", key)
        ref = f"case:{gs}/{cid}" if gs else f"case:{cid}"
        links.append(f'<a class="case-link" href="{_e(_href(ref))}">{_e(cid)}</a>')
    more = f" … and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(links) + more


def _attribution(page: _Page, attribution: Any) -> str:
    """``SystemAttribution`` per system: four categories (shares, counts, the cases) and the cases left out."""
    if attribution is None:
        return _section("attribution", "Failure attribution",
                        _not_computed("failure attribution", _NO_GOLDEN))  # fmt: skip
    rows, details = [], []
    categories = list(_CATEGORY_LABEL)
    threshold = None
    for system, rec in _items(attribution):
        shares, counts = _get(rec, "shares") or {}, _get(rec, "counts") or {}
        threshold = _get(rec, "threshold", threshold)
        tds = "".join(f'<td class="num"><span class="mean">{_pct(shares.get(c))}</span> '
                      f'<span class="n">({_e(counts.get(c, 0))})</span></td>' for c in categories)  # fmt: skip
        left = _get(rec, "n_left_out") or 0
        reasons = _get(rec, "left_out_reasons") or {}
        why = "; ".join(f"{n} {r}" for r, n in reasons.items())
        rows.append(f'<tr{page.anchor(f"attr:{system}")}><th scope="row">{_e(system)}</th>{tds}'
                    f'<td class="num">{_e(_get(rec, "n_attributed"))}</td><td class="num">{_e(left)}</td>'
                    f'<td class="reason">{_e(_get(rec, "share_reason") or why)}</td></tr>')  # fmt: skip
        lists = "".join(f"<li><b>{_e(_CATEGORY_LABEL[c])}</b>: {_case_links(_get(rec, c) or ())}</li>"
                        for c in categories if c != "correct" and _get(rec, c))  # fmt: skip
        if lists:
            details.append(f"<details><summary>{_e(system)}: the wrong answers</summary><ul>{lists}</ul></details>")
    ths = "".join(f"<th>{_e(_CATEGORY_LABEL[c])}</th>" for c in categories)
    table = (f'<table class="grid"><thead><tr><th>system</th>{ths}<th>attributed</th><th>left out</th><th>why left '
             f"out</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")  # fmt: skip
    body = ("<p>Each case with relevance labels and a headline value, per system: right (headline value at least "
            f"{_e(threshold)}), or wrong because no relevant document reached the prompt (retrieval), although one "
            "did (generation), or with no retrieval at all. Share of attributed cases (count); a case id opens it "
            f"in the case browser.</p>{table}{''.join(details)}")  # fmt: skip
    return _section("attribution", "Failure attribution", body)


_REF_LABEL = {"cell": "number", "cmp": "comparison", "latency": "latency", "cost": "cost"}
_LEAD = {"significant": "the lead is significant", "not_significant": "the lead is not significant",
         "reversed": "a paired test favours a runner-up", "not_tested": "the lead is not tested",
         "tied": "tied at the top", "unopposed": "the only ranked system", "none": "nothing ranked"}  # fmt: skip


def _ref_label(ref: str) -> str:
    """A reference id in words: ``cell:rag/(all)/recall@3`` -> ``rag · recall@3``."""
    kind, _, rest = ref.partition(":")
    bits = rest.split("/")
    if kind == "cell" and len(bits) >= 3:
        system, slice_name, metric = bits[0], "/".join(bits[1:-1]), bits[-1]
        return f"{system} · {metric}" + ("" if slice_name == OVERALL else f" · {slice_name}")
    if kind == "cmp" and len(bits) >= 4:
        metric, slice_name, a, b = bits[0], "/".join(bits[1:-2]), bits[-2], bits[-1]
        return f"{a} vs {b} · {metric}" + ("" if slice_name == OVERALL else f" · {slice_name}")
    return f"{kind} · {rest}" if rest else ref


def _ref_links(page: _Page, refs: Iterable[Any]) -> str:
    links = []
    for ref in refs:
        ref = str(ref)
        kind = ref.partition(":")[0]
        label = _e(_ref_label(ref))
        if _ref_id(ref) in page.ids:
            links.append(f'<a class="ref" href="{_e(_href(ref))}" title="{_e(_REF_LABEL.get(kind, kind))}: '
                         f'{_e(ref)}">{label}</a>')  # fmt: skip
        else:  # its section was not computed: say so rather than link nowhere
            links.append(f'<span class="ref missing" title="not in this report: {_e(ref)}">{label}</span>')
    return " ".join(links)


def _check_value(page: _Page, c: Any) -> str:
    value, kind = _get(c, "value"), _get(c, "kind")
    if value is None:
        return "—"
    if kind == "p95_latency_s":
        return f"{_num(value, 's')} s"
    if kind == "max_cost_per_1k_usd":
        return f"{_money(value)} per 1k"
    cell = page.index.get((_get(c, "system"), OVERALL, _get(c, "metric")))
    return _num(value, cell.unit if cell else "ratio")


def _decision(page: _Page, decision: Any) -> str:
    """``Decision``: the choice, its sentences (each with links to the numbers behind it), the checks."""
    if decision is None:
        return _section("decision", "Decision", _not_computed("the decision", _NO_DECIDE))  # fmt: skip
    choice = _get(decision, "choice")
    metric, slice_name = _get(decision, "primary_metric"), _get(decision, "primary_slice")
    lead = _get(decision, "lead")
    if choice:
        verdict = (
            f'<p class="verdict">Ship <b>{_e(choice)}</b> <span class="n">({_e(_LEAD.get(lead, lead))})</span></p>'
        )
    else:
        verdict = f'<p class="verdict">No system is chosen <span class="n">({_e(_LEAD.get(lead, lead))})</span></p>'
    primary = (
        (
            f"<p>Ranked by <b>{_e(metric)}</b> ({_e(_slice_label(str(slice_name)))}) among the systems shown "
            "to meet every constraint; a constraint that cannot be measured is not met.</p>"
        )
        if metric
        else ""
    )
    items = "".join(f"<li>{_e(_get(s, 'text', s))} {_ref_links(page, _get(s, 'refs') or ())}</li>"
                    for s in _get(decision, "sentences") or ())  # fmt: skip
    checks = []
    for c in _get(decision, "checks") or ():
        status = _get(c, "status")
        checks.append(f'<tr class="{_e(status)}"><td>{_e(_get(c, "system"))}</td><td>{_e(_get(c, "constraint"))}</td>'
                      f'<td class="num">{_check_value(page, c)}</td><td>{_e(str(status).replace("_", " "))}</td>'
                      f'<td class="reason">{_e(_get(c, "reason") or "")}</td>'
                      f"<td>{_ref_links(page, [_get(c, 'ref')] if _get(c, 'ref') else [])}</td></tr>")  # fmt: skip
    table = ('<details><summary>Every constraint check</summary><table class="grid small"><thead><tr><th>system</th>'
             "<th>constraint</th><th>measured</th><th>status</th><th>why not measured</th><th>number</th></tr>"
             f"</thead><tbody>{''.join(checks)}</tbody></table></details>") if checks else ""  # fmt: skip
    body = verdict + primary + (f'<ol class="because">{items}</ol>' if items else "") + table
    return _section("decision", "Decision", body)


# --- charts -----------------------------------------------------------------------------------------

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")  # fmt: skip


def _tex_safe(text: str) -> str:
    # a "$" would start matplotlib's mathtext; names are shown as given
    return str(text).replace("$", r"\$")


def _svg(fig: Any, name: str) -> str:
    """The figure as compact inline SVG: no prolog, metadata or unused ids; the ids it uses prefixed with
    ``name`` so several charts can share the page."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    used = set(re.findall(r"#([A-Za-z_][\w.-]*)", svg))
    svg = re.sub(r' id="([^"]+)"', lambda m: f' id="{name}-{m.group(1)}"' if m.group(1) in used else "", svg)
    svg = re.sub(r"(xlink:href=\"#|url\(#)([A-Za-z_][\w.-]*)", lambda m: f"{m.group(1)}{name}-{m.group(2)}", svg)
    svg = re.sub(r">\s+<", "><", svg)
    svg = re.sub(r"\s*\n\s*", " ", svg)
    svg = svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{_e(name)} chart" ', 1)
    return svg


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=72)
    return fig


def _chart_headline(page: _Page) -> str:
    heads = headline_metrics(page.cells, page.summary.manifest.suite_config.get("headline"))
    if not heads:
        return ""
    n = len(heads)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _figure(3.3 * cols, 0.35 * len(page.systems) * rows + 0.9 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    ys = list(range(len(page.systems)))
    for k, (task, metric) in enumerate(heads.items()):
        ax = axes[k // cols][k % cols]
        for y, system in zip(ys, page.systems, strict=True):
            cell = page.index.get((system, task, metric))
            if cell is None or cell.mean is None:
                continue
            lo = cell.mean - (cell.ci_low if cell.ci_low is not None else cell.mean)
            hi = (cell.ci_high if cell.ci_high is not None else cell.mean) - cell.mean
            ax.errorbar([cell.mean], [y], xerr=[[max(lo, 0.0)], [max(hi, 0.0)]], fmt="o", ms=4, capsize=2,
                        color=_COLORS[y % len(_COLORS)])  # fmt: skip
        ax.set_yticks(ys, [_tex_safe(s) for s in page.systems], fontsize=8)
        ax.set_ylim(-0.6, len(ys) - 0.4)
        ax.invert_yaxis()
        unit = next((c.unit for c in page.cells if c.metric == metric), "ratio")
        if unit == "ratio":
            ax.set_xlim(-0.03, 1.03)
        ax.set_title(_tex_safe(f"{task}: {metric}"), fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        if k % cols:
            ax.set_yticklabels([])
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.subplots_adjust(wspace=0.08, hspace=0.45)
    return f'<figure>{_svg(fig, "headline")}<figcaption>Each task type\'s headline metric: mean and 95% ' \
           "bootstrap CI per system.</figcaption></figure>"  # fmt: skip


def _chart_latency(page: _Page, latency: Any) -> str:
    values: dict[str, list[float]] = {}
    for cr in page.summary.results:
        r = cr.response
        if not r.failed and r.latency_s is not None:  # the values LatencyStats is computed from
            values.setdefault(cr.system, []).append(r.latency_s)
    if not values:
        return ""
    systems = [s for s in page.systems if s in values] + sorted(set(values) - set(page.systems))
    stats = dict(_items(latency))
    fig = _figure(7.5, 0.5 * len(systems) + 0.9)
    ax = fig.subplots()
    for y, system in enumerate(systems):
        xs = sorted(values[system])
        # a fixed spread instead of random jitter: the same chart every time
        offsets = [((i * 7) % 11 - 5) / 28 for i in range(len(xs))]
        ax.scatter(xs, [y + o for o in offsets], s=12, alpha=0.55, color=_COLORS[y % len(_COLORS)], linewidths=0)
        for q, marker in (("p50", "|"), ("p95", "d"), ("p99", "x")):
            v = _pct_value(_get(stats.get(system), q))
            if v is not None:
                ax.plot([v], [y], marker=marker, color="black", ms=8, mew=1.5, ls="none", label=q if y == 0 else None)
    ax.set_yticks(range(len(systems)), [_tex_safe(s) for s in systems], fontsize=8)
    ax.set_ylim(-0.6, len(systems) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per case", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        # above the axes: inside, it would cover the slowest cases
        ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, ncols=3)
    marks = "; black marks: p50, p95, p99" if latency is not None else ""
    return f'<figure>{_svg(fig, "latency")}<figcaption>Every successful case\'s latency per system{marks}.' \
           "</figcaption></figure>"  # fmt: skip


def _chart_cost(page: _Page, cost: Any) -> str:
    pareto = _cost_parts(cost).get("pareto")
    points = _get(pareto, "points") or {}
    if not points:
        return ""
    front = set(_get(pareto, "front") or ())
    metric, slice_name = _get(pareto, "metric") or "quality", _get(pareto, "slice") or OVERALL
    fig = _figure(6.0, 3.4)
    ax = fig.subplots()
    for i, (system, (quality, usd)) in enumerate(points.items()):
        on = system in front
        ax.scatter([usd], [quality], s=90 if on else 28, marker="*" if on else "o", color=_COLORS[i % len(_COLORS)],
                   zorder=3)  # fmt: skip
        ax.annotate(_tex_safe(system), (usd, quality), textcoords="offset points", xytext=(6, 4), fontsize=8)
    line = sorted((usd, quality) for system, (quality, usd) in points.items() if system in front)
    if len(line) > 1:
        ax.plot([p[0] for p in line], [p[1] for p in line], color="black", lw=1, ls="--", zorder=2,
                label="Pareto front")  # fmt: skip
        ax.legend(fontsize=7, frameon=False)
    ax.set_xlabel("system cost per query (USD)", fontsize=8)
    ax.set_ylabel(_tex_safe(f"{metric} ({_slice_label(str(slice_name))})"), fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    names = ", ".join(sorted(front)) or "—"
    return f'<figure>{_svg(fig, "cost")}<figcaption>Quality against cost per query. ★ and the dashed line: the ' \
           f"Pareto front ({_e(names)}): no other system is both cheaper and better.</figcaption></figure>"  # fmt: skip


def _charts_or_note(make: Any, *args: Any) -> str:
    try:
        return make(*args)
    except ImportError:  # matplotlib is a dependency, but a trimmed install should still get its tables
        return _not_computed("chart", "matplotlib is not installed")


# --- the case browser -------------------------------------------------------------------------------


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 6)


def case_data(summary: RunSummary, cases: Mapping[tuple[str, str], Case] | None = None) -> dict[str, Any]:
    """The case browser's data: per case its golden text and every system's answer and metric results.

    Compact on purpose (a demo run is 96 cases x 6 systems x ~20 metrics): metric names and reasons are
    given once and referred to by index; each metric result is ``[metric, status, value, reason]`` with
    status ``s``/``u``/``e``.  Texts are complete (the page truncates what it shows).
    """
    metrics: dict[str, int] = {}
    units: list[str] = []
    reasons: dict[str, int] = {}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    tags: set[str] = set()
    for cr in summary.results:
        key = (cr.golden_set, cr.case_id)
        entry = out.get(key)
        if entry is None:
            case = (cases or {}).get(key)
            entry = {"k": f"{cr.golden_set}/{cr.case_id}", "gs": cr.golden_set, "id": cr.case_id,
                     "t": cr.task_type, "tags": list(cr.tags), "r": {}}  # fmt: skip
            if case is not None:
                exp = case.expected
                entry |= {
                    "q": case.question,
                    "chat": None if isinstance(case.input, str) else [[m.role, m.content] for m in case.input],
                    "g": None if exp is None else {
                        "answer": exp.answer, "aliases": list(exp.aliases), "pattern": exp.pattern,
                        "json": None if exp.json_value is None else json.dumps(exp.json_value, indent=1,
                                                                               ensure_ascii=False)},
                    "rel": dict(case.relevant_docs), "ans": case.answerable, "split": case.split,
                    "rubric": case.rubric,
                }  # fmt: skip
            out[key] = entry
            tags.update(cr.tags)
        r = cr.response
        ms = []
        for m in cr.results:
            if m.metric not in metrics:
                metrics[m.metric] = len(metrics)
                units.append(m.unit)
            ri = None if m.reason is None else reasons.setdefault(m.reason, len(reasons))
            ms.append([metrics[m.metric], m.status[0], _round(m.value), ri])
        entry["r"][cr.system] = {
            "a": r.answer,
            "err": None if r.error is None else f"{r.error.stage}: {r.error.type}: {r.error.message}",
            "je": r.json_error,
            "ret": None if r.retrieved is None else [[d.doc_id, _round(d.score)] for d in r.retrieved],
            "lat": _round(r.latency_s),
            "tok": [r.usage.prompt_tokens, r.usage.completion_tokens],
            "cost": r.cost_usd,
            "route": r.extra.get("route") if isinstance(r.extra.get("route"), (str, int, float)) else None,
            "m": ms,
        }
    systems = systems_of(list(summary.cells)) or sorted({cr.system for cr in summary.results})
    return {
        "limit": TEXT_LIMIT,
        "systems": systems,
        "letters": dict(zip(systems, string.ascii_lowercase, strict=False)),
        "metrics": list(metrics),
        "units": units,
        "reasons": list(reasons),
        "taskTypes": sorted({e["t"] for e in out.values()}),
        "tags": sorted(tags),
        "hasCases": cases is not None,
        "cases": list(out.values()),
    }


def _browser(data: dict[str, Any]) -> str:
    note = (
        ""
        if data["hasCases"]
        else _not_computed(
            "golden-set text (question, golden answer, relevant documents)", _NO_GOLDEN
        )
    )
    body = (f"{note}<p>Filter the cases; click a case to see every system's answer side by side. The filters "
            "on status and metric value match a case when any selected system matches.</p>"
            '<form id="filters" class="filters">'
            '<label>system <select id="f-system"></select></label>'
            '<label>task type <select id="f-task"></select></label>'
            '<label>tag <select id="f-tag"></select></label>'
            '<label>status <select id="f-status"></select></label>'
            '<label>metric <select id="f-metric"></select></label>'
            '<label>min <input id="f-min" type="number" step="any" size="6"></label>'
            '<label>max <input id="f-max" type="number" step="any" size="6"></label>'
            '<label>search <input id="f-text" type="search" placeholder="id or question" size="16"></label>'
            '<button id="f-reset" type="button">reset</button> <span id="f-count" class="n"></span></form>'
            '<table id="case-table" class="grid cases"><thead></thead><tbody></tbody></table>'
            '<noscript><p class="nc">The case browser needs JavaScript.</p></noscript>')  # fmt: skip
    return _section("cases-browser", "Cases", body)


# --- page -------------------------------------------------------------------------------------------

_CSS = """
:root{--fg:#1d2430;--muted:#5d6778;--line:#d9dee7;--bg:#fff;--alt:#f6f8fb;--acc:#1f5fbf;--bad:#b3261e;--good:#1b7f3b}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);
 background:var(--bg);margin:0}
header.top{padding:16px 24px 8px;border-bottom:1px solid var(--line)}
header.top h1{margin:0 0 4px;font-size:22px}
nav{position:sticky;top:0;background:#fffffff2;border-bottom:1px solid var(--line);padding:6px 24px;z-index:5;
 font-size:13px}
nav a{margin-right:12px;color:var(--acc);text-decoration:none}
main{padding:8px 24px 48px;max-width:1600px}
section{margin:28px 0}
h2{font-size:18px;border-bottom:2px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table.grid{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
table.grid th,table.grid td{border:1px solid var(--line);padding:4px 7px;vertical-align:top;text-align:left}
table.grid thead th{background:var(--alt);position:sticky;top:30px}
table.grid tbody tr:nth-child(even){background:#fbfcfe}
table.small{font-size:12.5px}
td.num{text-align:right;white-space:nowrap}
td.num .cnt{display:block;white-space:normal;font-size:11.5px}
td.na{color:#aab;text-align:center}
.mean{font-weight:600}
.ci,.n,.unit,.dir{color:var(--muted);font-size:12px}
sup.sig{color:var(--good);font-weight:700;margin-left:1px}
.letter{color:var(--good);font-weight:600}
.flag,.bad,.warn{color:var(--bad)}
td.flagged{background:#fff6e6}
tr.fail td{background:#fdecea}
tr.sig-row td{background:#eef8f0}
.nc{color:var(--muted);font-style:italic}
.power,.legend{color:var(--muted);font-size:12.5px;margin:2px 0 6px;font-weight:normal}
details.slice summary h3{display:inline;margin:0}
details.slice{margin:10px 0}
table.cmp td:nth-child(n+4){text-align:right;white-space:nowrap}
table.cmp td:last-child{text-align:left;white-space:normal;color:var(--muted)}
table.cmp i{color:var(--muted);font-style:normal;font-size:12px}
.star{color:#c98a00}
tr.not_met td{background:#fdecea}
tr.not_measured td{background:#fff6e6}
.reason{color:var(--muted);font-size:12px;max-width:420px}
.verdict{font-size:18px}
ol.because li{margin:4px 0}
a.ref,span.ref{display:inline-block;font-size:11.5px;border:1px solid var(--line);border-radius:10px;
 padding:0 7px;margin:0 2px;text-decoration:none;color:var(--acc);background:var(--alt)}
span.ref.missing{color:var(--muted);border-style:dashed}
:target,.target{outline:3px solid #f2b705;outline-offset:1px}
figure{margin:10px 0}
figcaption{color:var(--muted);font-size:12px}
svg.chart{max-width:100%;height:auto}
details{margin:6px 0}
summary{cursor:pointer}
pre{white-space:pre-wrap;word-break:break-word;background:var(--alt);padding:8px;border-radius:4px;font-size:12px}
code{font-size:12px;word-break:break-all}
.filters{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;margin:8px 0;padding:8px;background:var(--alt);
 border:1px solid var(--line);border-radius:4px}
.filters label{font-size:12.5px;color:var(--muted)}
.filters input[type=number]{width:6em}
table.cases tbody tr.case{cursor:pointer}
table.cases tbody tr.case:hover{background:#eef3fb}
table.cases tbody tr.open{background:#e6eefb}
tr.detail>td{background:#fff;padding:10px}
.q{white-space:pre-wrap;max-width:520px}
.txt{white-space:pre-wrap;word-break:break-word;background:var(--alt);border-radius:4px;padding:6px 8px;margin:4px 0}
.txt.answer{max-height:24em;overflow:auto}
.answers{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:10px;margin-top:8px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px}
.card h4{margin:0 0 4px;font-size:14px}
.card.failed{border-color:var(--bad)}
.badge{display:inline-block;border-radius:8px;padding:0 6px;font-size:11.5px;background:var(--alt);
 border:1px solid var(--line)}
.badge.s{color:var(--good)}.badge.u{color:var(--muted)}.badge.e,.badge.failed{color:var(--bad)}
.rel{color:var(--good);font-weight:600}
ol.ret{margin:2px 0;padding-left:22px;font-size:12.5px}
table.mres{font-size:12px;width:100%;table-layout:fixed}
table.mres td{word-break:break-word}
table.mres td:first-child{width:38%}
table.mres td:nth-child(2){width:22%}
.card{min-width:0}
button.more{font-size:11.5px;margin-top:2px}
"""

_JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("cases").textContent);
  var LIMIT = D.limit, ST = {s: "scored", u: "unscored", e: "error"};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]);
    return parent;
  }
  // a long text shows its first LIMIT characters; the rest is one click away (it is in the JSON already)
  function longText(s, cls) {
    var box = el("div", cls || "txt");
    if (s === null || s === undefined) { box.textContent = "—"; return box; }
    s = String(s);
    if (s.length <= LIMIT) { box.textContent = s; return box; }
    var body = el("span", null, s.slice(0, LIMIT) + "…");
    var btn = el("button", "more", "show all " + s.length + " characters");
    btn.type = "button";
    btn.addEventListener("click", function (ev) {
      ev.stopPropagation();
      var full = body.textContent.length > LIMIT + 1;
      body.textContent = full ? s.slice(0, LIMIT) + "…" : s;
      btn.textContent = full ? "show all " + s.length + " characters" : "show less";
    });
    return add(el("div"), add(box, body), btn);
  }
  function fmt(v, mi) {
    if (v === null || v === undefined) return "—";
    var u = mi === undefined ? "ratio" : D.units[mi];
    var d = u === "tokens" ? 0 : (u === "usd" ? 5 : 3);
    return Number(v).toFixed(d);
  }
  function option(sel, value, label) { var o = el("option", null, label); o.value = value; sel.appendChild(o); }

  var $ = function (id) { return document.getElementById(id); };
  var fSystem = $("f-system"), fTask = $("f-task"), fTag = $("f-tag"), fStatus = $("f-status"),
      fMetric = $("f-metric"), fMin = $("f-min"), fMax = $("f-max"), fText = $("f-text");
  option(fSystem, "", "any system");
  D.systems.forEach(function (s) { option(fSystem, s, s); });
  option(fTask, "", "any");
  D.taskTypes.forEach(function (t) { option(fTask, t, t); });
  option(fTag, "", "any");
  D.tags.forEach(function (t) { option(fTag, t, t); });
  [["", "any"], ["ok", "response: answered"], ["failed", "response: failed"], ["s", "metric: scored"],
   ["u", "metric: unscored"], ["e", "metric: error"]].forEach(function (p) { option(fStatus, p[0], p[1]); });
  option(fMetric, "", "(none)");
  D.metrics.forEach(function (m, i) { option(fMetric, String(i), m); });

  function result(r, mi) {
    for (var i = 0; i < r.m.length; i++) if (r.m[i][0] === mi) return r.m[i];
    return null;
  }
  function numOrNull(input) { return input.value === "" || isNaN(Number(input.value)) ? null : Number(input.value); }

  function systemMatches(r, status, mi, lo, hi) {
    if (!r) return false;
    if (status === "ok" && r.err) return false;
    if (status === "failed" && !r.err) return false;
    var m = mi === null ? null : result(r, mi);
    if (status === "s" || status === "u" || status === "e") {
      if (mi === null) { if (!r.m.some(function (x) { return x[1] === status; })) return false; }
      else if (!m || m[1] !== status) return false;
    }
    if (mi !== null && (lo !== null || hi !== null)) {
      if (!m || m[1] !== "s") return false;
      if (lo !== null && m[2] < lo) return false;
      if (hi !== null && m[2] > hi) return false;
    }
    return true;
  }

  var tbody = document.querySelector("#case-table tbody"), thead = document.querySelector("#case-table thead");
  var rows = [];

  function header() {
    thead.textContent = "";
    var tr = el("tr");
    ["case", "task type", "tags", "question"].forEach(function (h) { tr.appendChild(el("th", null, h)); });
    var mi = fMetric.value === "" ? null : Number(fMetric.value);
    D.systems.forEach(function (s) {
      tr.appendChild(el("th", null, s + (mi === null ? "" : " · " + D.metrics[mi])));
    });
    thead.appendChild(tr);
  }

  function summaryCells(row) {
    var mi = fMetric.value === "" ? null : Number(fMetric.value);
    row.sysCells.forEach(function (td, i) {
      var r = row.c.r[D.systems[i]];
      td.textContent = "";
      if (!r) { td.textContent = "·"; return; }
      if (mi === null) {
        td.appendChild(el("span", "badge " + (r.err ? "failed" : "s"), r.err ? "failed" : "ok"));
        return;
      }
      var m = result(r, mi);
      if (!m) { td.textContent = "·"; return; }
      if (m[1] === "s") { td.textContent = fmt(m[2], mi); td.className = "num"; }
      else td.appendChild(el("span", "badge " + m[1], ST[m[1]]));
    });
  }

  function detail(c) {
    var box = el("div");
    add(box, el("h3", null, c.id + " · " + c.t + (c.split ? " · " + c.split : "")));
    if (c.tags.length) add(box, el("p", "n", "tags: " + c.tags.join(", ")));
    if (c.chat) {
      add(box, el("b", null, "Input (chat)"));
      c.chat.forEach(function (m) { add(box, el("div", "n", m[0]), longText(m[1])); });
    } else {
      add(box, el("b", null, "Question"), longText(c.q === undefined ? "(golden-set text not in this report)" : c.q));
    }
    if (c.g) {
      add(box, el("b", null, "Golden answer"), longText(c.g.answer));
      if (c.g.aliases && c.g.aliases.length) add(box, el("p", "n", "also accepted: " + c.g.aliases.join(" | ")));
      if (c.g.json) add(box, el("div", "n", "expected JSON"), longText(c.g.json));
      if (c.g.pattern) add(box, el("p", "n", "house format: " + c.g.pattern));
    } else if (c.ans === false) {
      add(box, el("p", null, "Unanswerable: the right answer is to abstain."));
    }
    if (c.rubric) add(box, el("div", "n", "rubric"), longText(c.rubric));
    var rel = c.rel || {};
    var relIds = Object.keys(rel);
    if (relIds.length) add(box, el("p", "n", "relevant documents: " + relIds.map(function (d) {
      return d + " (grade " + rel[d] + ")"; }).join(", ")));
    var grid = el("div", "answers");
    D.systems.forEach(function (s) {
      var r = c.r[s];
      if (!r) return;
      var card = el("div", "card" + (r.err ? " failed" : ""));
      card.setAttribute("data-system", s);
      add(card, el("h4", null, s + " (" + D.letters[s] + ")"));
      if (r.err) add(card, el("div", "badge failed", "failed"), longText(r.err));
      add(card, el("b", null, "Answer"), longText(r.a, "txt answer"));
      if (r.je) add(card, el("p", "n", "JSON: " + r.je));
      var facts = [];
      if (r.lat !== null) facts.push(fmt(r.lat) + " s");
      if (r.tok[0] !== null || r.tok[1] !== null) facts.push((r.tok[0] === null ? "?" : r.tok[0]) + " + " +
        (r.tok[1] === null ? "?" : r.tok[1]) + " tokens");
      if (r.cost !== null) facts.push("$" + Number(r.cost).toPrecision(3));
      if (r.route !== null) facts.push("route: " + r.route);
      if (facts.length) add(card, el("p", "n", facts.join(" · ")));
      if (r.ret) {
        add(card, el("b", null, "Retrieved"));
        var ol = el("ol", "ret");
        r.ret.forEach(function (d) {
          var li = el("li", null, d[0] + (d[1] === null ? "" : " (" + Number(d[1]).toPrecision(4) + ")"));
          if (Object.prototype.hasOwnProperty.call(rel, d[0]) && rel[d[0]] >= 1) {
            li.className = "rel";
            li.appendChild(el("span", null, " ✓ relevant"));
          }
          ol.appendChild(li);
        });
        card.appendChild(ol);
      }
      // scored and errored results first; the unscored ones (the metric does not apply) folded away
      function metricTable(list) {
        var t = el("table", "grid mres"), tb = el("tbody");
        list.forEach(function (m) {
          var tr = el("tr"), v = el("td", "num");
          if (m[1] === "s") v.textContent = fmt(m[2], m[0]);
          else v.appendChild(el("span", "badge " + m[1], ST[m[1]]));
          add(tr, el("td", null, D.metrics[m[0]]), v, el("td", "reason", m[3] === null ? "" : D.reasons[m[3]]));
          tb.appendChild(tr);
        });
        return add(t, tb);
      }
      var shownM = r.m.filter(function (m) { return m[1] !== "u"; });
      var unscored = r.m.filter(function (m) { return m[1] === "u"; });
      add(card, el("b", null, "Metrics"), metricTable(shownM));
      if (unscored.length) {
        var more = el("details"), sum = el("summary", "n", unscored.length + " unscored");
        add(card, add(more, sum, metricTable(unscored)));
      }
      grid.appendChild(card);
    });
    box.appendChild(grid);
    return box;
  }

  function toggle(row, show) {
    var open = show === undefined ? !row.detail : show;
    if (!open && row.detail) { row.detail.remove(); row.detail = null; row.tr.classList.remove("open"); }
    if (open && !row.detail) {
      var tr = el("tr", "detail"), td = el("td");
      td.colSpan = 4 + D.systems.length;
      td.appendChild(detail(row.c));
      tr.appendChild(td);
      row.tr.after(tr);
      row.detail = tr;
      row.tr.classList.add("open");
    }
  }

  D.cases.forEach(function (c) {
    var tr = el("tr", "case");
    tr.id = "case:" + c.k;
    tr.setAttribute("data-case", c.id);
    var q = c.q === undefined ? "" : String(c.q);
    add(tr, el("td", null, c.id), el("td", null, c.t), el("td", "n", c.tags.join(", ")),
        el("td", "q", q.length > 140 ? q.slice(0, 140) + "…" : q));
    var row = {c: c, tr: tr, sysCells: [], detail: null};
    D.systems.forEach(function () { var td = el("td"); row.sysCells.push(td); tr.appendChild(td); });
    tr.addEventListener("click", function () { toggle(row); });
    rows.push(row);
    tbody.appendChild(tr);
  });

  function apply() {
    var sys = fSystem.value, task = fTask.value, tag = fTag.value, status = fStatus.value;
    var mi = fMetric.value === "" ? null : Number(fMetric.value);
    var lo = numOrNull(fMin), hi = numOrNull(fMax), text = fText.value.trim().toLowerCase();
    var systems = sys ? [sys] : D.systems, shown = 0;
    rows.forEach(function (row) {
      var c = row.c;
      var ok = (!task || c.t === task) && (!tag || c.tags.indexOf(tag) >= 0) &&
        (!text || c.id.toLowerCase().indexOf(text) >= 0 || (c.q && String(c.q).toLowerCase().indexOf(text) >= 0));
      if (ok && (status || mi !== null)) {
        ok = systems.some(function (s) { return systemMatches(c.r[s], status, mi, lo, hi); });
      }
      row.tr.hidden = !ok;
      if (row.detail) row.detail.hidden = !ok;
      if (ok) shown++;
      summaryCells(row);
    });
    $("f-count").textContent = shown + " of " + rows.length + " cases";
  }
  [fSystem, fTask, fTag, fStatus, fMetric].forEach(function (s) {
    s.addEventListener("change", function () { header(); apply(); });
  });
  [fMin, fMax, fText].forEach(function (s) { s.addEventListener("input", apply); });
  $("f-reset").addEventListener("click", function () {
    [fSystem, fTask, fTag, fStatus, fMetric].forEach(function (s) { s.value = ""; });
    [fMin, fMax, fText].forEach(function (s) { s.value = ""; });
    header(); apply();
  });
  $("filters").addEventListener("submit", function (ev) { ev.preventDefault(); });
  header();
  apply();

  // a link to a number inside a closed <details>, or to a case, opens it
  function reveal() {
    var id;
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (err) { return; }
    if (!id) return;
    var target = document.getElementById(id);
    if (!target && id.indexOf("case:") === 0) {
      var bare = id.slice(5);
      rows.some(function (r) { if (r.c.id === bare) { target = r.tr; return true; } return false; });
    }
    if (!target) return;
    for (var p = target.parentElement; p; p = p.parentElement) if (p.tagName === "DETAILS") p.open = true;
    var row = null;
    rows.some(function (r) { if (r.tr === target) { row = r; return true; } return false; });
    if (row) { row.tr.hidden = false; toggle(row, true); }
    target.scrollIntoView({block: "center"});
    document.querySelectorAll(".target").forEach(function (x) { x.classList.remove("target"); });
    target.classList.add("target");
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();
"""


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    # nothing may load: no script but ours (by hash), no request of any kind
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'")  # fmt: skip


def _cited(decision: Any) -> list[str]:
    """Every reference id the decision's sentences and checks cite."""
    refs = [str(r) for sent in _get(decision, "sentences") or () for r in (_get(sent, "refs") or ())]
    refs += [str(_get(c, "ref")) for c in _get(decision, "checks") or () if _get(c, "ref")]
    return refs


def _letters_mismatch(page: _Page, comparisons: Sequence[Any]) -> int:
    """How many significant comparisons the letters do not show under the page's column letters (letters made
    with another system order would name the wrong systems)."""
    if not page.letters:
        return 0
    bad = 0
    for c in comparisons:
        winner = _get(c, "winner")
        a, b = _get(c, "system_a"), _get(c, "system_b")
        if winner is None or a not in page.letter or b not in page.letter:
            continue
        loser = b if winner == a else a
        if page.letter[loser] not in page.letters.get((_get(c, "metric"), _get(c, "slice"), winner), ""):
            bad += 1
    return bad


def render_html(
    summary: RunSummary,
    *,
    gates: Sequence[GateResult] = (),
    comparisons: Iterable[Any] = (),
    letters: Mapping[tuple[str, str, str], str] | None = None,
    power: Mapping[str, Any] | None = None,
    attribution: Any = None,
    latency: Any = None,
    cost: Any = None,
    decision: Any = None,
    cases: Mapping[tuple[str, str], Case] | None = None,
    tag_cells: Iterable[Cell] = (),
) -> str:
    """The decision report of ``summary`` as one self-contained HTML page.

    Every input but ``summary`` is optional; an absent one's section says "not computed".  Records are
    read by field name (the classes named are what :mod:`ragft_eval.stats` returns):

    - ``gates``: ``GateResult`` records;
    - ``comparisons``: ``Comparison`` records (``compare_systems``); row ids ``cmp:<metric>/<slice>/<a>/<b>``;
    - ``letters``: ``significance_letters(comparisons, systems)`` with ``systems`` in the page's column
      order, ``table.systems_of(summary.cells)`` (names sorted), so that a is the first column;
    - ``power``: ``power_by_slice(...)`` (slice -> record with ``n_paired`` and ``mdd``), or metric -> that;
    - ``attribution``: ``SystemAttribution`` records (``attribute``); row ids ``attr:<system>``;
    - ``latency``: ``LatencyStats`` records (``cost.latency``); row ids ``latency:<system>``;
    - ``cost``: a mapping with ``costs`` (``CostStats``; row ids ``cost:<system>``), and optionally
      ``projections`` (``Projection``), ``break_evens`` (``BreakEven``), ``tokens`` (``TokenStats``) and
      ``pareto``: ``{"points": {system: (quality, usd_per_query)}, "front": pareto_front(points),
      "metric": name, "slice": slice}``; or just the ``CostStats`` sequence;
    - ``decision``: a ``Decision`` (``decide``): its sentences link to the ids above and to the cells,
      ``cell:<system>/<slice>/<metric>``;
    - ``cases``: ``{(golden_set, case_id): Case}``, the golden text of the case browser;
    - ``tag_cells``: ``decision.tag_cells(...)`` of tags to show as slices (and to link to).
    """
    comparisons = list(comparisons)
    page = _Page(summary, letters, list(tag_cells), _cited(decision) if decision is not None else ())
    m = summary.manifest
    # the sections that give out ids come before the decision, which links to them
    headline = _headline(page, power)
    headline_chart = _charts_or_note(_chart_headline, page)
    overall = _overall(page)
    slices = _slices(page, power)
    compared = _comparisons(page, comparisons)
    lat = _latency(page, latency, _charts_or_note(_chart_latency, page, latency))
    cst = _cost(page, cost, _charts_or_note(_chart_cost, page, cost))
    attr = _attribution(page, attribution)
    decided = _decision(page, decision)
    mismatch = _letters_mismatch(page, comparisons)
    if mismatch:
        warning = (f'<p class="warn">⚠ The significance letters disagree with {mismatch} significant comparisons: '
                   "they were made with another system order than the columns (a = first column).</p>")  # fmt: skip
        headline = headline.replace('<p class="legend">', warning + '<p class="legend">', 1)
    data = case_data(summary, cases)
    script = _JS
    failed = [g for g in gates if not _get(g, "passed")]
    gate_line = ""
    if gates:
        gate_line = (f'<p class="warn">Gates failed: {_e("; ".join(str(_get(g, "message")) for g in failed))}</p>'
                     if failed else "<p>Every gate passed.</p>")  # fmt: skip
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("decision", "Decision"), ("headline", "Headline"), ("overall", "Overall"), ("slices", "Slices"),
        ("comparisons", "Comparisons"), ("latency", "Latency"), ("cost", "Cost"), ("attribution", "Failures"),
        ("judge", "Judge"), ("gates", "Gates"), ("cases-browser", "Cases"), ("manifest", "Manifest")))  # fmt: skip
    golden = ", ".join(f"{name} {m.golden_set_versions.get(name, '')} ({h[:19]})" for name, h in m.golden_sets.items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_csp(script))}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(m.suite_name)} · {_e(m.run_id)} · ragft-eval report</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<header class="top"><h1>{_e(m.suite_name)}: which architecture to ship</h1>'
        f'<p class="n">run {_e(m.run_id)} · {_e(m.created_at)} · status {_e(summary.status)} · '
        f"{len(page.systems)} systems × {len(data['cases'])} cases · golden set {_e(golden)}</p>"
        f"<p>{_e(m.suite_config.get('description') or '')}</p>{gate_line}</header>",
        f"<nav>{nav}</nav><main>",
        decided,
        headline.replace("</section>", headline_chart + "</section>", 1),
        overall,
        slices,
        compared,
        lat,
        cst,
        attr,
        _judge(page),
        _gates(gates),
        _browser(data),
        _manifest(summary),
        "</main>",
        f'<script type="application/json" id="cases">{json_for_script(data)}</script>',
        f"<script>{script}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_html(
    summary: RunSummary,
    folder: str | Path,
    *,
    gates: Sequence[GateResult] = (),
    comparisons: Iterable[Any] = (),
    letters: Mapping[tuple[str, str, str], str] | None = None,
    power: Mapping[str, Any] | None = None,
    attribution: Any = None,
    latency: Any = None,
    cost: Any = None,
    decision: Any = None,
    cases: Mapping[tuple[str, str], Case] | None = None,
    tag_cells: Iterable[Cell] = (),
) -> Path:
    """Write :func:`render_html` to ``folder/report.html`` (creating the folder) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_FILE
    text = render_html(summary, gates=gates, comparisons=comparisons, letters=letters, power=power,
                       attribution=attribution, latency=latency, cost=cost, decision=decision, cases=cases,
                       tag_cells=tag_cells)  # fmt: skip
    path.write_text(text, encoding="utf-8")
    return path
