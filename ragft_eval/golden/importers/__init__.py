"""Import public datasets as golden sets: ``import_golden_set(fmt, src, dest)``.

Formats (see each module's docstring for how the fields map):

- ``beir``: a BEIR folder (corpus.jsonl, queries.jsonl, qrels/{test,dev,train}.tsv) -> retrieval cases
- ``squad``: a SQuAD 1.1/2.0 JSON file (e.g. COVID-QA) -> extractive QA (+ unanswerable) cases
- ``clapnq``: the ClapNQ repository folder (dev answerable + unanswerable) -> long-form QA cases
- ``hotpotqa``: IRCoT-processed HotpotQA JSON Lines -> multi-hop QA cases over their paragraphs
- ``bfcl``: Berkeley Function-Calling Leaderboard data -> function-call cases with JSON Schemas

Every importer writes the folder with :func:`~ragft_eval.golden.write_golden_set`, which loads it back
and validates it, and returns that :class:`~ragft_eval.golden.GoldenSet`.  A missing or malformed
source raises :class:`~ragft_eval.errors.InputError` naming the file (and the line, for JSON Lines).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...errors import InputError
from .._load import GoldenSet
from ._beir import import_beir
from ._bfcl import import_bfcl
from ._clapnq import import_clapnq
from ._hotpotqa import import_hotpotqa
from ._squad import import_squad

Importer = Callable[..., GoldenSet]

FORMATS: dict[str, Importer] = {
    "beir": import_beir,
    "squad": import_squad,
    "clapnq": import_clapnq,
    "hotpotqa": import_hotpotqa,
    "bfcl": import_bfcl,
}


def import_golden_set(
    fmt: str, src: str | Path, dest: str | Path, *, name: str | None = None, limit: int | None = None
) -> GoldenSet:
    """Import ``src`` (in format ``fmt``) as a golden set written to ``dest``; return it loaded and validated."""
    try:
        importer = FORMATS[fmt]
    except KeyError:
        raise InputError(f"unknown import format {fmt!r}; known formats: {', '.join(sorted(FORMATS))}") from None
    return importer(Path(src), Path(dest), name=name, limit=limit)


__all__ = [
    "FORMATS",
    "Importer",
    "import_beir",
    "import_bfcl",
    "import_clapnq",
    "import_golden_set",
    "import_hotpotqa",
    "import_squad",
]
