"""A learned refusal detector: word and character n-grams into a logistic regression, trained in well
under a second on CPU, for the refusals regex patterns miss ("the provided context does not include
specific information about ...", "As an AI, I don't have real-time data access ...").

Training data is ``refusal_train.jsonl`` beside this module (package data): the ``dev`` split of
``tests/fixtures/refusals/labelled.jsonl`` (copied, so the runtime does not depend on ``tests/``) and a
short list of generic seed texts; the ``heldout`` split is never trained on.  The model is fitted on
first use and kept in memory; :func:`training_hash` names the data it was fitted on, for provenance.

As in :func:`ragft_eval.answers.is_refusal`, JSON is not read: an answer that is a JSON object or array
is never a refusal, and only the prose around a JSON value is classified.

>>> refusal_probability('{"answer": "I don\\'t know"}')
0.0
>>> is_refusal_learned("The text doesn't provide the necessary information to answer this question.")
True
>>> is_refusal_learned("You cannot export more than 10 GB at once.")
False
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from ..answers import text_outside_json
from ..hashing import content_hash

TRAINING_FILE = "refusal_train.jsonl"
_DIGITS = re.compile(r"\d")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'"})
_WORD = r"(?u)\b\w[\w']*\b"

# The settings are part of the hash: changing them changes the model as much as changing the data.
_SETTINGS: dict[str, Any] = {
    "word_ngrams": (1, 2),
    "char_ngrams": (3, 5),
    "C": 3.0,  # chosen by 5-fold cross-validation on the training rows (dev split + seeds)
    "class_weight": "balanced",
}


def _normalise(text: str) -> str:
    # one apostrophe, and every digit the same: "$14" and "$49" say the same thing about refusing
    return _DIGITS.sub("0", text.translate(_APOSTROPHES)).strip()


def _prose(text: str | None) -> str:
    """The text the detector reads: the answer without any JSON it holds (see ``text_outside_json``)."""
    if not text:
        return ""
    outside = text_outside_json(text)
    return _normalise(text if outside is None else outside)


@functools.cache
def _training_rows() -> tuple[tuple[str, int], ...]:
    raw = resources.files(__package__).joinpath(TRAINING_FILE).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
    return tuple((str(r["text"]), int(r["label"])) for r in rows)


def training_hash() -> str:
    """Content hash of the training texts and labels (with the model settings): equal data, equal model."""
    return content_hash({"rows": [list(r) for r in _training_rows()], "model": _SETTINGS})


@functools.cache
def _model() -> Any:
    # scikit-learn is imported here so importing the judges package stays cheap
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    # rows that are all JSON are never classified (see refusal_probability), so they teach nothing
    texts, labels = zip(*((p, y) for t, y in _training_rows() if (p := _prose(t))), strict=True)
    features = FeatureUnion(
        [
            # words keep the apostrophe ("don't", "isn't"): the negation is most of the signal
            ("words", TfidfVectorizer(ngram_range=_SETTINGS["word_ngrams"], token_pattern=_WORD, sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=_SETTINGS["char_ngrams"], sublinear_tf=True)),
        ]
    )
    classifier = LogisticRegression(C=_SETTINGS["C"], class_weight=_SETTINGS["class_weight"], max_iter=2000)
    return Pipeline([("features", features), ("classifier", classifier)]).fit(list(texts), list(labels))


def refusal_probability(text: str | None) -> float:
    """Probability in [0, 1] that ``text`` declines to give the asked fact.

    0.0 for an empty answer and for one that is all JSON (a JSON value is an attempt at the structured
    answer); otherwise the classifier's probability for the prose outside any JSON.
    """
    prose = _prose(text)
    if not prose:
        return 0.0
    return float(_model().predict_proba([prose])[0, 1])


def is_refusal_learned(text: str | None, threshold: float = 0.5) -> bool:
    """True when :func:`refusal_probability` of ``text`` is at least ``threshold``."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"expected 0 < threshold <= 1, got {threshold}")
    return refusal_probability(text) >= threshold
