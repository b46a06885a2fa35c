"""Gate results for CI: JUnit XML (one test case per gate) and a Markdown summary fit for a pull-request
comment or ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree as ET

from ..gates import Gate, GateResult
from ..stats import RunComparison, RunSummary


def gate_test_name(g: GateResult | Gate) -> str:
    """A gate's test name: the gate, then its system and slice where it has them (from its result, or from
    its declaration, so that a test item is named before the run)."""
    parts = [p for p in (getattr(g, "system", None), getattr(g, "slice", None)) if p]
    return f"{g.name}[{'-'.join(parts)}]" if parts else g.name


def junit_xml(results: Sequence[GateResult], *, suite: str, run_id: str) -> str:
    """JUnit XML: a ``testsuite`` named after the suite, a ``testcase`` per gate, a ``failure`` per failed gate."""
    failures = sum(not g.passed for g in results)
    skipped = sum(g.skipped for g in results)
    root = ET.Element("testsuites", name="ragft-eval", tests=str(len(results)), failures=str(failures))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)), failures=str(failures), errors="0",
                       skipped=str(skipped))  # fmt: skip
    ET.SubElement(ET.SubElement(ts, "properties"), "property", name="run_id", value=run_id)
    for g in results:
        tc = ET.SubElement(ts, "testcase", classname=f"ragft_eval.{suite}", name=gate_test_name(g))
        if not g.passed:
            failure = ET.SubElement(tc, "failure", message=g.message[:500], type=g.kind)
            failure.text = failure_text(g)
        elif g.skipped:
            ET.SubElement(tc, "skipped", message=g.message[:500])
        else:
            ET.SubElement(tc, "system-out").text = g.message
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def failure_text(g: GateResult) -> str:
    """What a failed gate prints: the observed value, the bound or baseline, the test, the cases."""
    lines = [g.message]
    if g.observed is not None:
        ci = f" [{g.ci[0]:.3f}, {g.ci[1]:.3f}]" if g.ci else ""
        lines.append(f"observed: {g.observed:.4f}{ci}" + (f" (n {g.n})" if g.n is not None else ""))
    if g.threshold is not None:
        lines.append(f"threshold: {g.threshold}")
    if g.baseline:
        lines.append(f"baseline: {g.baseline}")
    if g.test:
        lines.append(f"test: {g.test}, p = {g.p_value:.4f}" if g.p_value is not None else f"test: {g.test}")
    if g.regressed:
        shown = ", ".join(g.regressed[:10]) + (f" (+{len(g.regressed) - 10} more)" if len(g.regressed) > 10 else "")
        lines.append(f"regressed (pass -> fail): {shown}")
    if g.worst_cases:
        lines.append(f"worst cases: {', '.join(g.worst_cases)}")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_summary(summary: RunSummary, results: Sequence[GateResult], *,
                     comparison: RunComparison | None = None) -> str:  # fmt: skip
    """The gates of a run as Markdown: a verdict line, a table of gates, and for failures their details."""
    failed = [g for g in results if not g.passed]
    m = summary.manifest
    verdict = "all gates passed" if not failed else f"{len(failed)} of {len(results)} gates failed"
    lines = [f"### ragft-eval: {'✅' if not failed else '❌'} {verdict}", "",
             f"run `{m.run_id}` · suite `{m.suite_name}` · golden sets "
             + ", ".join(f"`{n}` {m.golden_set_versions.get(n, '')} `{h[:19]}`" for n, h in m.golden_sets.items()),
             "", "| gate | result | details |", "|---|---|---|"]  # fmt: skip
    for g in results:
        verdict = "skipped" if g.skipped else ("pass" if g.passed else "**FAIL**")
        lines.append(f"| `{_md(gate_test_name(g))}` | {verdict} | {_md(g.message)} |")
    for g in failed:
        lines += ["", f"<details><summary>{_md(gate_test_name(g))}</summary>", "", "```", failure_text(g), "```",
                  "</details>"]  # fmt: skip
    if comparison is not None:
        lines += ["", f"compared with `{comparison.run_a}` on {comparison.shared_cases} shared cases; "
                  f"changed: {', '.join(f'`{c}`' for c in comparison.changed[:20]) or 'nothing recorded'}"]  # fmt: skip
    return "\n".join(lines) + "\n"
