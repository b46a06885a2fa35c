"""Importers: the team-written BEIR fixture, and the real public files in ../shared/datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ragft_eval.errors import InputError
from ragft_eval.golden import load_golden_set, validator_for
from ragft_eval.golden.importers import FORMATS, import_golden_set

ROOT = Path(__file__).resolve().parents[2]
BEIR_TINY = ROOT / "tests" / "fixtures" / "beir_tiny"
DATASETS = ROOT.parent / "shared" / "datasets"
COVID_QA = DATASETS / "covid_qa" / "data" / "question-answering" / "200423_covidQA.json"
CLAPNQ = DATASETS / "clapnq"
HOTPOTQA = DATASETS / "hotpotqa_ircot_sample"
BFCL = DATASETS / "bfcl" / "berkeley-function-call-leaderboard" / "bfcl_eval" / "data"


def needs(path: Path):
    """Skip (with the reason) when a shared dataset is absent, e.g. in a fresh clone without ../shared."""
    return pytest.mark.skipif(not path.exists(), reason=f"public dataset not present at {path}")


def by_id(gs):
    return {c.id: c for c in gs.cases}


def check_reloads(gs) -> None:
    """The written folder validates on its own, as ``ragft-eval golden validate`` would load it."""
    again = load_golden_set(gs.path)
    assert again.content_hash == gs.content_hash


# ---------------------------------------------------------------- dispatch and errors


def test_formats_and_unknown_format(tmp_path):
    assert set(FORMATS) == {"beir", "squad", "clapnq", "hotpotqa", "bfcl"}
    with pytest.raises(InputError, match=r"unknown import format 'csv'.*beir, bfcl, clapnq, hotpotqa, squad"):
        import_golden_set("csv", BEIR_TINY, tmp_path / "gs")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_missing_source_names_the_path(tmp_path, fmt):
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match="nope"):
        import_golden_set(fmt, missing, tmp_path / "gs")
    assert not (tmp_path / "gs").exists()


def test_malformed_jsonl_line_is_located(tmp_path):
    src = tmp_path / "beir"
    shutil.copytree(BEIR_TINY, src)
    lines = (src / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    lines[2] = '{"_id": "q3", "text": '
    (src / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"queries\.jsonl:3: malformed JSON"):
        import_golden_set("beir", src, tmp_path / "gs")


def test_missing_field_is_located(tmp_path):
    src = tmp_path / "beir"
    shutil.copytree(BEIR_TINY, src)
    with (src / "corpus.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"_id": "d9", "title": "no text"}\n')
    with pytest.raises(InputError, match=r"corpus\.jsonl:9: missing field 'text'"):
        import_golden_set("beir", src, tmp_path / "gs")


def test_non_empty_destination_and_bad_limit_are_refused(tmp_path):
    dest = tmp_path / "gs"
    dest.mkdir()
    (dest / "old.txt").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="not empty"):
        import_golden_set("beir", BEIR_TINY, dest)
    with pytest.raises(InputError, match="limit"):
        import_golden_set("beir", BEIR_TINY, tmp_path / "other", limit=0)


# ---------------------------------------------------------------- BEIR (team-written fixture)


def test_beir_tiny(tmp_path):
    gs = import_golden_set("beir", BEIR_TINY, tmp_path / "beir_tiny_gs")
    check_reloads(gs)
    assert gs.name == "beir_tiny_gs"
    assert gs.manifest.version == "1.0.0" and gs.manifest.licence == "see source"
    assert [d.id for d in gs.corpus] == [f"d{i}" for i in range(1, 9)]
    assert gs.corpus[2].title == "Espresso"
    # q5 (train) repeats q1's text after normalisation: dropped so the set passes the leakage check
    assert [(c.id, c.split) for c in gs.cases] == [("q1", "test"), ("q2", "test"), ("q3", "test"), ("q4", "dev")]
    cases = by_id(gs)
    assert cases["q1"].relevant_docs == {"d1": 2, "d2": 1, "d5": 0}  # the 0 label is kept
    assert cases["q2"].relevant_docs == {"d3": 2}  # the qrel naming unknown d99 is dropped
    assert cases["q3"].input == "Why is cold brew coffee less acidic?"
    assert all(c.task_type == "retrieval" and c.answerable for c in gs.cases)
    assert cases["q1"].expected is not None and cases["q1"].expected.answers == ()
    desc = gs.manifest.description
    assert "1 qrel naming a document not in corpus.jsonl" in desc
    assert "1 train query repeating an evaluated query's text" in desc


def test_beir_limit_name_and_queries_without_relevant_docs(tmp_path):
    src = tmp_path / "beir"
    shutil.copytree(BEIR_TINY, src)
    with (src / "qrels" / "test.tsv").open("a", encoding="utf-8") as f:
        f.write("q4\td8\t0\n")  # q4 is in dev too: this test qrel wins, and has no label >= 1
    gs = import_golden_set("beir", src, tmp_path / "gs", name="tiny", limit=2)
    assert gs.name == "tiny"
    assert [c.id for c in gs.cases] == ["q1", "q2"]
    assert len(gs.corpus) == 8  # the corpus is never cut by limit
    assert "1 query without a relevance label >= 1" in gs.manifest.description
    assert "2 qrels of a query already in an earlier split" in gs.manifest.description


def test_beir_missing_qrels(tmp_path):
    src = tmp_path / "beir"
    shutil.copytree(BEIR_TINY, src)
    shutil.rmtree(src / "qrels")
    with pytest.raises(InputError, match="qrels"):
        import_golden_set("beir", src, tmp_path / "gs")


# ---------------------------------------------------------------- SQuAD format: COVID-QA


@pytest.mark.datasets
@needs(COVID_QA)
def test_squad_covid_qa(tmp_path):
    gs = import_golden_set("squad", COVID_QA, tmp_path / "covid_qa")
    check_reloads(gs)
    assert len(gs.cases) == 1380 and len(gs.corpus) == 98  # as the dataset README says
    assert gs.manifest.licence == "Apache-2.0"  # read from covid_qa/LICENSE
    cases = by_id(gs)
    c = cases["262"]
    assert c.task_type == "extractive_qa" and c.split == "test"
    assert c.input == "What is the main cause of HIV-1 infection in children?"
    assert c.expected.answer == (
        "Mother-to-child transmission (MTCT) is the main cause of HIV-1 infection in children worldwide."
    )
    assert c.relevant_docs == {"630": 2}
    assert cases["569"].expected.answer == "three" and cases["569"].relevant_docs == {"650": 2}
    doc = {d.id: d for d in gs.corpus}["630"]
    assert doc.text.startswith("Functional Genetic Variants in DC-SIGNR")


def test_squad2_impossible_and_aliases(tmp_path):
    src = tmp_path / "squad2.json"
    src.write_text(
        json.dumps(
            {
                "version": "v2.0",
                "data": [
                    {
                        "title": "Green tea",
                        "paragraphs": [
                            {
                                "context": "Green tea is steamed or pan-fired soon after picking.",
                                "qas": [
                                    {
                                        "id": "a1",
                                        "question": "How is green tea heated? ",
                                        "answers": [
                                            {"text": "steamed or pan-fired", "answer_start": 13},
                                            {"text": "steamed or pan-fired", "answer_start": 13},
                                            {"text": "steamed", "answer_start": 13},
                                        ],
                                        "is_impossible": False,
                                    },
                                    {"id": "a2", "question": "Who invented tea?", "answers": [], "is_impossible": True},
                                    {"id": "a3", "question": "No answer given?", "answers": []},
                                ],
                            }
                        ],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    gs = import_golden_set("squad", src, tmp_path / "gs")
    cases = by_id(gs)
    assert [d.id for d in gs.corpus] == ["green-tea-0"]
    assert cases["a1"].input == "How is green tea heated?"
    assert cases["a1"].expected.answers == ("steamed or pan-fired", "steamed")
    assert cases["a1"].relevant_docs == {"green-tea-0": 2}
    assert not cases["a2"].answerable and cases["a2"].task_type == "unanswerable" and cases["a2"].expected is None
    assert "a3" not in cases and "Dropped 1 question" in gs.manifest.description


def test_squad_malformed_json_is_located(tmp_path):
    src = tmp_path / "bad.json"
    src.write_text('{"data": [\n  {"paragraphs": [}\n]}', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.json:2: malformed JSON"):
        import_golden_set("squad", src, tmp_path / "gs")


# ---------------------------------------------------------------- ClapNQ


@pytest.mark.datasets
@needs(CLAPNQ)
def test_clapnq_dev(tmp_path):
    gs = import_golden_set("clapnq", CLAPNQ, tmp_path / "clapnq")
    check_reloads(gs)
    assert gs.manifest.licence == "Apache-2.0"
    assert len(gs.cases) == 600
    assert sum(c.answerable for c in gs.cases) == 300
    # 293 distinct gold ids + 4 second versions of a gold id + 300 passages of unanswerable questions
    assert len(gs.corpus) == 597
    assert "full ClapNQ Wikipedia corpus" in gs.manifest.description
    cases = by_id(gs)
    c = cases["6401197308716204890"]
    assert c.task_type == "factual" and c.input == "which method of forecasting uses averages to predict future weather"
    assert c.expected.answer.startswith("Seasonality, in which data experiences regular and predictable changes")
    assert c.relevant_docs == {"820769473_15895-16818": 1}
    assert len(cases["-1218875241352839456"].expected.aliases) == 1
    u = cases["1594887608634738480"]
    assert not u.answerable and u.task_type == "unanswerable" and u.expected is None and u.relevant_docs == {}
    # two questions whose gold passage differs slightly under one official id
    assert cases["4988326746697423597"].relevant_docs == {"803302492_842-1710": 1}
    assert cases["147778680095892610"].relevant_docs == {"803302492_842-1710-v2": 1}
    docs = {d.id: d for d in gs.corpus}
    assert docs["820769473_15895-16818"].title == "Forecasting"


@pytest.mark.datasets
@needs(CLAPNQ)
def test_clapnq_limit_alternates(tmp_path):
    gs = import_golden_set("clapnq", CLAPNQ, tmp_path / "clapnq", limit=5)
    assert [c.answerable for c in gs.cases] == [True, False, True, False, True]
    assert len(gs.corpus) == 597


# ---------------------------------------------------------------- HotpotQA (IRCoT sample)


@pytest.mark.datasets
@needs(HOTPOTQA)
def test_hotpotqa_sample(tmp_path):
    gs = import_golden_set("hotpotqa", HOTPOTQA, tmp_path / "hotpotqa")
    check_reloads(gs)
    assert gs.manifest.licence == "CC BY-SA 4.0"
    assert len(gs.cases) == 500
    assert len(gs.corpus) == 4858  # distinct paragraphs over 4,931 given with the questions
    assert all(len(c.relevant_docs) == 2 for c in gs.cases)
    c = by_id(gs)["5a8c7595554299585d9e36b6"]
    assert c.task_type == "multi_hop"
    assert c.input == (
        "What government position was held by the woman who portrayed Corliss Archer in the film Kiss and Tell?"
    )
    assert c.expected.answer == "Chief of Protocol"
    assert c.relevant_docs == {"shirley-temple": 1, "kiss-and-tell-1945-film": 1}
    docs = {d.id: d for d in gs.corpus}
    assert docs["shirley-temple"].title == "Shirley Temple"
    assert "Chief of Protocol" in docs["shirley-temple"].text


# ---------------------------------------------------------------- BFCL


@pytest.mark.datasets
@needs(BFCL)
def test_bfcl_simple_python(tmp_path):
    gs = import_golden_set("bfcl", BFCL, tmp_path / "bfcl")
    check_reloads(gs)
    assert gs.manifest.licence == "Apache-2.0"
    assert len(gs.cases) == 400 and len(gs.schemas) == 400 and gs.corpus == ()
    cases = by_id(gs)
    c = cases["simple_python_0"]
    assert c.task_type == "function_call" and c.tags == ("simple_python",)
    assert c.question == "Find the area of a triangle with a base of 10 units and height of 5 units."
    assert c.input[0].role == "user"
    assert c.expected.json_value == {
        "name": "calculate_triangle_area",
        "arguments": {"base": 10, "height": 5, "unit": "units"},
    }
    assert c.rubric.startswith("acceptable values: ")
    assert json.loads(c.rubric.removeprefix("acceptable values: ")) == [
        {"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}
    ]
    schema = gs.schemas[c.schema_ref]
    assert c.schema_ref == "simple_python_0.schema.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["name"] == {"const": "calculate_triangle_area"}
    args = schema["properties"]["arguments"]
    assert args["required"] == ["base", "height"] and args["additionalProperties"] is False
    assert args["properties"]["base"]["type"] == "integer"
    valid = validator_for(schema)(schema)
    assert not valid.is_valid({"name": "calculate_triangle_area", "arguments": {"base": 10}})
    assert not valid.is_valid({"name": "other", "arguments": {"base": 10, "height": 5}})
    # "" marks an omittable argument: the first other acceptable value is taken
    assert cases["simple_python_2"].expected.json_value["arguments"] == {"x": 4, "y": 5, "z": 0}
    # BFCL types converted: tuple -> array, float -> number
    coord = gs.schemas["simple_python_83.schema.json"]["properties"]["arguments"]["properties"]["coord1"]
    assert coord["type"] == "array" and coord["items"]["type"] == "number"
    # the one data quirk (venue: true for a string parameter) relaxed, tagged and counted
    relaxed = [c.id for c in gs.cases if "schema-relaxed" in c.tags]
    assert relaxed == ["simple_python_307"]
    venue = gs.schemas["simple_python_307.schema.json"]["properties"]["arguments"]["properties"]["venue"]
    assert venue["type"] == ["string", "boolean"]
    assert "1 schema relaxation in 1 case" in gs.manifest.description


@pytest.mark.datasets
@needs(BFCL)
def test_bfcl_parallel_and_multiple_files(tmp_path):
    gs = import_golden_set("bfcl", BFCL / "BFCL_v4_parallel.json", tmp_path / "par", limit=3)
    check_reloads(gs)
    c = gs.cases[0]
    assert [x.id for x in gs.cases] == ["parallel_0", "parallel_1", "parallel_2"] and c.tags == ("parallel",)
    assert c.expected.json_value == [
        {"name": "spotify.play", "arguments": {"artist": "Taylor Swift", "duration": 20}},
        {"name": "spotify.play", "arguments": {"artist": "Maroon 5", "duration": 15}},
    ]
    schema = gs.schemas[c.schema_ref]
    assert schema["type"] == "array" and schema["minItems"] == schema["maxItems"] == 2

    gs = import_golden_set("bfcl", BFCL / "BFCL_v4_multiple.json", tmp_path / "mul", limit=5)
    schema = gs.schemas[gs.cases[0].schema_ref]
    assert len(schema["anyOf"]) == 2  # multiple_0 offers two functions: one call of either


@pytest.mark.datasets
@needs(BFCL)
def test_bfcl_category_without_answers_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"possible_answer.*BFCL_v4_irrelevance\.json"):
        import_golden_set("bfcl", BFCL / "BFCL_v4_irrelevance.json", tmp_path / "gs")
