"""Write a golden set folder (used by the importers), then load it back so it is validated like any other."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..records import Case, Document
from ._load import CASES, CORPUS, MANIFEST, SCHEMAS, GoldenSet, load_golden_set


def write_golden_set(
    dest: str | Path,
    *,
    manifest: Mapping[str, Any],
    cases: Iterable[Case],
    corpus: Iterable[Document] = (),
    schemas: Mapping[str, Any] | None = None,
) -> GoldenSet:
    """Write ``manifest.yaml``, ``cases.jsonl``, ``corpus.jsonl`` and ``schemas/`` to ``dest``; return it loaded."""
    root = Path(dest)
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).write_text(yaml.safe_dump(dict(manifest), sort_keys=False, allow_unicode=True), encoding="utf-8")
    with (root / CASES).open("w", encoding="utf-8") as f:
        for case in cases:
            f.write(case.model_dump_json(by_alias=True, exclude_defaults=True) + "\n")
    docs = list(corpus)
    if docs:
        with (root / CORPUS).open("w", encoding="utf-8") as f:
            for doc in docs:
                f.write(doc.model_dump_json(exclude_defaults=True) + "\n")
    if schemas:
        (root / SCHEMAS).mkdir(exist_ok=True)
        for name, schema in schemas.items():
            (root / SCHEMAS / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False), encoding="utf-8")
    return load_golden_set(root)
