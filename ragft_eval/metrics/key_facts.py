"""Answer correctness on key facts (``answer_correct``): the reference's numbers with their units,
dates, names, addresses and settings paths must be in the answer, no contradicting value may be, and a
yes or a no must agree.

Token overlap credits wrong answers that share words with the reference (``$1 per month`` shares
``per month`` with ``$400 per month``, and SQuAD normalisation drops the ``$``); this metric compares
the facts instead.  The extraction (:func:`ragft_eval.facts.extract_facts`, :func:`~ragft_eval.facts.polarity`)
and the pure comparison (:func:`~ragft_eval.facts.check_key_facts`) live in :mod:`ragft_eval.facts`, so
that a report or a test can show why an answer scored as it did.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..answers import is_refusal
from ..facts import check_key_facts, extract_facts
from ..records import Case, MetricResult, Response
from ..registry import register
from ._base import BaseMetric, ScoreContext

# --- the metric -----------------------------------------------------------------------------------------


@register("metric", "answer_correct")
class AnswerCorrect(BaseMetric):
    """Answer correctness on key facts: 1 when the answer states the reference's key facts, contradicts
    none of them and agrees with its yes or no; else 0.  In {0, 1}; higher is better; no partial credit.

    Facts (:func:`extract_facts`): numbers with their unit and any ``per X`` (``$10``, ``10 dollars``,
    ``USD 10`` are one value; ``ten`` is 10; ``10 cents`` is $0.10; seconds to weeks convert into each
    other, months into years, KB to TB into each other, and nothing else: ``365 days`` is not ``1 year``),
    times of day, dates (``2025-09-01``, ``1 September 2025``, ``September 1, 2025``), emails, URLs,
    settings paths (``Settings > Billing > Plan``) and names (runs of capitalised words: ``Team``,
    ``Microsoft Edge``).  Polarity (:func:`polarity`): negative when the text opens with No/False or
    says not / no / never / cannot / n't / none / nobody / nothing / neither / nor.

    The rule, for a case with references R (the answer and its aliases):

    1. Unscored without a reference answer.  A refusal (the golden set's refusal patterns, or
       ``extra["abstained"]``; :func:`ragft_eval.answers.is_refusal`) scores 0, as does an answer that
       only repeats the question (equal after SQuAD normalisation).
    2. A reference that is only ``yes``/``no``/``true``/``false`` is set aside when R holds any other
       reference, so a bare yes or no earns nothing by itself; when R is only such words, the answer's
       polarity decides.
    3. Against one reference r with key facts: every fact of r must be in the answer (a number of a
       compatible unit with the same value; a bare number matches a number with a unit, and the reverse;
       a name as consecutive words, case and plural ignored; anything else by its normalised key), and
       the answer's polarity, read in the clauses that state those facts (an opening Yes/No counts
       everywhere), must equal r's; except that when the question itself is negative ("which browsers
       don't ...?") an affirmative r is not checked, since the answer may restate the negation.
    4. Against a reference without key facts (a plain phrase): every content word of r (stems, without
       stopwords, negations and yes/no) must occur in the answer, and the polarity of the whole answer
       must equal r's.  A reference of stopwords only is scored on polarity alone.
    5. A wrong value is wrong whatever else overlaps: the answer scores 0 when it states a number of a
       unit some reference states (or a date when a reference states one) equal to no reference value,
       unless the question states that value too (restating the premise is not a claim).
    6. Score 1 when no value is wrong and some considered reference passes 3 or 4.

    ``details``: ``rule`` (``key_facts``, ``content_words``, ``polarity_only``, ``refusal``, ``echo``),
    ``matched`` (the passing reference, else the closest), ``reference_facts``, ``answer_facts``,
    ``missing``, ``wrong``, ``polarity`` and ``skipped_references``.  ``patterns`` overrides the golden
    set's refusal patterns.

    Known limits: rule 5 also fails a right answer that shows its working or the alternative in the
    reference's unit (``3 x 100 GB = 300 GB``; ``$17 monthly, or $14 billed annually``); only the facts
    are compared (``10 minutes after`` matches ``10 minutes before``); names the answer adds are not
    penalised (``Chrome, Edge and Safari`` passes for ``Edge and Safari``); a reference's capitalised
    first word counts as a name; a number whose unit is a word such as ``seats`` matches only an answer
    number with no unit or a unit sharing a word (``3 sites`` for ``3 Jira sites``).

    The audit's examples score 0 (token recall gave each at least 0.5):

    >>> def score(answer, *refs, question=""):
    ...     return check_key_facts(answer, refs, question=question).score
    >>> score("$1 per month", "$400 per month", "$400", "400 dollars", "USD 400")
    0.0
    >>> score("10 cents per month", "$10 per month", "$10", "10 dollars", "USD 10")
    0.0
    >>> score("180 days", "365 days", "1 year", "one year", "12 months")
    0.0
    >>> score("Yes, guests can create new spaces.", "No", "guests cannot create spaces")
    0.0
    >>> q = "If we ignore a failed payment for more than 60 days, how much version history will it keep?"
    >>> score(q, "7 days", "seven days", "one week", question=q)
    0.0
    >>> score("yes", "30 days", "yes", "yes, within 30 days"), score("No", "No", "PayPal is not accepted")
    (0.0, 0.0)

    and right answers in other words score 1:

    >>> score("Yes, within 30 days.", "30 days", "yes", "yes, within 30 days")
    1.0
    >>> score("No, PayPal isn't supported.", "No", "PayPal is not accepted")
    1.0
    >>> score("ten dollars a month", "$10 per month"), score("60 minutes", "1 hour")
    (1.0, 1.0)
    >>> score("It changed on September 1, 2025.", "1 September 2025")
    1.0
    >>> score("admin", "Admin", "an Admin")
    1.0

    while an answer hedging between two values of the reference's unit scores 0:

    >>> score("Team is $14 per month and Enterprise is $17 per month.", "$17", "USD 17")
    0.0
    """

    name = "answer_correct"

    def __init__(self, *, patterns: Sequence[str] | None = None):
        self.patterns = tuple(patterns) if patterns is not None else None

    def undefined_reason(self, case: Case) -> str | None:
        if case.expected and any(a.strip() for a in case.expected.answers):
            return None
        return "no reference answer for this case"

    async def score(self, case: Case, response: Response, ctx: ScoreContext) -> MetricResult:
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        patterns = self.patterns if self.patterns is not None else ctx.golden_set.manifest.refusal_patterns
        answer = response.answer or ""
        if is_refusal(response, patterns):
            facts = list(dict.fromkeys(f.key for f in extract_facts(answer)))
            return self.scored(0.0, rule="refusal", answer_facts=facts, wrong=[])
        check = check_key_facts(answer, case.expected.answers, question=case.question)
        return self.scored(check.score, **check.details())
