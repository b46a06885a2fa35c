"""BEIR folder -> retrieval golden set.

Layout: ``corpus.jsonl`` (``{"_id", "title", "text", "metadata"?}``), ``queries.jsonl`` (``{"_id", "text"}``)
and ``qrels/<split>.tsv`` (header ``query-id  corpus-id  score``) for splits ``test``, ``dev``, ``train``.

Mapping: each corpus line -> :class:`Document` (``_id`` -> id, ``title``, ``text``, a dict ``metadata``
kept); each query with qrels -> a :class:`Case` with ``task_type: retrieval``, ``id`` the query id,
``input`` the query text, ``relevant_docs`` the graded qrels (0 labels kept: judged not relevant),
``expected`` an empty :class:`Expected` (retrieval only) and ``split`` the qrels file's split.

To make a valid golden set, qrels naming a document or query that is not in the files are dropped,
a query in several qrels files is kept in the first of test, dev, train, a query left without a label
>= 1 is dropped, and a train query whose normalised text equals an evaluated one's is dropped; the
manifest description counts each.  ``limit`` keeps the first N cases (test first, in queries.jsonl
order); the corpus is always imported whole.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ...errors import InputError
from ...records import Case, Document, Expected
from .._load import GoldenSet
from .._normalize import normalize_input
from .._write import write_golden_set
from ._common import check_dest, check_limit, field, manifest, plural, read_jsonl, require_dir, require_file

SPLITS = ("test", "dev", "train")


def _read_qrels(path: Path) -> list[tuple[int, str, str, int]]:
    rows: list[tuple[int, str, str, int]] = []
    with path.open(encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or not "".join(row).strip():
                continue
            if lineno == 1 and row[0].strip().lower() in ("query-id", "query_id", "qid"):
                continue
            if len(row) < 3:
                raise InputError(f"{path}:{lineno}: expected 3 tab-separated columns query-id, corpus-id, score")
            try:
                score = int(float(row[2]))
            except ValueError:
                raise InputError(f"{path}:{lineno}: score must be an integer, got {row[2]!r}") from None
            rows.append((lineno, row[0].strip(), row[1].strip(), score))
    return rows


def import_beir(src: str | Path, dest: str | Path, *, name: str | None = None, limit: int | None = None) -> GoldenSet:
    """Import the BEIR folder ``src`` into ``dest`` (see the module docstring for the mapping)."""
    src, dest = Path(src), Path(dest)
    check_limit(limit)
    require_dir(src, "BEIR folder")
    corpus_path = require_file(src / "corpus.jsonl", "BEIR corpus.jsonl")
    queries_path = require_file(src / "queries.jsonl", "BEIR queries.jsonl")
    qrels_dir = require_dir(src / "qrels", "BEIR qrels folder")
    qrels_files = [(split, qrels_dir / f"{split}.tsv") for split in SPLITS if (qrels_dir / f"{split}.tsv").is_file()]
    if not qrels_files:
        raise InputError(f"{qrels_dir}: no qrels file (expected one of {', '.join(s + '.tsv' for s in SPLITS)})")
    check_dest(dest)

    docs: dict[str, Document] = {}
    for lineno, obj in read_jsonl(corpus_path):
        where = f"{corpus_path}:{lineno}"
        doc_id = str(field(obj, "_id", where, (str, int)))
        if doc_id in docs:
            raise InputError(f"{where}: duplicate document id {doc_id!r}")
        meta = obj.get("metadata")
        docs[doc_id] = Document(
            id=doc_id,
            title=str(obj.get("title") or ""),
            text=field(obj, "text", where),
            metadata=meta if isinstance(meta, dict) else {},
        )

    queries: dict[str, str] = {}
    for lineno, obj in read_jsonl(queries_path):
        where = f"{queries_path}:{lineno}"
        qid = str(field(obj, "_id", where, (str, int)))
        if qid in queries:
            raise InputError(f"{where}: duplicate query id {qid!r}")
        queries[qid] = field(obj, "text", where)
    order = {qid: i for i, qid in enumerate(queries)}

    dropped = {"unknown_doc": 0, "unknown_query": 0, "other_split": 0, "no_relevant": 0, "train_leak": 0}
    labels: dict[str, dict[str, dict[str, int]]] = {}  # split -> query id -> doc id -> relevance
    owner: dict[str, str] = {}  # query id -> the split it was kept in
    for split, path in qrels_files:
        per_query = labels.setdefault(split, {})
        for _lineno, qid, doc_id, score in _read_qrels(path):
            if qid not in queries:
                dropped["unknown_query"] += 1
                continue
            if doc_id not in docs:
                dropped["unknown_doc"] += 1
                continue
            if owner.setdefault(qid, split) != split:
                dropped["other_split"] += 1
                continue
            per_query.setdefault(qid, {})[doc_id] = score

    cases: list[Case] = []
    for split in SPLITS:
        for qid in sorted(labels.get(split, {}), key=order.__getitem__):
            rel = labels[split][qid]
            if not any(v >= 1 for v in rel.values()):
                dropped["no_relevant"] += 1
                continue
            cases.append(
                Case(
                    id=qid,
                    task_type="retrieval",
                    input=queries[qid],
                    expected=Expected(),
                    relevant_docs=rel,
                    split=split,
                )
            )
    evaluated = {normalize_input(c.question) for c in cases if c.split != "train"}
    kept = [c for c in cases if c.split != "train" or normalize_input(c.question) not in evaluated]
    dropped["train_leak"] = len(cases) - len(kept)
    if limit is not None:
        kept = kept[:limit]

    per_split = {s: sum(c.split == s for c in kept) for s in SPLITS}
    notes = [
        f"{plural(dropped['unknown_doc'], 'qrel')} naming a document not in corpus.jsonl",
        f"{plural(dropped['unknown_query'], 'qrel')} naming a query not in queries.jsonl",
        f"{plural(dropped['other_split'], 'qrel')} of a query already in an earlier split",
        f"{plural(dropped['no_relevant'], 'query', 'queries')} without a relevance label >= 1",
        f"{plural(dropped['train_leak'], 'train query')} repeating an evaluated query's text",
    ]
    description = (
        f"BEIR dataset '{src.resolve().name}' imported from corpus.jsonl, queries.jsonl and qrels/: "
        f"{plural(len(kept), 'retrieval case')} ("
        + ", ".join(f"{n} {s}" for s, n in per_split.items() if n)
        + f") over {plural(len(docs), 'document')}"
        + (f", first {limit} cases only" if limit is not None else "")
        + ". Dropped: "
        + "; ".join(notes)
        + "."
    )
    return write_golden_set(
        dest, manifest=manifest(dest, name, description, "see source"), cases=kept, corpus=docs.values()
    )
