"""Judge-based metrics: ``judge_grade``, ``judge_style``, ``judge_pairwise`` and ragas ``faithfulness``.

All read the suite's judge (``ScoreContext.judge``, configured independently of the systems under test), or
the judge of the suite's ``judges:`` the metric names (``judge: NAME``); ``judge_call`` says which call of
the judge a metric makes, so a judge that cannot make it is refused when the suite is built.
With ``judge.repeats: N`` each judgment runs N times (seed = base seed + repeat); the result is the
mean of the usable verdicts, with the per-case spread and whether the verdict flipped in ``details``.
No usable verdict is ``unscored`` (raw outputs kept); a failing judge endpoint is an ``error`` with
``details.stage = "judge"`` — counted apart from the system's own errors.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..judges import Judge, Verdict, swap_verdicts
from ..judges.correctness_pairs import NO_ANSWER_REFERENCE  # the learned grader trains on the same text
from ..records import Case, MetricResult, Response
from ..registry import register
from ._base import BaseMetric, ScoreContext

DEFAULT_RUBRIC = "The answer must state the same facts as the reference; extra correct detail is fine."


def _verdict_details(v: Verdict) -> dict[str, Any]:
    return {"status": v.status, "score": v.score, "label": v.label, "reason": v.reason, "problem": v.problem,
            "raw": v.raw[:1000], "params": v.params, "prompt_tokens": v.prompt_tokens,
            "completion_tokens": v.completion_tokens, "latency_s": v.latency_s, "cost_usd": v.cost_usd,
            "attempts": v.attempts}  # fmt: skip


class JudgedMetric(BaseMetric):
    """Shared plumbing: repeats, combining verdicts, judge errors."""

    needs_judge: bool = True
    judge_call: str = "grade"  # the Judge method the metric calls (checked against a judge's ``capabilities``)

    def judge(self, ctx: ScoreContext) -> Judge:
        judge = ctx.judge
        if judge is None:
            raise RuntimeError(f"metric {self.name!r} needs a judge: add judge: to the suite")
        return judge

    async def verdicts(self, ctx: ScoreContext, call) -> list[Verdict]:
        judge = self.judge(ctx)
        return [await call(judge, r) for r in range(judge.spec.repeats)]

    def combine(self, verdicts: list[Verdict]) -> MetricResult:
        ok = [v for v in verdicts if v.status == "ok" and v.score is not None]
        first = verdicts[0]
        details = {"judge_model": first.judge_model, "template_hash": first.template_hash,
                   "verdicts": [_verdict_details(v) for v in verdicts]}  # fmt: skip
        if all(v.status == "error" for v in verdicts):
            return self.error(f"judge error: {first.problem}", stage="judge", **details)
        if not ok:
            statuses = ", ".join(sorted({v.status for v in verdicts}))
            return self.unscored(f"no usable judge verdict ({statuses}): {verdicts[0].problem}", **details)
        scores = [v.score for v in ok]
        labels = {v.label for v in ok if v.label is not None}
        details |= {"spread": max(scores) - min(scores), "flipped": len(labels) > 1, "n_usable": len(ok)}
        return self.scored(sum(scores) / len(scores), **details)


@register("metric", "judge_grade")
class JudgeGrade(JudgedMetric):
    """Reference-guided grading with a rubric: the judge's score on the configured scale, normalised to
    [0, 1], with a pass/fail verdict and reason.  Unanswerable cases are graded against "declines"."""

    name = "judge_grade"

    def undefined_reason(self, case: Case) -> str | None:
        if case.answerable and not (case.expected and (case.expected.answers or case.expected.json_value is not None)):
            return "no reference answer for this case"
        return None

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        if not case.answerable:
            reference = NO_ANSWER_REFERENCE
        elif case.expected.json_value is not None:
            reference = json.dumps(case.expected.json_value, ensure_ascii=False)
        else:
            reference = " / ".join(case.expected.answers)
        fields = {"question": case.question, "answer": response.answer or "", "reference": reference,
                  "rubric": case.rubric or DEFAULT_RUBRIC}  # fmt: skip
        return self.combine(await self.verdicts(ctx, lambda j, r: j.grade(**fields, repeat=r)))


@register("metric", "judge_style")
class JudgeStyle(JudgedMetric):
    """Rubric grading of style and format, for cases that state a house format (normalised to [0, 1])."""

    name = "judge_style"
    judge_call = "style"

    def undefined_reason(self, case: Case) -> str | None:
        if not case.rubric or not (case.task_type == "style" or (case.expected and case.expected.pattern)):
            return "the case states no house format rubric"
        return None

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        fields = {"question": case.question, "answer": response.answer or "", "rubric": case.rubric}
        return self.combine(await self.verdicts(ctx, lambda j, r: j.style(**fields, repeat=r)))


@register("metric", "judge_pairwise")
class JudgePairwise(JudgedMetric):
    """Pairwise comparison against one named baseline system, judged in both orders (position swap).

    1 = win (both orders prefer this system), 0 = loss (both prefer the baseline), 0.5 = tie, including
    when the two orders disagree (position-inconsistent).  Scored after every system has answered.
    """

    judge_call = "pairwise"

    def __init__(self, *, baseline: str):
        self.baseline = baseline
        self.name = f"judge_pairwise_vs_{baseline}"

    async def score_pair(self, case: Case, response: Response, baseline: Response, ctx: ScoreContext):
        # which pairs are scored at all (the baseline itself, a failed side) is the status rule's call
        results = []
        for r in range(self.judge(ctx).spec.repeats):
            j = self.judge(ctx)
            first = await j.pairwise(question=case.question, answer_a=response.answer or "",
                                     answer_b=baseline.answer or "", repeat=r)  # fmt: skip
            second = await j.pairwise(question=case.question, answer_a=baseline.answer or "",
                                      answer_b=response.answer or "", repeat=r)  # fmt: skip
            results.append((first, second))
        verdicts = [v for pair in results for v in pair]
        outcomes = [swap_verdicts(a, b) for a, b in results]
        details = {"judge_model": verdicts[0].judge_model, "template_hash": verdicts[0].template_hash,
                   "verdicts": [_verdict_details(v) for v in verdicts],
                   "outcomes": [o for o, _ in outcomes], "position_consistent": [c for _, c in outcomes]}  # fmt: skip
        if all(v.status == "error" for v in verdicts):
            return self.error(f"judge error: {verdicts[0].problem}", stage="judge", **details)
        usable = [o for o, _ in outcomes if o is not None]
        if not usable:
            return self.unscored("no usable pair of judge verdicts (both orders must parse)", **details)
        values = [{"win": 1.0, "tie": 0.5, "loss": 0.0}[o] for o in usable]
        details |= {"spread": max(values) - min(values), "flipped": len(set(usable)) > 1}
        return self.scored(sum(values) / len(values), **details)

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        raise RuntimeError("judge_pairwise is scored by score_pair once the baseline has answered")


@register("metric", "faithfulness")
class Faithfulness(JudgedMetric):
    """ragas Faithfulness: statements extracted from the answer, each verified against the retrieved
    context; the share supported, in [0, 1].  Run with the suite's judge model, every call through the
    model interface; judge calls and tokens per score are in ``details``.  Unscored without a context,
    when the answer has no statements, or when ragas cannot parse the judge's output; an ``error``
    (stage ``judge``) when a judge call failed at the endpoint (an outage is counted, not hidden).

    With a judge that has no generative model (``client`` None: the ``learned`` cross-encoder, named by
    ``judge: NAME``), the answer is judged whole: the value is the judge's P(supported) of the answer
    against its best-supporting context window, in [0, 1], higher is better; its yes/no label (at the
    judge's threshold) and each window's probability are in ``details``."""

    name = "faithfulness"
    needs = "context"
    judge_call = "faithful"

    def __init__(self) -> None:
        self._llm: Any = None

    def _ragas_llm(self, judge: Judge) -> Any:
        if self._llm is None:
            import os

            os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")  # no telemetry, no network
            from ..judges.ragas_bridge import ragas_llm

            self._llm = ragas_llm(judge.client, temperature=judge.spec.temperature,
                                  max_tokens=judge.spec.faithfulness_max_tokens)  # fmt: skip
        return self._llm

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if not response.context:
            return self.not_recorded()
        answer = (response.answer or "").strip()
        if not answer:
            return self.unscored("the answer has no statements (empty answer)")
        judge = self.judge(ctx)
        if getattr(judge, "client", None) is None:  # no LLM for ragas: the judge reads (context, answer) itself
            context = response.context
            return self.combine(await self.verdicts(ctx, lambda j, r: j.faithful(context=context, answer=answer,
                                                                                 repeat=r)))  # fmt: skip
        from ragas.metrics.collections import Faithfulness as RagasFaithfulness

        from ..judges.ragas_bridge import TALLY, CallTally

        tally = CallTally()
        token = TALLY.set(tally)
        try:
            result = await RagasFaithfulness(llm=self._ragas_llm(judge)).ascore(
                user_input=case.question, response=answer, retrieved_contexts=[response.context]
            )
        except Exception as exc:  # instructor retries exhausted, truncated JSON, endpoint down
            if tally.stopped is not None:
                raise tally.stopped from exc
            calls = tally.as_details()
            if tally.failures:
                reason = f"judge error: ragas faithfulness: judge endpoint failed: {tally.last_failure}"
                return self.error(reason, stage="judge", judge_model=judge.model, **calls)
            reason = f"ragas faithfulness failed: {type(exc).__name__}: {str(exc)[:300]}"
            return self.unscored(reason, judge_model=judge.model, **calls)
        finally:
            TALLY.reset(token)
        calls = tally.as_details()
        value = result.value if hasattr(result, "value") else result
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self.unscored(
                "the answer has no statements (ragas extracted none)", judge_model=judge.model, **calls
            )
        return self.scored(float(value), judge_model=judge.model, **calls)
