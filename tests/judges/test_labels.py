"""Judge-calibration label loaders: exact counts and label mappings on the real ../shared/datasets files."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from ragft_eval.judges.labels import (
    CALIBRATION_SETS,
    LLMBAR_SUBSETS,
    FaithfulnessItem,
    HallucinationItem,
    PairwiseItem,
    kind_of,
    load_faithbench,
    load_halueval_general,
    load_llmbar,
    load_pandalm,
    load_qags,
    load_ragchecker,
    stratified_sample,
)

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

needs_datasets = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"needs the shared datasets folder beside the repo, absent at {DATASETS}"
)


@cache
def loaded(name: str) -> list:
    return CALIBRATION_SETS[name](DATASETS)


def by_id(items: list) -> dict:
    return {it.id: it for it in items}


# ---------------------------------------------------------------- every set


@needs_datasets
@pytest.mark.datasets
@pytest.mark.parametrize(
    ("name", "count", "labels"),
    [
        ("mtbench-human", 200, {"a": 101, "b": 99}),
        ("llmbar-natural", 100, {"a": 42, "b": 58}),
        ("pandalm", 999, {"a": 422, "b": 472, "tie": 105}),
        ("ragchecker", 280, {"a": 115, "b": 99, "tie": 66}),
        ("faithbench", 800, {True: 174, False: 485, None: 141}),
        ("qags-cnndm", 235, {True: 191, False: 44}),
        ("qags-xsum", 239, {True: 116, False: 123}),
        ("halueval-general", 4507, {True: 815, False: 3692}),
    ],
)
def test_counts_labels_and_ids(name: str, count: int, labels: dict) -> None:
    items = loaded(name)
    assert len(items) == count
    assert Counter(it.label for it in items) == labels
    ids = [it.id for it in items]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    expected_type = {"pairwise": PairwiseItem, "faithfulness": FaithfulnessItem, "hallucination": HallucinationItem}
    assert all(type(it) is expected_type[kind_of(name)] for it in items)
    assert all(it.source == items[0].source for it in items)


@needs_datasets
@pytest.mark.datasets
def test_reloading_gives_equal_records() -> None:
    again = load_ragchecker(DATASETS)
    assert [dataclasses.astuple(it) for it in again] == [dataclasses.astuple(it) for it in loaded("ragchecker")]


def test_registry_and_kinds() -> None:
    assert set(CALIBRATION_SETS) == {
        "mtbench-human",
        "llmbar-natural",
        "pandalm",
        "ragchecker",
        "faithbench",
        "qags-cnndm",
        "qags-xsum",
        "halueval-general",
    }
    assert kind_of("pandalm") == "pairwise"
    assert kind_of("qags-xsum") == "faithfulness"
    assert kind_of("halueval-general") == "hallucination"
    with pytest.raises(ValueError, match="unknown calibration set"):
        kind_of("nope")


def test_records_are_frozen() -> None:
    item = HallucinationItem(id="x", source="s", question="q", answer="a", label=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.label = False  # type: ignore[misc]


# ---------------------------------------------------------------- pairwise


@needs_datasets
@pytest.mark.datasets
def test_mtbench_and_llmbar_known_records() -> None:
    mt = by_id(loaded("mtbench-human"))
    assert mt["mtbench-000"].question.startswith("Explain what's base rate fallacy")
    assert mt["mtbench-000"].label == "a"
    assert mt["mtbench-001"].question.startswith("x+y = 4z, x*y = 4z^2")
    assert mt["mtbench-001"].label == "b"
    assert mt["mtbench-001"].meta["raw_label"] == 2
    nat = by_id(loaded("llmbar-natural"))
    assert nat["llmbar-natural-001"].question.startswith("Complete a brief story given the following first sentence.")
    assert nat["llmbar-natural-001"].label == "a"
    assert nat["llmbar-natural-000"].source == "llmbar-natural"


@needs_datasets
@pytest.mark.datasets
def test_llmbar_other_subsets() -> None:
    sizes = {"Adversarial/Neighbor": 134, "Adversarial/GPTInst": 92, "Adversarial/GPTOut": 47, "Adversarial/Manual": 46}
    for subset, size in sizes.items():
        items = load_llmbar(DATASETS, subset)
        assert len(items) == size
        assert items[0].source == "llmbar-" + subset.lower().replace("/", "-")
    assert len(LLMBAR_SUBSETS) == 13
    with pytest.raises(ValueError, match="unknown LLMBar subset"):
        load_llmbar(DATASETS, "Natural/")


@needs_datasets
@pytest.mark.datasets
def test_pandalm_majority_of_three() -> None:
    items = by_id(loaded("pandalm"))
    assert items["pandalm-000"].meta["votes"] == (2, 2, 2)
    assert items["pandalm-000"].label == "b"
    assert items["pandalm-000"].question.startswith("The sentence you are given might be too wordy")
    assert items["pandalm-183"].meta["votes"] == (1, 0, 0)  # majority says tie
    assert items["pandalm-183"].label == "tie"
    assert items["pandalm-222"].meta["votes"] == (2, 1, 2)
    assert items["pandalm-222"].label == "b"
    # a response stored as the JSON literal true becomes the text "True"
    assert items["pandalm-157"].answer_a == "True"
    assert items["pandalm-157"].label == "a"
    # no three-way disagreement in this file: every label is a real majority
    assert all(it.meta["majority"] is not None for it in items.values())


@needs_datasets
@pytest.mark.datasets
def test_ragchecker_direction_and_aggregation() -> None:
    items = by_id(loaded("ragchecker"))
    first = items["ragchecker-000"]
    assert first.question == "How are pre-training corpora constructed for language models?"
    assert first.meta["overall_votes"] == (1, 1)
    assert (first.meta["model_a"], first.meta["model_b"]) == ("bm25_llama3_8b", "e5_mistral_gpt_4")
    assert first.label == "b"
    assert first.context is not None and first.context.startswith("Pre-training corpora for language models")
    # positive overall_label = model2 (B) better: an empty answer A loses, an empty answer B loses
    assert items["ragchecker-078"].answer_a == "" and items["ragchecker-078"].label == "b"
    assert items["ragchecker-186"].answer_b == "" and items["ragchecker-186"].label == "a"
    assert items["ragchecker-133"].meta["overall_votes"] == (-1, 1)
    assert items["ragchecker-133"].label == "tie"
    assert items["ragchecker-202"].meta["overall_votes"] == (0, -2)
    assert items["ragchecker-202"].label == "a"


# ---------------------------------------------------------------- faithfulness


@needs_datasets
@pytest.mark.datasets
def test_faithbench_categories() -> None:
    items = loaded("faithbench")
    categories = Counter(it.category for it in items)
    assert categories == {"Unwanted": 485, "Consistent": 174, "Questionable": 77, "Benign": 64}
    mapping = {"Consistent": True, "Unwanted": False, "Benign": None, "Questionable": None}
    assert all(it.label is mapping[it.category] for it in items)
    assert sum("batch" in it.meta for it in items) == 750  # batch 13's span annotations are not released
    known = by_id(items)
    assert known["faithbench-000"].context.startswith("Poseidon (film) .")
    assert known["faithbench-000"].category == "Unwanted"
    assert known["faithbench-001"].label is True
    assert known["faithbench-001"].meta["summarizer"] == "microsoft/Phi-3-mini-4k-instruct"
    assert known["faithbench-003"].meta["best_label"] == "Benign"
    mismatched = sorted(it.id for it in items if "batch" in it.meta and it.meta["span_worst_label"] != it.category)
    assert mismatched == ["faithbench-452", "faithbench-457", "faithbench-513", "faithbench-765"]


@needs_datasets
@pytest.mark.datasets
def test_qags_threshold() -> None:
    cnndm = by_id(loaded("qags-cnndm"))
    assert cnndm["qags-cnndm-021"].meta["score"] == 0.5
    assert cnndm["qags-cnndm-021"].label is True
    assert cnndm["qags-cnndm-021"].category == "score>=0.5"
    assert cnndm["qags-cnndm-004"].meta["score"] == pytest.approx(1 / 3)
    assert cnndm["qags-cnndm-004"].label is False
    assert cnndm["qags-cnndm-004"].category == "score<0.5"
    assert cnndm["qags-cnndm-004"].answer.startswith("Nominations are open for cnn heroes 2015")
    strict = load_qags(DATASETS, "cnndm", threshold=1.0)
    assert Counter(it.label for it in strict) == {True: 113, False: 122}
    assert {it.category for it in strict} == {"score>=1", "score<1"}
    xsum = by_id(loaded("qags-xsum"))
    assert xsum["qags-xsum-001"].answer.startswith("Big ben 's 150th anniversary")
    assert xsum["qags-xsum-001"].label is False
    assert {it.meta["score"] for it in xsum.values()} == {0.0, 1.0}


# ---------------------------------------------------------------- hallucination


@needs_datasets
@pytest.mark.datasets
def test_halueval_general_known_records() -> None:
    items = by_id(loaded("halueval-general"))
    assert items["halueval-general-0001"].question == "Produce a list of common words in the English language."
    assert items["halueval-general-0001"].label is False
    assert items["halueval-general-0002"].question == "Provide a few examples of homophones."
    assert items["halueval-general-0002"].label is True
    assert items["halueval-general-2059"].meta["raw_id"] == "ID"  # the file's own ID field is not unique
    assert items["halueval-general-1975"].meta["raw_id"] == ""


# ---------------------------------------------------------------- stratified sampling


@dataclasses.dataclass(frozen=True)
class _It:
    id: str
    label: str


def _population() -> list[_It]:
    # 60 x, 30 y, 10 z
    return [_It(f"i{k:03d}", "x" if k < 60 else "y" if k < 90 else "z") for k in range(100)]


def test_stratified_sample_is_deterministic_and_proportional() -> None:
    pop = _population()
    first = stratified_sample(pop, 20, seed=7)
    assert first == stratified_sample(list(reversed(pop)), 20, seed=7)  # input order does not matter
    assert [it.id for it in first] == sorted(it.id for it in first)
    assert Counter(it.label for it in first) == {"x": 12, "y": 6, "z": 2}
    assert stratified_sample(pop, 20, seed=8) != first
    assert len(set(first)) == 20


def test_stratified_sample_rounds_to_exactly_n() -> None:
    pop = _population()
    for n in (0, 1, 7, 33, 99, 100):
        sample = stratified_sample(pop, n, seed=1)
        assert len(sample) == n
        counts = Counter(it.label for it in sample)
        for label, size in (("x", 60), ("y", 30), ("z", 10)):
            assert abs(counts[label] - n * size / 100) < 1
    # 7 * (60, 30, 10) / 100 = 4.2, 2.1, 0.7: the largest remainder (z) gets the 7th
    assert Counter(it.label for it in stratified_sample(pop, 7, seed=1)) == {"x": 4, "y": 2, "z": 1}


def test_stratified_sample_custom_key_and_errors() -> None:
    pop = _population()
    by_parity = stratified_sample(pop, 10, seed=0, key=lambda it: int(it.id[1:]) % 2)
    assert Counter(int(it.id[1:]) % 2 for it in by_parity) == {0: 5, 1: 5}
    with pytest.raises(ValueError, match="n should be"):
        stratified_sample(pop, 101, seed=0)
    with pytest.raises(ValueError, match="unique ids"):
        stratified_sample([*pop, pop[0]], 5, seed=0)


@needs_datasets
@pytest.mark.datasets
def test_faithbench_stratified_200() -> None:
    items = loaded("faithbench")
    sample = stratified_sample(items, 200, seed=0, key=lambda it: it.category)
    assert len(sample) == 200
    # a quarter of 485, 174, 77, 64 = 121.25, 43.5, 19.25, 16: floors sum to 199, the largest remainder
    # (Consistent, .5) takes the 200th
    categories = Counter(it.category for it in sample)
    assert categories == {"Unwanted": 121, "Consistent": 44, "Questionable": 19, "Benign": 16}
    assert sample == stratified_sample(items, 200, seed=0, key=lambda it: it.category)
    other = stratified_sample(items, 200, seed=1, key=lambda it: it.category)
    assert [it.id for it in sample] != [it.id for it in other]


# ---------------------------------------------------------------- missing and malformed files


def test_missing_root_and_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_pandalm(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"testset-v1\.json"):
        load_pandalm(tmp_path)
    with pytest.raises(FileNotFoundError, match="faithbench"):
        load_faithbench(tmp_path)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_malformed_records_name_file_and_position(tmp_path: Path) -> None:
    good = {"input": "q", "output_1": "x", "output_2": "y", "label": 1}
    _write(tmp_path / "llmbar/Dataset/LLMBar/Natural/dataset.json", json.dumps([good, {**good, "label": 3}]))
    with pytest.raises(ValueError, match=r"dataset\.json: record 1: field 'label' should be 1 or 2"):
        load_llmbar(tmp_path)

    lines = [
        json.dumps({"ID": "1", "user_query": "q", "chatgpt_response": "a", "hallucination": "no"}),
        json.dumps({"ID": "2", "user_query": "q", "chatgpt_response": "a", "hallucination": "maybe"}),
    ]
    _write(tmp_path / "halueval/data/general_data.json", "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"general_data\.json:2: field 'hallucination'"):
        load_halueval_general(tmp_path)

    _write(tmp_path / "halueval/data/general_data.json", lines[0] + "\n{not json\n")
    with pytest.raises(ValueError, match=r"general_data\.json:2: invalid JSON"):
        load_halueval_general(tmp_path)

    rec = {"doc_id": 0, "system_id": 0, "source": "s", "system_output": "o", "scores": {"consistency": 1.5}}
    _write(tmp_path / "unieval_human/reproduce/data/fact/qags_xsum.json", json.dumps([rec]))
    with pytest.raises(ValueError, match=r"qags_xsum\.json: record 0"):
        load_qags(tmp_path, "xsum")

    votes = {"idx": 0, "instruction": "i", "input": "", "response1": "a", "response2": "b"}
    _write(tmp_path / "pandalm/data/testset-v1.json", json.dumps([{**votes, "annotator1": 1, "annotator2": 1}]))
    with pytest.raises(ValueError, match=r"testset-v1\.json: record 0: missing field 'annotator3'"):
        load_pandalm(tmp_path)
