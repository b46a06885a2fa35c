"""Key facts of an answer: the numbers with their units, dates, names, addresses and settings paths a
text states, its polarity (yes or no), and the comparison of an answer's facts with a reference's
(:func:`check_key_facts`), on which ``answer_correct`` is defined
(:class:`ragft_eval.metrics.key_facts.AnswerCorrect`, whose docstring is the specification).

Pure functions of text, beneath both the systems and the metrics, like :mod:`ragft_eval.answers`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from .answers import squad_normalize

Polarity = Literal["affirmative", "negative"]
Kind = Literal["quantity", "time", "date", "email", "url", "path", "entity"]

# --- vocabulary -----------------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    """a about above across after again against all already also am an and any approximately are around as at be
    been before being below between both but by can could did do does doing down during each either else
    etc every few for from further get had has have having he her here hers him his how i if in into is it
    its itself just least less let may me might more most must my of off on once only onto or other our
    ours out over own per please roughly same see shall she should so some still such than that the their
    theirs them then there these they this those through to too under until up upon us very via was we were
    what when where whether which while who whom whose why will with within would you your yours""".split()
)
_NEGATION_WORDS = frozenset({"not", "no", "never", "cannot", "none", "nobody", "nothing", "neither", "nor"})
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|none|nobody|nothing|neither|nor)\b|n['’]t\b", re.IGNORECASE)
_YES, _NO = frozenset({"yes", "yeah", "yep", "true"}), frozenset({"no", "nope", "false"})
_LEADING = re.compile(r"^\W*(yes|yeah|yep|true|no|nope|false)\b", re.IGNORECASE)

_SMALL = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NUMBER_WORDS = {w: i for i, w in enumerate(_SMALL)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}

_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ),
        1,
    )
    for m in names
}  # fmt: skip

_CURRENCY_SIGNS = {"$": "usd", "us$": "usd", "usd": "usd", "€": "eur", "eur": "eur", "£": "gbp", "gbp": "gbp"}
_CURRENCY_WORDS = {
    "dollar": "usd", "usd": "usd", "buck": "usd", "euro": "eur", "eur": "eur", "pound": "gbp", "gbp": "gbp",
}  # fmt: skip
_UNIT_SYNONYMS = {
    "sec": "second", "secs": "second", "min": "minute", "mins": "minute", "h": "hour", "hr": "hour",
    "hrs": "hour", "wk": "week", "wks": "week", "mo": "month", "mos": "month", "yr": "year", "yrs": "year",
    "gigabyte": "gb", "megabyte": "mb", "terabyte": "tb", "kilobyte": "kb",
}  # fmt: skip
# Units that convert: (dimension, size in the dimension's base).  Months and years are kept apart from
# days because "365 days" and "1 year" are not the same number of days for every year (aliases say so).
_CONVERSIONS = {
    "second": ("time", 1), "minute": ("time", 60), "hour": ("time", 3600), "day": ("time", 86400),
    "week": ("time", 604800), "month": ("calendar", 1), "year": ("calendar", 12),
    "kb": ("data", 0.001), "mb": ("data", 1), "gb": ("data", 1000), "tb": ("data", 1_000_000),
}  # fmt: skip
_TIME_UNITS = "second|minute|hour|day|week|month|year"

# --- patterns -------------------------------------------------------------------------------------------

# a sentence ends at . ! ? before a capital ("1 Sep. 2025" is one sentence), or at a semicolon
_CLAUSE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(\[])|(?<=;)\s+|\n+|,\s+(?=(?:and|but|while|whereas|although)\b)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL = re.compile(
    r"\b(?:https?://)?(?:www\.)?(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|ai|app|co|eu|uk|de)\b(?:/[^\s)\]]*)?",
    re.IGNORECASE,
)
_ARROW = r"(?:>|›|→|->)"
# one word before the first arrow ("See Settings > ..." is the path "Settings > ...")
_PATH = re.compile(rf"[A-Z][\w&-]*(?:\s*{_ARROW}\s*[A-Z][\w&-]*(?: [A-Z][\w&-]*)*)+")
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATES = (  # (pattern, order of the groups: y, m, d)
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), "ymd"),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I), "dmy"),
    (re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I), "mdy"),
    (re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{4}})\b", re.I), "my"),
)
_AMPM = r"\s*([ap])\.?m\b\.?"
_TIME_RANGE = re.compile(rf"\b(\d{{1,2}})(?::([0-5]\d))?\s*(?:-|–|to)\s*(\d{{1,2}})(?::([0-5]\d))?{_AMPM}", re.I)
_CLOCK = re.compile(rf"\b([01]?\d|2[0-3]):([0-5]\d)\b(?:{_AMPM})?", re.I)
_HOUR_AMPM = re.compile(rf"\b(1[0-2]|0?[1-9]){_AMPM}", re.I)

_NUMBER_WORD_RE = "|".join(sorted([*_NUMBER_WORDS, *_SCALES], key=len, reverse=True))
_FIRST_WORD_RE = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_QUANTITY = re.compile(
    r"(?<![\w.,$€£/-])(?P<cur>US\$|\$|€|£|(?:USD|EUR|GBP)\s?)?"
    rf"(?:(?P<digits>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<k>k\b)?"
    rf"|\b(?P<words>(?:{_FIRST_WORD_RE})(?:[\s-]+(?:and\s+)?(?:{_NUMBER_WORD_RE}))*)\b)"
    r"(?:\s+(?P<scale>thousand|million|billion)\b)?"
    r"(?P<pct>\s?%|\s+per\s?cent\b|\s+percent\b)?",
    re.IGNORECASE,
)
_UNIT_WORDS = re.compile(r"[ \t]*-?[ \t]*(?P<w1>[A-Za-z][A-Za-z'’-]*)(?:[ \t]+(?P<w2>[A-Za-z][A-Za-z-]*))?")
_PER = re.compile(
    rf"[ \t]*(?:per[ \t]+|/[ \t]*|(?:a|an|each|every)[ \t]+(?=(?:{_TIME_UNITS})s?\b))"
    r"(?P<p1>[A-Za-z][A-Za-z-]*)(?:[ \t]+(?P<p2>[a-z][a-z-]*))?",
    re.IGNORECASE,
)
_ENTITY_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-/'’][A-Za-z0-9]+)*")
_WORD = re.compile(r"[a-z0-9]+")


# --- facts ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quantity:
    """A number as stated, with its unit (None for a bare number) and the ``per`` words after it.

    ``dim`` names what the unit converts within (``time``, ``calendar``, ``data``, a currency code,
    ``%``, ``clock``), None for any other unit word; ``base`` is the amount in that dimension's base unit.
    ``words`` holds the unit and the word after it, which is how two other units are compared.
    """

    amount: float
    unit: str | None = None
    dim: str | None = None
    base: float = 0.0
    words: frozenset[str] = frozenset()
    per: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fact:
    """One key fact: its ``kind``, a normalised ``key`` (what is shown and compared), the clause it came
    from (0-based, the text split at sentence ends and at ", and"/", but") and, for quantities and times,
    the parsed :class:`Quantity`."""

    kind: Kind
    key: str
    clause: int = 0
    quantity: Quantity | None = None


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else f"{x:.10g}"


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _canon_unit(word: str) -> str:
    w = word.casefold().strip("'’-")
    w = _UNIT_SYNONYMS.get(w, w)
    return _UNIT_SYNONYMS.get(_singular(w), _singular(w))


def _words_value(text: str) -> float:
    """``"twenty-five"`` -> 25, ``"one hundred"`` -> 100, ``"two million"`` -> 2000000."""
    total = current = 0
    for word in re.split(r"[\s-]+", text.casefold()):
        if word in _NUMBER_WORDS:
            current += _NUMBER_WORDS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _SCALES:
            total += max(current, 1) * _SCALES[word]
            current = 0
    return float(total + current)


def _quantity(
    amount: float, unit: str | None, *, words: frozenset[str] = frozenset(), per: frozenset[str] = frozenset()
) -> Quantity:
    if unit is None:
        return Quantity(amount, per=per)
    dim, size = _CONVERSIONS.get(unit, (unit if unit in {"usd", "eur", "gbp", "%", "clock"} else None, 1))
    return Quantity(amount, unit, dim, amount * size, words or frozenset({unit}), per)


def _quantity_key(q: Quantity) -> str:
    if q.unit == "clock":
        return f"{int(q.amount) // 60:02d}:{int(q.amount) % 60:02d}"
    key = _fmt(q.amount) + ("" if q.unit is None else "%" if q.unit == "%" else f" {q.unit}")
    return key + "".join(f"/{p}" for p in sorted(q.per))


def _blank(text: str, start: int, end: int) -> str:
    # keep offsets, so later patterns do not see what an earlier one consumed; the bar keeps the names on
    # either side apart ("Sundays 2-4 am UTC" names Sundays and UTC, not "Sundays UTC")
    return text if end <= start else text[:start] + "|" + " " * (end - start - 1) + text[end:]


def _parse_quantity(m: re.Match[str], text: str) -> tuple[Quantity, int]:
    """The quantity matched by ``_QUANTITY`` and where its unit and ``per`` words end."""
    if m["digits"]:
        amount = float(m["digits"].replace(",", "")) * (1000 if m["k"] else 1)
    else:
        amount = _words_value(m["words"])
    if m["scale"]:
        amount *= _SCALES[m["scale"].casefold()]
    end, unit, tail = m.end(), None, None
    if m["pct"]:
        unit = "%"
    w = _UNIT_WORDS.match(text, end)
    w1 = _canon_unit(w["w1"]) if w else ""
    w2 = _canon_unit(w["w2"]) if w and w["w2"] else ""
    if m["cur"]:
        unit = _CURRENCY_SIGNS[m["cur"].strip().casefold()]
        if w1 in _CURRENCY_WORDS:  # "$10 dollars"
            end = w.end("w1")
    elif unit is None and w:
        if w1 == "us" and w2 == "dollar":
            unit, end = "usd", w.end("w2")
        elif w1 == "cent":  # "10 cents" is a tenth of a dollar, not ten dollars
            unit, amount, end = "usd", amount / 100, w.end("w1")
        elif w1 in _CURRENCY_WORDS:
            unit, end = _CURRENCY_WORDS[w1], w.end("w1")
        elif w1 in {"business", "working", "calendar"} and w2 == "day":
            unit, end = f"{w1} day", w.end("w2")
        elif not (w1 in _STOPWORDS or w1 in _NEGATION_WORDS or w1 in _NUMBER_WORDS or w1 in _MONTHS):
            unit, end = w1, w.end("w1")
            if w2 and w["w2"].islower() and w2 not in _STOPWORDS and w2 not in _NUMBER_WORDS:
                tail = w2
    per: set[str] = set()
    while p := _PER.match(text, end):
        per.add(first := _canon_unit(p["p1"]))
        end = p.end("p1")
        # "per paid seat", "per access token": the noun is the second word (not after "per day")
        if p["p2"] and first not in _CONVERSIONS and _canon_unit(p["p2"]) not in _STOPWORDS:
            per.add(_canon_unit(p["p2"]))
            end = p.end("p2")
    words = frozenset(x for x in (unit, tail) if x)
    return _quantity(amount, unit, words=words, per=frozenset(per)), end


def _clock(hour: str, minute: str | None, ampm: str | None) -> Quantity:
    h, mins = int(hour), int(minute or 0)
    if ampm:
        h = h % 12 + (12 if ampm.casefold() == "p" else 0)
    return _quantity(float(h * 60 + mins), "clock")


def _date_key(groups: tuple[str, ...], order: str) -> str | None:
    parts = dict(zip(order, groups, strict=True))
    month = int(parts["m"]) if parts["m"].isdigit() else _MONTHS[parts["m"].casefold()]
    try:
        if "d" not in parts:
            return date(int(parts["y"]), month, 1).isoformat()[:7]
        return date(int(parts["y"]), month, int(parts["d"])).isoformat()
    except ValueError:  # "2025-13-45" is not a date
        return None


def _words(text: str) -> list[str]:
    """Lower-case words, contractions opened (``can't`` -> ``can not``) and ``'s`` dropped."""
    text = re.sub(r"n['’]t\b", " not", re.sub(r"\bcan['’]t\b", "can not", text.casefold()))
    return _WORD.findall(re.sub(r"['’]s\b", "", text))


def _stems(text: str) -> list[str]:
    return [_singular(t) for t in _words(text)]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _path_text(text: str) -> str:
    return " ".join(re.sub(rf"\s*{_ARROW}\s*", " > ", text.casefold()).split())


def clauses(text: str) -> list[str]:
    """``text`` split at sentence ends (``.``, ``!``, ``?`` before a capital; ``;``), new lines and
    ``, and`` / ``, but`` / ``, while``: the scope in which a negation is read."""
    return [c for c in _CLAUSE.split(text) if c and c.strip()]


def _clause_facts(text: str, clause: int) -> list[Fact]:
    facts: list[Fact] = []
    work = text
    for m in _EMAIL.finditer(work):
        facts.append(Fact("email", m.group().casefold(), clause))
        work = _blank(work, *m.span())
    for m in _URL.finditer(work):
        url = m.group().rstrip(".,;:")
        key = re.sub(r"^(?:https?://)?(?:www\.)?", "", url.casefold()).rstrip("/")
        facts.append(Fact("url", key, clause))
        work = _blank(work, m.start(), m.start() + len(url))
    for m in _PATH.finditer(work):
        facts.append(Fact("path", _path_text(m.group()), clause))
        work = _blank(work, *m.span())
    for pattern, order in _DATES:
        for m in pattern.finditer(work):
            if key := _date_key(m.groups(), order):
                facts.append(Fact("date", key, clause))
                work = _blank(work, *m.span())
    for m in _TIME_RANGE.finditer(work):  # "2-4 am": both ends share the am/pm
        for q in (_clock(m[1], m[2], m[5]), _clock(m[3], m[4], m[5])):
            facts.append(Fact("time", _quantity_key(q), clause, q))
        work = _blank(work, *m.span())
    for pattern in (_CLOCK, _HOUR_AMPM):
        for m in pattern.finditer(work):
            q = _clock(m[1], m[2], m[3]) if pattern is _CLOCK else _clock(m[1], None, m[2])
            facts.append(Fact("time", _quantity_key(q), clause, q))
            work = _blank(work, *m.span())
    pos = 0
    while m := _QUANTITY.search(work, pos):
        q, end = _parse_quantity(m, work)
        facts.append(Fact("quantity", _quantity_key(q), clause, q))
        work = _blank(work, m.start(), end)
        pos = end
    span: list[str] = []
    prev_end = 0
    for m in [*_ENTITY_TOKEN.finditer(work), None]:
        token = m.group() if m else ""
        low = token.casefold()
        capitalised = bool(token) and (token[0].isupper() or any(c.isupper() for c in token[1:]))
        excluded = low in _YES or low in _NO or low in _MONTHS or low in _NUMBER_WORDS or low in _NEGATION_WORDS
        if low in _STOPWORDS and not (token.isupper() and len(token) > 1):  # "US", "EU" are names
            excluded = True
        adjacent = m is not None and bool(span) and work[prev_end : m.start()].strip() == ""
        if capitalised and not excluded and (adjacent or not span):
            span.append(token)
        else:
            if span:
                facts.append(Fact("entity", " ".join(_stems(" ".join(span))), clause))
            span = [token] if capitalised and not excluded else []
        if m:
            prev_end = m.end()
    return facts


def extract_facts(text: str) -> tuple[Fact, ...]:
    """The key facts stated in ``text``, in order of kind within each clause.

    Kinds: ``email``, ``url`` (scheme and ``www.`` dropped), ``path`` (``Settings > Billing > Plan``),
    ``date`` (ISO; ``2025-09`` for a month and year), ``time`` (a time of day, ``08:00``; ``8 pm`` is
    ``20:00``), ``quantity`` (``$10``, ``10 dollars`` and ``USD 10`` are all ``10 usd``; ``10 cents`` is
    ``0.1 usd``; ``50%``; ``ten`` and ``twenty-five`` are numbers; ``1,000``, ``50k``, ``1 million``; the
    unit is the word after the number, singular, with ``per X`` and ``/X`` after it) and ``entity``
    (a run of capitalised words that are not stopwords, stemmed: ``Admins`` is ``admin``).

    >>> [f.key for f in extract_facts("$17 per seat per month, from 1 September 2025")]
    ['2025-09-01', '17 usd/month/seat']
    >>> [f.key for f in extract_facts("ten dollars a month, or 10 cents")]
    ['10 usd/month', '0.1 usd']
    >>> [f.key for f in extract_facts("See Settings > Billing > Plan, or email billing@nimbusnotes.com")]
    ['billing@nimbusnotes.com', 'settings > billing > plan']
    >>> [f.key for f in extract_facts("Sundays 2-4 am UTC on Microsoft Edge and Safari 16")]
    ['02:00', '04:00', '16', 'sunday', 'utc', 'microsoft edge', 'safari']
    """
    return tuple(f for i, clause in enumerate(clauses(text)) for f in _clause_facts(clause, i))


def polarity(text: str, scope: Sequence[str] | None = None) -> Polarity:
    """``negative`` when ``text`` opens with No/False, or a negation (not, no, never, cannot, n't, none,
    nobody, nothing, neither, nor) occurs in ``scope`` (the whole text when None); an opening Yes/True
    is ``affirmative`` whatever follows.

    >>> polarity("Yes, guests can create new spaces."), polarity("Guests cannot create spaces")
    ('affirmative', 'negative')
    """
    if lead := _LEADING.match(text):
        return "affirmative" if lead[1].casefold() in _YES else "negative"
    return "negative" if any(_NEGATION.search(c) for c in (scope if scope is not None else [text])) else "affirmative"


def content_words(text: str) -> list[str]:
    """The stems of ``text`` that are not stopwords, negations or yes/no: what a reference without key
    facts requires of an answer."""
    drop = _STOPWORDS | _NEGATION_WORDS | _YES | _NO
    return list(dict.fromkeys(_singular(t) for t in _words(text) if t not in drop))


def _is_bare_polarity(reference: str) -> bool:
    words = _WORD.findall(reference.casefold())
    return bool(words) and all(w in _YES or w in _NO for w in words)


# --- comparison -----------------------------------------------------------------------------------------


def _compatible(a: Quantity, b: Quantity) -> bool:
    if a.unit is None or b.unit is None:
        units = True
    elif a.dim or b.dim:
        units = a.dim == b.dim
    else:
        units = bool(a.words & b.words)
    return units and (not a.per or not b.per or bool(a.per & b.per))


def _same_value(a: Quantity, b: Quantity) -> bool:
    x, y = (a.base, b.base) if a.dim and a.dim == b.dim else (a.amount, b.amount)
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _found(ref: Fact, facts: Sequence[Fact], clause_text: str) -> bool:
    """Whether an answer clause (its text and its facts) states the reference fact ``ref``."""
    if ref.kind == "entity":
        return _contains(_stems(clause_text), ref.key.split())
    if ref.kind == "path":
        return ref.key in _path_text(clause_text)
    if ref.quantity is not None:
        q = ref.quantity
        return any(
            f.kind == ref.kind and f.quantity is not None and _compatible(q, f.quantity) and _same_value(q, f.quantity)
            for f in facts
        )
    return any(f.kind == ref.kind and f.key == ref.key for f in facts)


def _wrong_values(answer: Sequence[Fact], references: Sequence[Fact], question: Sequence[Fact]) -> list[str]:
    """Answer quantities, times and dates that contradict the references: of a unit (or kind) the
    references state, equal to none of them, and not a value the question itself states."""

    def stated(fact: Fact, among: Sequence[Fact]) -> bool:
        if fact.quantity is None:
            return any(f.kind == fact.kind and f.key == fact.key for f in among)
        return any(f.quantity and _compatible(fact.quantity, f.quantity) and _same_value(fact.quantity, f.quantity)
                   for f in among)  # fmt: skip

    wrong = []
    for fact in answer:
        if fact.kind == "date":
            rival = any(r.kind == "date" for r in references)
        elif fact.quantity is not None and fact.quantity.unit is not None:
            rival = any(r.quantity and r.quantity.unit and _compatible(fact.quantity, r.quantity) for r in references)
        else:
            continue
        if rival and not stated(fact, references) and not stated(fact, question):
            wrong.append(fact.key)
    return list(dict.fromkeys(wrong))


@dataclass(frozen=True)
class ReferenceCheck:
    """How an answer fares against one reference: the ``rule`` applied (``key_facts``, ``content_words``
    or ``polarity_only``), the reference's facts (or content words), those missing from the answer,
    both polarities, and whether the polarity was checked (see rule 3 of :class:`AnswerCorrect`)."""

    reference: str
    rule: str
    facts: tuple[str, ...]
    missing: tuple[str, ...]
    polarity: Polarity
    answer_polarity: Polarity
    polarity_checked: bool = True

    @property
    def polarity_ok(self) -> bool:
        return not self.polarity_checked or self.polarity == self.answer_polarity

    @property
    def passed(self) -> bool:
        return not self.missing and self.polarity_ok


@dataclass(frozen=True)
class KeyFactCheck:
    """The verdict of :func:`check_key_facts`: ``score`` is 1.0 or 0.0; ``best`` is the passing
    reference, else the one with the fewest missing facts; ``wrong`` lists contradicting values."""

    score: float
    rule: str
    answer_facts: tuple[str, ...]
    wrong: tuple[str, ...]
    best: ReferenceCheck | None
    skipped: tuple[str, ...] = ()

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "answer_facts": list(self.answer_facts), "wrong": list(self.wrong)}
        if self.best is not None:
            out |= {
                "matched": self.best.reference,
                "reference_facts": list(self.best.facts),
                "missing": list(self.best.missing),
                "polarity": {
                    "reference": self.best.polarity,
                    "answer": self.best.answer_polarity,
                    "checked": self.best.polarity_checked,
                },
            }
        if self.skipped:
            out["skipped_references"] = list(self.skipped)
        return out


def _check_reference(
    reference: str, answer: str, answer_clauses: list[str], answer_facts: tuple[Fact, ...], *, negative_question: bool
) -> ReferenceCheck:
    ref_polarity = polarity(reference)
    facts = extract_facts(reference)
    if facts:
        missing, scope = [], set()
        by_clause = [[f for f in answer_facts if f.clause == i] for i in range(len(answer_clauses))]
        for ref in facts:
            hits = [i for i, text in enumerate(answer_clauses) if _found(ref, by_clause[i], text)]
            if hits:
                scope.add(hits[0])
            else:
                missing.append(ref.key)
        # the negation that counts is the one in the clauses stating the facts ("no credit card" elsewhere
        # does not turn "14 days" into a denial)
        scoped = [answer_clauses[i] for i in sorted(scope)]
        keys = tuple(dict.fromkeys(f.key for f in facts))
        # "Which browsers don't get the clipper?" - "Edge and Safari don't": restating a negative question
        # does not deny an affirmative reference's facts
        checked = not (negative_question and ref_polarity == "affirmative")
        return ReferenceCheck(
            reference, "key_facts", keys, tuple(missing), ref_polarity, polarity(answer, scoped), checked
        )
    words = content_words(reference)
    have = set(_stems(answer))
    rule = "content_words" if words else "polarity_only"
    missing = tuple(w for w in words if w not in have)
    return ReferenceCheck(reference, rule, tuple(words), missing, ref_polarity, polarity(answer))


def check_key_facts(answer: str, references: Sequence[str], *, question: str = "") -> KeyFactCheck:
    """Score ``answer`` against the reference answer and its aliases (the rule of :class:`AnswerCorrect`).

    >>> check_key_facts("$1 per month", ["$400 per month", "$400"]).score
    0.0
    >>> check_key_facts("It costs 400 dollars a month.", ["$400 per month", "$400"]).score
    1.0
    """
    answer = answer or ""
    answer_clauses = clauses(answer)
    answer_facts = extract_facts(answer)
    shown = tuple(dict.fromkeys(f.key for f in answer_facts))
    refs = [r for r in references if r and r.strip()]
    if question and squad_normalize(answer) == squad_normalize(question):
        return KeyFactCheck(0.0, "echo", shown, (), None)
    bare = tuple(r for r in refs if _is_bare_polarity(r))
    substantive = [r for r in refs if r not in bare]
    # A bare yes/no reference would credit a bare yes/no (a coin flip); it is used only when it is all
    # the case has.
    considered, skipped = (substantive, bare) if substantive else (list(bare), ())
    all_ref_facts = [f for r in considered for f in extract_facts(r)]
    wrong = tuple(_wrong_values(answer_facts, all_ref_facts, extract_facts(question)))
    negative_question = bool(_NEGATION.search(question))
    checks = [
        _check_reference(r, answer, answer_clauses, answer_facts, negative_question=negative_question)
        for r in considered
    ]
    if not checks:
        return KeyFactCheck(0.0, "no_reference", shown, wrong, None)
    passing = [c for c in checks if c.passed]
    best = passing[0] if passing else min(checks, key=lambda c: (len(c.missing), not c.polarity_ok))
    return KeyFactCheck(float(bool(passing) and not wrong), best.rule, shown, wrong, best, skipped)
