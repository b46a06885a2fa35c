"""SQuAD-format JSON (1.1 or 2.0, e.g. COVID-QA) -> extractive QA golden set.

Layout: ``{"data": [{"title"?, "paragraphs": [{"context", "document_id"?, "qas": [{"id", "question",
"answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``.

Mapping: each paragraph -> a :class:`Document` (id ``document_id`` when the paragraph has one, else
``<slug of the article title or "article<i>">-<paragraph index>``; title the article title; text the
context); each question -> a :class:`Case` with ``id`` the question id, ``input`` the question,
``task_type: extractive_qa``, ``expected.answer`` the first answer text, ``expected.aliases`` the other
distinct answer texts and ``relevant_docs`` ``{paragraph id: 2}``.  A SQuAD 2.0 ``is_impossible``
question becomes ``answerable: false``, ``task_type: unanswerable``, no expected answer and no relevant
document.  A question without answers that is not marked impossible is dropped (counted in the
description).  Every case is in split ``test``; ``limit`` keeps the first N questions in file order,
the corpus is always imported whole.  The licence is read from a LICENSE file beside the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import InputError
from ...records import Case, Document, Expected
from .._load import GoldenSet
from .._write import write_golden_set
from ._common import (
    check_dest,
    check_limit,
    licence_near,
    manifest,
    plural,
    read_json,
    require_file,
    slug,
    unique,
)


def _answer_texts(qa: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for ans in qa.get("answers") or ():
        text = ans.get("text") if isinstance(ans, dict) else None
        if isinstance(text, str) and text.strip() and text.strip() not in out:
            out.append(text.strip())
    return out


def import_squad(src: str | Path, dest: str | Path, *, name: str | None = None, limit: int | None = None) -> GoldenSet:
    """Import the SQuAD-format JSON file ``src`` into ``dest`` (see the module docstring for the mapping)."""
    src, dest = Path(src), Path(dest)
    check_limit(limit)
    require_file(src, "SQuAD JSON file")
    raw = read_json(src)
    articles = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(articles, list):
        raise InputError(f"{src}: not SQuAD format: expected an object with a 'data' list of articles")
    check_dest(dest)

    docs: list[Document] = []
    cases: list[Case] = []
    doc_ids: set[str] = set()
    case_ids: set[str] = set()
    no_answer = 0
    for i, article in enumerate(articles):
        where = f"{src}: data[{i}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise InputError(f"{where}: expected an article object with a 'paragraphs' list")
        title = str(article.get("title") or "")
        for j, para in enumerate(article["paragraphs"]):
            pwhere = f"{where}.paragraphs[{j}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise InputError(f"{pwhere}: expected a paragraph object with a 'context' string")
            if para.get("document_id") is not None:
                base = str(para["document_id"])
            else:
                base = f"{slug(title, default=f'article{i}')}-{j}"
            doc_id = unique(base, doc_ids)
            docs.append(Document(id=doc_id, title=title, text=para["context"]))
            for k, qa in enumerate(para.get("qas") or ()):
                qwhere = f"{pwhere}.qas[{k}]"
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str) or qa.get("id") is None:
                    raise InputError(f"{qwhere}: expected a question object with 'id' and 'question'")
                case_id = unique(str(qa["id"]), case_ids)
                if qa.get("is_impossible"):
                    cases.append(
                        Case(id=case_id, task_type="unanswerable", input=qa["question"].strip(), answerable=False)
                    )
                    continue
                texts = _answer_texts(qa)
                if not texts:
                    no_answer += 1
                    case_ids.discard(case_id)
                    continue
                cases.append(
                    Case(
                        id=case_id,
                        task_type="extractive_qa",
                        input=qa["question"].strip(),
                        expected=Expected(answer=texts[0], aliases=tuple(texts[1:])),
                        relevant_docs={doc_id: 2},
                    )
                )
    if limit is not None:
        cases = cases[:limit]
    version = f" {raw['version']}" if isinstance(raw.get("version"), str) else ""
    description = (
        f"SQuAD-format{version} file '{src.name}': {plural(len(cases), 'question')} "
        f"({plural(sum(not c.answerable for c in cases), 'unanswerable one')}) over "
        f"{plural(len(docs), 'paragraph')} as documents"
        + (f", first {limit} questions only" if limit is not None else "")
        + f". Dropped {plural(no_answer, 'question')} with no answer that is not marked impossible."
    )
    return write_golden_set(
        dest, manifest=manifest(dest, name, description, licence_near(src)), cases=cases, corpus=docs
    )
