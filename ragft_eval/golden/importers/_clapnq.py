"""ClapNQ repository folder -> long-form grounded QA golden set with unanswerable questions.

Reads ``annotated_data/dev/clapnq_dev_answerable.jsonl`` and ``clapnq_dev_unanswerable.jsonl`` (records
``{"id", "input", "passages": [{"title", "text", "sentences"}], "output": [{"answer", "meta"}]}``) and,
when present, ``retrieval/dev/question_dev_answerable.tsv`` for the official gold passage ids.

Mapping: each record -> a :class:`Case` with ``id`` the NQ id and ``input`` the question.  Answerable:
``task_type: factual``, ``expected.answer`` the first non-empty output answer, ``expected.aliases`` the
other distinct answers (other annotation rounds; CRLF read as LF), ``relevant_docs`` ``{gold passage
id: 1}``.
Unanswerable: ``answerable: false``, ``task_type: unanswerable``, no expected answer, no relevant docs.
ClapNQ's dev split is its public evaluation split (its test split is hidden), so cases are in split
``test``.  Documents are the passages present in the records (the full ClapNQ Wikipedia passage corpus
is not in these files): a gold passage takes its official id (``<doc>_<start>-<end>``), a second,
slightly different text under the same id becomes ``<id>-v2``, and any other passage gets
``p-<hash of title and text>``.  ``limit`` keeps the first N cases alternating answerable and
unanswerable; the corpus is always imported whole.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ...errors import InputError
from ...records import Case, Document, Expected
from .._load import GoldenSet
from .._write import write_golden_set
from ._common import (
    check_dest,
    check_limit,
    field,
    manifest,
    plural,
    read_jsonl,
    require_dir,
    require_file,
    short_hash,
)

ANSWERABLE = Path("annotated_data/dev/clapnq_dev_answerable.jsonl")
UNANSWERABLE = Path("annotated_data/dev/clapnq_dev_unanswerable.jsonl")
GOLD_IDS = Path("retrieval/dev/question_dev_answerable.tsv")


def _gold_ids(path: Path) -> dict[str, list[str]]:
    """Question id -> official gold passage ids, from the retrieval TSV (empty when it is absent)."""
    if not path.is_file():
        return {}
    out: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if not reader.fieldnames or not {"id", "doc-id-list"} <= set(reader.fieldnames):
            raise InputError(f"{path}:1: expected a header with columns 'id' and 'doc-id-list'")
        for row in reader:
            ids = (row.get("doc-id-list") or "").replace(",", " ").split()
            if ids:
                out[str(row["id"]).strip()] = ids
    return out


def import_clapnq(src: str | Path, dest: str | Path, *, name: str | None = None, limit: int | None = None) -> GoldenSet:
    """Import the ClapNQ folder ``src`` into ``dest`` (see the module docstring for the mapping)."""
    src, dest = Path(src), Path(dest)
    check_limit(limit)
    require_dir(src, "ClapNQ folder")
    ans_path = require_file(src / ANSWERABLE, "ClapNQ answerable dev file")
    una_path = require_file(src / UNANSWERABLE, "ClapNQ unanswerable dev file")
    gold = _gold_ids(src / GOLD_IDS)
    check_dest(dest)

    docs: dict[str, Document] = {}
    by_content: dict[tuple[str, str], str] = {}
    variants = 0

    def add_passage(title: str, text: str, official: str | None) -> str:
        nonlocal variants
        key = (title, text)
        if key in by_content:
            return by_content[key]
        doc_id = official or f"p-{short_hash(title, text)}"
        if official and official in docs:
            n = 2
            while f"{official}-v{n}" in docs:
                n += 1
            doc_id = f"{official}-v{n}"
            variants += 1
        docs[doc_id] = Document(id=doc_id, title=title, text=text)
        by_content[key] = doc_id
        return doc_id

    def passages(obj: dict, where: str) -> list[tuple[str, str]]:
        out = []
        for p in field(obj, "passages", where, list):
            if not isinstance(p, dict) or not isinstance(p.get("text"), str):
                raise InputError(f"{where}: each passage needs a 'text' string")
            out.append((str(p.get("title") or ""), p["text"]))
        return out

    answerable: list[Case] = []
    missing_gold_id = 0
    for lineno, obj in read_jsonl(ans_path):
        where = f"{ans_path}:{lineno}"
        qid = str(field(obj, "id", where, (str, int)))
        official = gold.get(qid, [])
        missing_gold_id += not official
        rel = {}
        for i, (title, text) in enumerate(passages(obj, where)):
            rel[add_passage(title, text, official[i] if i < len(official) else None)] = 1
        answers: list[str] = []
        for out in field(obj, "output", where, list):
            text = out.get("answer") if isinstance(out, dict) else None
            text = text.replace("\r\n", "\n").strip() if isinstance(text, str) else ""
            if text and text not in answers:
                answers.append(text)
        if not answers:
            raise InputError(f"{where}: an answerable record needs a non-empty output answer")
        answerable.append(
            Case(
                id=qid,
                task_type="factual",
                input=field(obj, "input", where).strip(),
                expected=Expected(answer=answers[0], aliases=tuple(answers[1:])),
                relevant_docs=rel,
            )
        )

    unanswerable: list[Case] = []
    for lineno, obj in read_jsonl(una_path):
        where = f"{una_path}:{lineno}"
        for title, text in passages(obj, where):
            add_passage(title, text, None)
        unanswerable.append(
            Case(
                id=str(field(obj, "id", where, (str, int))),
                task_type="unanswerable",
                input=field(obj, "input", where).strip(),
                answerable=False,
            )
        )

    cases: list[Case] = []
    for i in range(max(len(answerable), len(unanswerable))):
        cases += answerable[i : i + 1] + unanswerable[i : i + 1]
    seen: set[str] = set()
    for c in cases:
        if c.id in seen:
            raise InputError(f"{src}: question id {c.id!r} appears twice in the ClapNQ dev files")
        seen.add(c.id)
    if limit is not None:
        cases = cases[:limit]

    n_ans = sum(c.answerable for c in cases)
    description = (
        f"ClapNQ dev (its public evaluation split; the test split is hidden): {plural(n_ans, 'answerable question')}"
        f" with long-form gold answers and {plural(len(cases) - n_ans, 'unanswerable question')}"
        + (f" (first {limit} cases, alternating)" if limit is not None else "")
        + f". Corpus: the {plural(len(docs), 'passage')} present in the annotated records only, not the full"
        " ClapNQ Wikipedia corpus, so retrieval over it is easier than the official setting; gold passages"
        f" keep their official ids ({plural(variants, 'second passage version')} under an existing id kept as"
        f" <id>-v2; {plural(missing_gold_id, 'answerable question')} without an official id got hashed ids)."
    )
    return write_golden_set(
        dest, manifest=manifest(dest, name, description, "Apache-2.0"), cases=cases, corpus=docs.values()
    )
