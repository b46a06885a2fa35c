"""The compare view of two runs: one self-contained HTML page (no script, no network) with what changed
between the runs, the paired differences per system, metric and slice, and the regressed cases with the
two runs' answers side by side.  Every piece of text is escaped."""

from __future__ import annotations

from html import escape
from pathlib import Path

from ..stats import RunComparison, RunSummary

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1a1a2e}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccd;padding:4px 8px;vertical-align:top;text-align:left}th{background:#f3f4f8}
.sig{font-weight:600}.worse{color:#b00020}.better{color:#00703c}pre{white-space:pre-wrap;margin:0;max-width:48em}
code{background:#f3f4f8;padding:0 3px}"""


def _answers(summary: RunSummary) -> dict[tuple[str, str], str]:
    return {(cr.system, f"{cr.golden_set}/{cr.case_id}"): (cr.response.answer or (
        f"(error: {cr.response.error.type}: {cr.response.error.message})" if cr.response.error else ""))
        for cr in summary.results}  # fmt: skip


def render_compare(a: RunSummary, b: RunSummary, comparison: RunComparison, *, max_cases: int = 50) -> str:
    """The page for ``comparison`` (``b`` against ``a``)."""
    e = escape
    rows = []
    for d in comparison.deltas:
        if d.difference is None:
            continue
        worse = (d.difference < 0) == d.higher_is_better and d.difference != 0
        cls = ("sig " if d.significant else "") + ("worse" if worse else "better" if d.difference else "")
        rows.append(f"<tr class='{cls}'><td>{e(d.system)}</td><td>{e(d.metric)}</td><td>{e(d.slice)}</td>"
                    f"<td>{d.mean_a:.3f}</td><td>{d.mean_b:.3f}</td><td>{d.difference:+.3f}</td><td>{d.n_shared}</td>"
                    f"<td>{'' if d.p_holm is None else f'{d.p_holm:.4f}'}</td><td>{len(d.regressed)}</td>"
                    f"<td>{len(d.improved)}</td></tr>")  # fmt: skip
    ans_a, ans_b = _answers(a), _answers(b)
    regressed = []
    seen: set[tuple[str, str]] = set()
    for d in comparison.deltas:
        for case in d.regressed:
            if (d.system, case) in seen or len(seen) >= max_cases:
                continue
            seen.add((d.system, case))
            regressed.append(f"<tr><td>{e(d.system)}</td><td><code>{e(case)}</code></td><td>{e(d.metric)}</td>"
                             f"<td><pre>{e(ans_a.get((d.system, case), ''))}</pre></td>"
                             f"<td><pre>{e(ans_b.get((d.system, case), ''))}</pre></td></tr>")  # fmt: skip
    changed = "".join(f"<li><code>{e(c)}</code></li>" for c in comparison.changed) or "<li>nothing recorded</li>"
    head = ("<tr><th>system</th><th>metric</th><th>slice</th><th>run A</th><th>run B</th><th>B − A</th>"
            "<th>shared</th><th>Holm p</th><th>regressed</th><th>improved</th></tr>")  # fmt: skip
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{e(comparison.run_b)} vs {e(comparison.run_a)}</title><style>{_CSS}</style></head><body>
<h1>{e(comparison.run_b)} against {e(comparison.run_a)}</h1>
<p>{comparison.shared_cases} shared cases (same id and content hash); only in A: {comparison.only_a}; only in B:
{comparison.only_b}. Differences are B − A, paired on the shared cases, sign-flip test, Holm across the systems of
one metric and slice; bold rows are significant at 0.05.</p>
<h2>What changed between the runs</h2><ul>{changed}</ul>
<h2>Differences</h2><table>{head}{"".join(rows)}</table>
<h2>Regressed cases (pass in A, fail in B): the answers side by side</h2>
<table><tr><th>system</th><th>case</th><th>metric</th><th>run A</th><th>run B</th></tr>{"".join(regressed)}</table>
</body></html>
"""


def write_compare(a: RunSummary, b: RunSummary, comparison: RunComparison, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_compare(a, b, comparison), encoding="utf-8")
    return path
