"""IRCoT-processed HotpotQA JSON Lines -> multi-hop QA golden set.

Records: ``{"question_id", "question_text", "answers_objects": [{"spans", "number", "date"}],
"contexts": [{"id", "title", "paragraph_text", "is_supporting"}]}`` (about 10 paragraphs a question,
2 of them supporting).  ``src`` is the ``.jsonl`` file, or a folder holding exactly one.

Mapping: every distinct (title, paragraph) of the file -> a :class:`Document` with id the slug of the
title (``"Shirley Temple"`` -> ``shirley-temple``; ``-<hash>`` appended when two different paragraphs
share a slug), title and text kept.  Each record -> a :class:`Case` with ``id`` the question id,
``input`` the question, ``task_type: multi_hop``, ``expected.answer`` the first answer span (or the
number / date when there is no span), ``expected.aliases`` the other spans, and ``relevant_docs``
``{supporting paragraph id: 1}``.  Every case is in split ``test`` (the IRCoT sample is drawn from
HotpotQA's dev set, its public evaluation split).  ``limit`` keeps the first N questions; the corpus
(all paragraphs of the file) is always imported whole.  Licence: HotpotQA's CC BY-SA 4.0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import InputError
from ...records import Case, Document, Expected
from .._load import GoldenSet
from .._write import write_golden_set
from ._common import check_dest, check_limit, field, manifest, plural, read_jsonl, short_hash, slug, unique


def _find_source(src: Path) -> Path:
    if src.is_file():
        return src
    if not src.is_dir():
        raise InputError(f"{src}: HotpotQA JSON Lines file not found")
    found = sorted(src.rglob("*.jsonl"))
    if len(found) != 1:
        listed = ", ".join(str(p.relative_to(src)) for p in found[:10]) or "none"
        raise InputError(f"{src}: expected exactly one .jsonl file in the folder, found {len(found)} ({listed})")
    return found[0]


def _answers(obj: dict[str, Any], where: str) -> list[str]:
    out: list[str] = []
    for ans in field(obj, "answers_objects", where, list):
        if not isinstance(ans, dict):
            continue
        texts = [s for s in ans.get("spans") or () if isinstance(s, str)]
        if not texts and str(ans.get("number") or "").strip():
            texts = [str(ans["number"])]
        date = ans.get("date") if isinstance(ans.get("date"), dict) else {}
        if not texts and any(str(date.get(k) or "").strip() for k in ("day", "month", "year")):
            texts = [" ".join(str(date[k]) for k in ("day", "month", "year") if str(date.get(k) or "").strip())]
        out += [t.strip() for t in texts if t.strip() and t.strip() not in out]
    return out


def import_hotpotqa(
    src: str | Path, dest: str | Path, *, name: str | None = None, limit: int | None = None
) -> GoldenSet:
    """Import IRCoT-processed HotpotQA ``src`` into ``dest`` (see the module docstring for the mapping)."""
    src, dest = Path(src), Path(dest)
    check_limit(limit)
    path = _find_source(src)
    check_dest(dest)

    docs: dict[tuple[str, str], Document] = {}
    doc_ids: set[str] = set()
    case_ids: set[str] = set()
    cases: list[Case] = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        rel: dict[str, int] = {}
        for ctx in field(obj, "contexts", where, list):
            if not isinstance(ctx, dict):
                raise InputError(f"{where}: each context must be an object")
            title = field(ctx, "title", where)
            text = field(ctx, "paragraph_text", where)
            doc = docs.get((title, text))
            if doc is None:
                base = slug(title)
                doc_id = unique(base if base not in doc_ids else f"{base}-{short_hash(title, text, n=8)}", doc_ids)
                doc = docs[(title, text)] = Document(id=doc_id, title=title, text=text)
            if ctx.get("is_supporting"):
                rel[doc.id] = 1
        answers = _answers(obj, where)
        if not answers:
            raise InputError(f"{where}: no answer (answers_objects has no span, number or date)")
        cases.append(
            Case(
                id=unique(str(field(obj, "question_id", where, (str, int))), case_ids),
                task_type="multi_hop",
                input=field(obj, "question_text", where).strip(),
                expected=Expected(answer=answers[0], aliases=tuple(answers[1:])),
                relevant_docs=rel,
            )
        )
    if limit is not None:
        cases = cases[:limit]
    description = (
        f"HotpotQA (IRCoT-processed sample '{path.name}'): {plural(len(cases), 'multi-hop question')}"
        + (f" (first {limit})" if limit is not None else "")
        + f" over the {plural(len(docs), 'distinct paragraph')} given with the questions (supporting"
        " paragraphs and distractors); relevant_docs are the supporting paragraphs."
    )
    return write_golden_set(
        dest, manifest=manifest(dest, name, description, "CC BY-SA 4.0"), cases=cases, corpus=docs.values()
    )
