"""The quarterly report: one self-contained HTML file of a window of runs, rendered from
:class:`~ragft_eval.stats.trends.Trends` (nothing is computed here beyond arranging it).

The same pieces as the run report (:mod:`ragft_eval.report.html`): its stylesheet, matplotlib SVG inlined
in the page, every piece of text escaped.  The page has no script at all, so its Content-Security-Policy
allows inline styles and nothing else: no request of any kind.  Each change point has an anchor
(``#change-N``); the markers under each chart link to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..stats.trends import ChangePoint, Series, Step, Trends
from .html import _COLORS, _CSS, _e, _figure, _jsonish, _money, _num, _p, _section, _svg, _tex_safe

QUARTERLY_FILE = "quarterly.html"
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
_EXTRA_CSS = """.marker{font-weight:600}.unexplained{color:var(--bad);font-weight:600}.sigup{color:var(--good)}
.sigdown{color:var(--bad)}.changes td{max-width:40em;overflow-wrap:anywhere}
ul.markers{columns:2;font-size:13px}"""


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else _jsonish(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _day(at: str) -> str:
    return at[:10]


def _verdict(step: Step, alpha: float) -> str:
    if step.difference is None:
        return "no shared cases"
    if not step.significant:
        return f"not significant (Holm p {_p(step.p_holm)})"
    better = (step.difference > 0) == step.higher_is_better
    cls = "sigup" if better else "sigdown"
    word = "better" if better else "worse"
    return f'<span class="{cls}">significantly {word}</span> (Holm p {_p(step.p_holm)} &lt; {alpha:g})'


def _step_line(step: Step, alpha: float) -> str:
    delta = "—" if step.difference is None else f"{step.difference:+.3f}"
    return (f"{_e(step.system)} · {_e(step.metric)}: {_num(step.mean_a)} → {_num(step.mean_b)} ({delta} on "
            f"{step.n_shared} shared cases), {_verdict(step, alpha)}")  # fmt: skip


def _summary(t: Trends) -> str:
    items = []
    for cp in t.change_points:
        steps = [s for s in t.steps if s.change == cp.index]
        moved = [s for s in steps if s.significant]
        what = "; ".join(_step_line(s, t.alpha) for s in moved) or "moved no headline metric significantly"
        items.append(f'<li><a class="marker" href="#change-{cp.index}">#{cp.index}</a> {_e(_day(cp.at))} '
                     f"<b>{_e(', '.join(cp.causes))}</b> changed: {what}</li>")  # fmt: skip
    for s in t.steps:
        if s.unexplained:
            items.append(f'<li><span class="unexplained">unexplained</span> {_e(_day(s.at))}: nothing recorded '
                         f"changed, yet {_step_line(s, t.alpha)}</li>")  # fmt: skip
    body = f"<ul>{''.join(items)}</ul>" if items else "<p>Nothing changed and nothing moved in the window.</p>"
    body += ("<p class=\"n\">Each step between consecutive runs is a paired comparison on the cases both runs "
             "share (same id and content hash; sign-flip test), Holm-corrected per system and metric across every "
             f"step of the window, at {t.alpha:g}. A significant step with no recorded change is unexplained "
             "(a hosted model changed under the same name, a drifting endpoint).</p>")  # fmt: skip
    return _section("summary", "What changed, and what it did", body)


def _chart(t: Trends, s: Series, name: str) -> str:
    fig = _figure(7.0, 2.8)
    ax = fig.subplots()
    index = {run: i for i, (run, _) in enumerate(t.runs)}
    for seg in sorted({p.segment for p in s.points}):
        pts = [p for p in s.points if p.segment == seg and p.mean is not None]
        xs = [index[p.run_id] for p in pts]
        lo = [p.mean - p.ci_low if p.ci_low is not None else 0 for p in pts]
        hi = [p.ci_high - p.mean if p.ci_high is not None else 0 for p in pts]
        ax.errorbar(xs, [p.mean for p in pts], yerr=[lo, hi], fmt="o-", ms=4, lw=1.5, capsize=3,
                    color=_COLORS[seg % len(_COLORS)], label=f"golden set segment {seg + 1}")  # fmt: skip
    for cp in t.change_points:
        x = index[cp.run_b] - 0.5
        ax.axvline(x, color="#555", ls="--", lw=0.8)
        ax.text(x, 1.0, f"#{cp.index}", transform=ax.get_xaxis_transform(), fontsize=8, ha="center", va="bottom",
                url=f"#change-{cp.index}")  # fmt: skip
    for st in t.steps_of(s.system, s.metric):
        if st.unexplained:
            ax.axvline(index[st.run_b] - 0.5, color="#b3261e", ls=":", lw=1.5)
            ax.text(index[st.run_b] - 0.5, 1.0, "?", transform=ax.get_xaxis_transform(), fontsize=9, ha="center",
                    va="bottom", color="#b3261e")  # fmt: skip
    ax.set_xticks(range(len(t.runs)), [_day(at)[5:] for _, at in t.runs], fontsize=7)
    ax.set_xlim(-0.5, len(t.runs) - 0.5)
    ax.set_ylabel(_tex_safe(f"{s.metric} ({s.unit})"), fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3)
    if len({p.segment for p in s.points}) > 1:
        ax.legend(fontsize=7, frameon=False, loc="lower left")
    # the marker labels link to their change point: keep those hrefs as written (the id prefix is for ids)
    return _svg(fig, name).replace(f'xlink:href="#{name}-change-', 'xlink:href="#change-')


def _trends(t: Trends) -> str:
    parts = []
    seg_note = ""
    if len(t.segments) > 1:
        notes = []
        for seg in t.segments[1:]:
            versions = ", ".join(f"{k} {v}" for k, v in seg.golden_sets.items())
            notes.append(f"segment {seg.index + 1} ({_e(versions)}, {seg.cases} cases) shares "
                         f"{seg.shared_with_previous} cases with the one before")  # fmt: skip
        seg_note = ('<p class="warn">The golden set changed in the window: each series is broken at the change, '
                    f"never joined across it; {'; '.join(notes)}. The step across a change is compared on the shared "
                    "cases only.</p>")  # fmt: skip
    for k, s in enumerate(t.series):
        ident = f"trend-{k}"
        chart = _chart(t, s, ident)
        markers = "".join(f'<li><a href="#change-{cp.index}">#{cp.index}</a> {_e(_day(cp.at))}: '
                          f"{_e(', '.join(cp.causes))}</li>" for cp in t.change_points)  # fmt: skip
        rows = "".join(f"<tr><td>{_e(_day(p.at))}</td><td><code>{_e(p.run_id)}</code></td>"
                       f'<td class="num">{_num(p.mean, s.unit)}</td><td class="num">'
                       f"[{_num(p.ci_low, s.unit)}, {_num(p.ci_high, s.unit)}]</td><td class=\"num\">{p.n}</td>"
                       f'<td class="num">{p.segment + 1}</td></tr>' for p in s.points)  # fmt: skip
        parts.append(f"<h3 id=\"series-{k}\">{_e(s.system)} · {_e(s.metric)} {'↑' if s.higher_is_better else '↓'}"
                     f"</h3><figure>{chart}<figcaption>Run means with 95% bootstrap CIs, all cases of each run; "
                     "dashed: a recorded change (#N links to its diff); red dotted ?: an unexplained step.</figcaption>"
                     f'</figure><ul class="markers">{markers}</ul><details><summary>The numbers</summary>'
                     '<table class="grid small"><thead><tr><th>date</th><th>run</th><th>mean</th><th>95% CI</th>'
                     f"<th>cases</th><th>segment</th></tr></thead><tbody>{rows}</tbody></table></details>")  # fmt: skip
    return _section("trends", "Headline metrics over time", seg_note + "".join(parts))


def _change(t: Trends, cp: ChangePoint) -> str:
    rows = "".join(f"<tr><td><code>{_e(c.key)}</code></td><td>{_e(c.cause)}</td><td>{_short(c.old)}</td>"
                   f"<td>{_short(c.new)}</td></tr>" for c in cp.changes)  # fmt: skip
    steps = "".join(f"<li>{_step_line(s, t.alpha)}</li>" for s in t.steps if s.change == cp.index)
    return (f'<article id="change-{cp.index}"><h3>#{cp.index} · {_e(_day(cp.at))} · {_e(", ".join(cp.causes))}</h3>'
            f"<p>Runs <code>{_e(cp.run_a)}</code> → <code>{_e(cp.run_b)}</code>: {cp.shared_cases} shared cases "
            f"(only before: {cp.only_a}, only after: {cp.only_b}).</p><ul>{steps}</ul>"
            '<details open><summary>The manifest diff</summary><table class="grid small changes"><thead><tr>'
            f"<th>key</th><th>cause</th><th>before</th><th>after</th></tr></thead><tbody>{rows}</tbody></table>"
            "</details></article>")  # fmt: skip


def _changes(t: Trends) -> str:
    if not t.change_points:
        return _section("changes", "Change points", "<p>No recorded change in the window.</p>")
    return _section("changes", "Change points", "".join(_change(t, cp) for cp in t.change_points))


def _steps(t: Trends) -> str:
    rows = []
    for s in t.steps:
        label = (f'<a href="#change-{s.change}">#{s.change}</a>' if s.change is not None else
                 '<span class="unexplained">unexplained</span>' if s.unexplained else "—")  # fmt: skip
        rows.append(f"<tr><td>{_e(_day(s.at))}</td><td>{_e(s.system)}</td><td>{_e(s.metric)}</td><td>{label}</td>"
                    f'<td class="num">{s.n_shared}</td><td class="num">{_num(s.mean_a)}</td>'
                    f'<td class="num">{_num(s.mean_b)}</td><td class="num">'
                    f"{'—' if s.difference is None else f'{s.difference:+.3f}'}</td>"
                    f'<td class="num">{_p(s.p_value)}</td><td class="num">{_p(s.p_holm)}</td>'
                    f"<td>{'yes' if s.significant else 'no'}</td></tr>")  # fmt: skip
    head = ("<tr><th>date</th><th>system</th><th>metric</th><th>change</th><th>shared</th><th>before</th>"
            "<th>after</th><th>after − before</th><th>p</th><th>Holm p</th><th>significant</th></tr>")  # fmt: skip
    body = (f'<details><summary>Every step ({len(rows)})</summary><table class="grid small"><thead>{head}</thead>'
            f"<tbody>{''.join(rows)}</tbody></table></details>")  # fmt: skip
    return _section("steps", "Every step between consecutive runs", body)


def _ops(t: Trends) -> str:
    if not t.ops:
        return _section("ops", "Latency and cost over time", "<p>No latency or cost was recorded.</p>")
    index = {run: i for i, (run, _) in enumerate(t.runs)}
    systems = sorted({o.system for o in t.ops})
    fig = _figure(7.0, 3.6)
    lat, cost = fig.subplots(2, 1, sharex=True)
    for k, system in enumerate(systems):
        rows = [o for o in t.ops if o.system == system]
        color = _COLORS[k % len(_COLORS)]
        lat.plot([index[o.run_id] for o in rows if o.p50_s is not None], [o.p50_s for o in rows if o.p50_s is not None],
                 "o-", ms=3, color=color, label=f"{_tex_safe(system)} p50")  # fmt: skip
        lat.plot([index[o.run_id] for o in rows if o.p95_s is not None], [o.p95_s for o in rows if o.p95_s is not None],
                 "s--", ms=3, color=color, label=f"{_tex_safe(system)} p95")  # fmt: skip
        got = [o for o in rows if o.usd_per_query is not None]
        cost.plot([index[o.run_id] for o in got], [o.usd_per_query * 1000 for o in got], "o-", ms=3, color=color,
                  label=_tex_safe(system))  # fmt: skip
    for cp in t.change_points:
        for ax in (lat, cost):
            ax.axvline(index[cp.run_b] - 0.5, color="#555", ls="--", lw=0.8)
    lat.set_ylabel("latency (s)", fontsize=8)
    cost.set_ylabel("USD per 1k queries", fontsize=8)
    cost.set_xticks(range(len(t.runs)), [_day(at)[5:] for _, at in t.runs], fontsize=7)
    for ax in (lat, cost):
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False, ncols=2, loc="upper right")
    rows = "".join(f"<tr><td>{_e(_day(o.at))}</td><td>{_e(o.system)}</td><td class=\"num\">{_num(o.p50_s, 's')}</td>"
                   f'<td class="num">{_num(o.p95_s, "s")}</td><td class="num">{_money(o.usd_per_query)}</td></tr>'
                   for o in t.ops)  # fmt: skip
    body = (f"<figure>{_svg(fig, 'ops')}<figcaption>Per system and run: p50 and p95 latency of successful cases, "
            "and the system's own cost per 1,000 queries; dashed: recorded changes.</figcaption></figure>"
            '<details><summary>The numbers</summary><table class="grid small"><thead><tr><th>date</th><th>system</th>'
            "<th>p50 s</th><th>p95 s</th><th>cost per query</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details>")  # fmt: skip
    return _section("ops", "Latency and cost over time", body)


def _gates(t: Trends) -> str:
    names = sorted({r[0] for g in t.gates for r in g.results})
    if not names:
        return _section("gates", "Gate history", "<p>No gate results are stored for these runs.</p>")
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = []
    for g in t.gates:
        by = {r[0]: r for r in g.results}
        cells = "".join(
            "<td>—</td>" if n not in by else
            f'<td class="{"pass" if by[n][1] else "fail"}" title="{_e(by[n][3])}">'
            f"{'skipped' if by[n][2] else 'passed' if by[n][1] else '<b>FAILED</b>'}</td>"
            for n in names
        )  # fmt: skip
        rows.append(f"<tr><td>{_e(_day(g.at))}</td><td><code>{_e(g.run_id)}</code></td>{cells}"
                    f"<td>{_e(g.baseline or '—')}</td></tr>")  # fmt: skip
    body = (f'<table class="grid small"><thead><tr><th>date</th><th>run</th>{head}<th>baseline</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")  # fmt: skip
    return _section("gates", "Gate history", body)


def _decision(t: Trends) -> str:
    d = t.latest_decision
    if d is None and not t.decisions:
        return _section("decision", "Decision", '<p class="nc">Not computed: the suite states no decide: constraints.'
                        "</p>")  # fmt: skip
    verdict = '<p class="verdict">On the latest run: no system is chosen</p>'
    if d is not None and d.choice:
        verdict = f'<p class="verdict">On the latest run: ship <b>{_e(d.choice)}</b> ({_e(d.lead)})</p>'
    because = "".join(f"<li>{_e(s.text)}</li>" for s in (d.sentences if d is not None else ()))
    changed = ('<p class="warn">The decision changed during the window.</p>' if t.decision_changed
               else "<p>The decision did not change during the window.</p>")  # fmt: skip
    rows = "".join(f"<tr><td>{_e(_day(at))}</td><td><code>{_e(run)}</code></td><td>{_e(choice or 'none')}</td></tr>"
                   for run, at, choice in t.decisions)  # fmt: skip
    body = (verdict + (f'<ol class="because">{because}</ol>' if because else "") + changed
            + '<table class="grid small"><thead><tr><th>date</th><th>run</th><th>choice</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")  # fmt: skip
    return _section("decision", "Decision", body)


def _judge(calibrations: Sequence[Mapping[str, Any]], drift: Mapping[str, Any] | None) -> str:
    parts = []
    if drift:
        rows = "".join(
            f"<tr><td>{_e(m.get('metric'))}</td><td class=\"num\">{m.get('n')}</td>"
            f'<td class="num">{_num(m.get("agreement"))}</td><td class="num">{_num(m.get("kappa"))} '
            f"[{_num((m.get('kappa_ci') or [None, None])[0])}, {_num((m.get('kappa_ci') or [None, None])[1])}]</td>"
            f'<td class="num">{_num(m.get("flipped"))}</td><td class="num">{_num(m.get("noise"))}</td>'
            f'<td class="num">{_num(m.get("excess"))} [{_num((m.get("excess_ci") or [None, None])[0])}, '
            f'{_num((m.get("excess_ci") or [None, None])[1])}]</td><td class="num">{_num(m.get("tolerance"))}</td>'
            f"<td>{'<b>drift</b>' if m.get('drifted') else 'within tolerance'}</td></tr>"
            for m in drift.get("metrics", [])
        )  # fmt: skip
        parts.append(f"<h3>Latest drift check ({_e(drift.get('checked_at', ''))})</h3>"
                     '<table class="grid small"><thead><tr><th>metric</th><th>n</th><th>agreement</th><th>kappa</th>'
                     "<th>flipped</th><th>own noise</th><th>beyond noise [95% CI]</th><th>tolerance</th>"
                     "<th>verdict</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")  # fmt: skip
    if calibrations:
        rows = "".join(f"<tr><td>{_e(c.get('set'))}</td><td class=\"num\">{_num(c.get('kappa'))}</td>"
                       f"<td>{'reliable' if c.get('reliable') else 'unreliable'}</td>"
                       f"<td>{_e(c.get('created_at', ''))}</td></tr>" for c in calibrations)  # fmt: skip
        parts.append('<h3>Latest calibrations</h3><table class="grid small"><thead><tr><th>set</th><th>kappa</th>'
                     f"<th>verdict</th><th>stored</th></tr></thead><tbody>{rows}</tbody></table>")  # fmt: skip
    body = "".join(parts) or "<p>No judge drift check or calibration is stored for this suite's judge.</p>"
    return _section("judge", "Judge: drift and calibration", body)


def render_quarterly(t: Trends, *, calibrations: Sequence[Mapping[str, Any]] = (),
                     drift: Mapping[str, Any] | None = None) -> str:  # fmt: skip
    """The quarterly report of ``t`` as one self-contained page.  ``calibrations``: the judge's latest stored
    calibrations; ``drift``: the latest stored drift check (a ``judges.drift.DriftReport`` as a dict)."""
    window = f"{_day(t.runs[0][1])} – {_day(t.runs[-1][1])}" if t.runs else "no runs"
    systems = sorted({s.system for s in t.series})
    nav = "".join(f'<a href="#{a}">{n}</a>' for a, n in (
        ("summary", "Summary"), ("trends", "Trends"), ("changes", "Change points"), ("ops", "Latency and cost"),
        ("gates", "Gates"), ("decision", "Decision"), ("judge", "Judge"), ("steps", "Every step")))  # fmt: skip
    notes = "".join(f'<p class="n">{_e(n)}</p>' for n in t.notes)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(t.suite)} · {_e(window)} · ragft-eval quarterly report</title>",
        f"<style>{_CSS}\n{_EXTRA_CSS}</style></head><body>",
        f'<header class="top"><h1>{_e(t.suite)}: the quarter, {_e(window)}</h1>'
        f'<p class="n">{len(t.runs)} runs · {len(systems)} systems ({_e(", ".join(systems))}) · '
        f"{len(t.change_points)} recorded changes · {sum(1 for s in t.steps if s.unexplained)} unexplained steps</p>"
        f"{notes}</header>",
        f"<nav>{nav}</nav><main>",
        _summary(t),
        _trends(t),
        _changes(t),
        _ops(t),
        _gates(t),
        _decision(t),
        _judge(calibrations, drift),
        _steps(t),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_quarterly(t: Trends, folder: str | Path, *, calibrations: Sequence[Mapping[str, Any]] = (),
                    drift: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
    """Write :func:`render_quarterly` to ``folder/quarterly.html`` (creating the folder); its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / QUARTERLY_FILE
    path.write_text(render_quarterly(t, calibrations=calibrations, drift=drift), encoding="utf-8")
    return path
