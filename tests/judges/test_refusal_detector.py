"""Refusal detection measured on a labelled set: the demo's old patterns, the broadened default patterns,
the learned detector (:mod:`ragft_eval.judges.refusal`) and patterns OR learned, on the heldout split of
``tests/fixtures/refusals/labelled.jsonl`` (see its README: how it was written, labelled and split).

``pytest -s`` prints the table.  The floors sit a little under what was measured, so a change that loses
refusals or starts refusing answers fails here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragft_eval.answers import is_refusal
from ragft_eval.golden import DEFAULT_REFUSAL_PATTERNS
from ragft_eval.judges import refusal
from ragft_eval.judges.refusal import is_refusal_learned, refusal_probability, training_hash
from ragft_eval.records import Response

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "refusals" / "labelled.jsonl"
TRAINING = ROOT / "ragft_eval" / "judges" / "refusal_train.jsonl"

# The demo manifest's refusal_patterns as they were before they were broadened (git 3bbfd36), kept here
# because HEAD moves on.
OLD_DEMO_PATTERNS = (
    r"\bI don['’]?t know\b",
    r"\bI do not know\b",
    r"not (?:mentioned|covered|stated|documented|specified) in the (?:documentation|docs|context|knowledge base"
    r"|provided (?:documents|context|passages))",
    r"\b(?:cannot|can['’]t|can not) (?:answer|find|determine)\b",
    r"\bno information\b",
    r"\bunable to (?:find|answer|determine)\b",
    r"\bI couldn['’]?t find\b",
    r"\b(?:documentation|docs|context|knowledge base) does(?:n['’]t| not) (?:say|specify|mention|cover)\b",
)

# Refusals from an outside set of human-labelled answers that the old patterns missed (verbatim).
MISSED_OUTSIDE = (
    "I'm sorry, but the provided context does not include specific information about the drivers of operating "
    "margin change for 3M in FY2022.",
    "As an AI, I don't have real-time data access to provide the current quick ratio for AMD for FY22.",
    "Therefore, I cannot calculate the inventory turnover ratio.",
    "The text doesn't provide the necessary information to answer this question.",
)

# Measured on the heldout split (n=258, 123 refusals) when the detectors were written, recall / precision:
#   old demo patterns 0.146 / 0.818; broadened patterns 0.959 / 0.975; learned 0.951 / 0.929;
#   patterns OR learned 1.000 / 0.918.  The floors sit two to four points under.
FLOORS: dict[str, tuple[float, float]] = {
    "old demo patterns": (0.12, 0.75),
    "broadened patterns": (0.93, 0.94),
    "learned": (0.92, 0.89),
    "patterns OR learned": (0.97, 0.89),
}


def split_of(item_id: str) -> str:
    """The fixed split of an item: 40% dev, 60% heldout by a seeded hash of its id (README)."""
    h = int(hashlib.sha256(f"ragft-refusals-v1:{item_id}".encode()).hexdigest()[:8], 16)
    return "dev" if h % 100 < 40 else "heldout"


@functools.cache
def _rows() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip())


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _by_patterns(patterns: Sequence[str]) -> Callable[[str], bool]:
    # through is_refusal, as the abstention metrics see it (JSON is not searched)
    return lambda text: is_refusal(Response(case_id="c", system="s", answer=text), patterns)


DETECTORS: dict[str, Callable[[str], bool]] = {
    "old demo patterns": _by_patterns(OLD_DEMO_PATTERNS),
    "broadened patterns": _by_patterns(DEFAULT_REFUSAL_PATTERNS),
    "learned": is_refusal_learned,
    "patterns OR learned": lambda t: _by_patterns(DEFAULT_REFUSAL_PATTERNS)(t) or is_refusal_learned(t),
}


def measure(split: str = "heldout") -> dict[str, dict[str, float]]:
    """Recall, precision and F1 of each detector on ``split``, refusal (label 1) the positive class."""
    rows = [r for r in _rows() if r["split"] == split]
    out = {}
    for name, detect in DETECTORS.items():
        predicted = [detect(r["answer"]) for r in rows]
        tp = sum(p and r["label"] == 1 for p, r in zip(predicted, rows, strict=True))
        fp = sum(p and r["label"] == 0 for p, r in zip(predicted, rows, strict=True))
        fn = sum(not p and r["label"] == 1 for p, r in zip(predicted, rows, strict=True))
        recall = tp / (tp + fn) if tp + fn else 0.0
        precision = tp / (tp + fp) if tp + fp else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[name] = {"n": len(rows), "refusals": tp + fn, "recall": recall, "precision": precision, "f1": f1}
    return out


def table(split: str = "heldout") -> str:
    """The measurement as a Markdown table."""
    lines = ["| detector | n | refusals | recall | precision | F1 |", "|---|---|---|---|---|---|"]
    for name, m in measure(split).items():
        lines.append(
            f"| {name} | {m['n']} | {m['refusals']} | {m['recall']:.3f} | {m['precision']:.3f} | {m['f1']:.3f} |"
        )
    return "\n".join(lines)


# --- the fixture ---------------------------------------------------------------------------------------


def test_the_fixture_is_well_formed_and_split_by_the_hash_of_the_id():
    rows = _rows()
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) == {"id", "question", "answer", "label", "source", "split", "note"}, r["id"]
        assert r["label"] in (0, 1) and r["source"] in ("written", "demo-run") and r["note"], r["id"]
        assert r["question"].strip() and r["answer"].strip(), r["id"]
        # nobody moved an item between splits after the patterns were written
        assert r["split"] == split_of(r["id"]), r["id"]
    for source in ("written", "demo-run"):
        assert {r["label"] for r in rows if r["source"] == source} == {0, 1}
    # the same answer in both splits would let the dev split leak into the heldout figures
    dev = {_norm(r["answer"]) for r in rows if r["split"] == "dev"}
    assert not [r["id"] for r in rows if r["split"] == "heldout" and _norm(r["answer"]) in dev]


def test_the_training_file_is_the_dev_split_plus_seeds():
    rows = [json.loads(line) for line in TRAINING.read_text(encoding="utf-8").splitlines() if line.strip()]
    from_fixture = {r["origin"].removeprefix("fixture:"): r for r in rows if r["origin"].startswith("fixture:")}
    dev = {r["id"]: r for r in _rows() if r["split"] == "dev"}
    assert from_fixture.keys() == dev.keys()
    assert all((t["text"], t["label"]) == (dev[i]["answer"], dev[i]["label"]) for i, t in from_fixture.items())
    seeds = [r for r in rows if r["origin"] == "seed"]
    assert seeds and len(seeds) + len(from_fixture) == len(rows)
    heldout = {_norm(r["answer"]) for r in _rows() if r["split"] == "heldout"}
    assert not [r["text"] for r in rows if _norm(r["text"]) in heldout], "a training text is in the heldout split"


def test_the_demo_manifest_lists_the_default_patterns():
    manifest = yaml.safe_load((ROOT / "golden_sets" / "demo" / "manifest.yaml").read_text(encoding="utf-8"))
    assert tuple(manifest["refusal_patterns"]) == DEFAULT_REFUSAL_PATTERNS
    for pattern in DEFAULT_REFUSAL_PATTERNS:
        re.compile(pattern)


# --- the patterns --------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", MISSED_OUTSIDE)
def test_the_broadened_patterns_catch_what_the_old_ones_missed(answer):
    assert not _by_patterns(OLD_DEMO_PATTERNS)(answer)
    assert _by_patterns(DEFAULT_REFUSAL_PATTERNS)(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "You cannot export more than 10 GB at once.",
        "No, guests cannot create spaces.",
        "The context says the limit is 20 workspaces.",
        "Unfortunately the Free plan does not include SSO; it is available on Enterprise.",
        "No information is shared with third parties without your consent.",
        'The error "Unable to find workspace" means the workspace ID in the URL is wrong.',
    ],
)
def test_the_broadened_patterns_leave_answers_with_negations_alone(answer):
    assert not _by_patterns(DEFAULT_REFUSAL_PATTERNS)(answer)


# --- the learned detector ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        '{"answer": "I don\'t know"}',
        '{"plan": "Team", "price_usd": 14}',
        '[{"note": "no information"}]',
        '```json\n{"reason": "The context does not mention the owner."}\n```',
        '  {"error": "I cannot determine this from the provided context"}  ',
    ],
)
def test_json_answers_are_never_refusals_for_the_learned_detector(answer):
    assert refusal_probability(answer) == 0.0
    assert not is_refusal_learned(answer, threshold=1e-9)


def test_the_learned_detector_reads_the_prose_around_json():
    assert is_refusal_learned('I cannot find the total in the provided context. {"total": null}')


def test_the_learned_detector_bounds_and_threshold():
    assert refusal_probability("") == refusal_probability(None) == 0.0
    p = refusal_probability("The passages do not say how long logs are kept.")
    assert 0.5 < p <= 1.0
    assert 0.0 <= refusal_probability("Logs are kept for 90 days.") < 0.5
    with pytest.raises(ValueError, match="expected 0 < threshold <= 1, got 0"):
        is_refusal_learned("x", threshold=0)


def test_the_training_data_is_named_by_a_stable_hash():
    assert training_hash() == training_hash()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", training_hash())
    assert refusal._model() is refusal._model()  # fitted once, then kept in memory


# --- the measurement -----------------------------------------------------------------------------------


def test_heldout_recall_and_precision():
    figures = measure("heldout")
    print("\n" + table("heldout"))
    for name, (floor_recall, floor_precision) in FLOORS.items():
        assert figures[name]["recall"] >= floor_recall, (name, figures[name])
        assert figures[name]["precision"] >= floor_precision, (name, figures[name])
    # what the broadening is for: the new patterns find several times more refusals than the old
    assert figures["broadened patterns"]["recall"] > 3 * figures["old demo patterns"]["recall"]
