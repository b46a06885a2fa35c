"""Helpers shared by the importers: reading source files with located errors, ids, manifests."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...errors import InputError

VERSION = "1.0.0"
_SLUG = re.compile(r"[^\w]+")


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else an :class:`InputError` naming it."""
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    return path


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else an :class:`InputError` naming it."""
    if not path.is_dir():
        raise InputError(f"{path}: {what} not found (expected a folder)")
    return path


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` per non-blank line; a bad line raises ``InputError`` as ``file:line: ...``."""
    try:
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{lineno}: malformed JSON: {exc.msg} at column {exc.colno}") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
                yield lineno, obj
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text: {exc}") from None


def read_json(path: Path) -> Any:
    """The parsed JSON file; malformed JSON raises ``InputError`` as ``file:line: ...``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} at column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text: {exc}") from None


def field(obj: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    """``obj[key]`` checked to be of ``kind``; otherwise ``InputError`` naming ``where`` (``file:line``)."""
    if key not in obj:
        raise InputError(f"{where}: missing field {key!r}")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise InputError(f"{where}: field {key!r} must be {names}, got {type(value).__name__}")
    return value


def check_dest(dest: Path) -> None:
    """Refuse to write into a non-empty folder: stale files (old schemas) would mix into the new set."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(f"{dest}: destination exists and is not empty; choose a new folder or remove it")


def manifest(dest: Path, name: str | None, description: str, licence: str) -> dict[str, Any]:
    """The manifest mapping every importer writes (name defaults to the destination folder's name)."""
    return {
        "name": name or dest.resolve().name,
        "version": VERSION,
        "description": description,
        "licence": licence,
    }


def slug(text: str, default: str = "doc") -> str:
    """Lowercase, runs of non-word characters as ``-``: ``"Shirley Temple"`` -> ``"shirley-temple"``."""
    return _SLUG.sub("-", text.lower()).strip("-_") or default


def short_hash(*parts: str, n: int = 12) -> str:
    """Hex SHA-1 prefix of the parts joined by newlines (stable across machines)."""
    return hashlib.sha1("\n".join(parts).encode("utf-8")).hexdigest()[:n]


def unique(base: str, seen: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever is not yet in ``seen``; the result is added to it."""
    out, n = base, 1
    while out in seen:
        n += 1
        out = f"{base}-{n}"
    seen.add(out)
    return out


def check_limit(limit: int | None) -> None:
    """Refuse a ``limit`` below 1."""
    if limit is not None and limit < 1:
        raise InputError(f"limit must be a positive number of cases, got {limit}")


def plural(n: int, word: str, words: str | None = None) -> str:
    """``"1 case"``, ``"2 cases"`` (``words`` for an irregular plural)."""
    return f"{n:,} {word if n == 1 else words or word + 's'}"


_LICENCES = (
    ("apache license", "version 2.0", "Apache-2.0"),
    ("mit license", "", "MIT"),
    ("attribution-sharealike 4.0", "", "CC BY-SA 4.0"),
    ("attribution 4.0", "", "CC BY 4.0"),
)


def licence_near(src: Path, default: str = "see source") -> str:
    """The licence of the LICENSE file beside ``src`` or in a folder above it (at most 3 up).

    The walk stops at a code repository's root (``pyproject.toml`` or ``.git``) so a project's own
    licence is never taken for a dataset's; an unrecognised licence text gives ``default``.
    """
    folder = src if src.is_dir() else src.parent
    for here in [folder, *list(folder.parents)[:3]]:
        if (here / "pyproject.toml").exists() or (here / ".git").exists():
            break
        for cand in ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING"):
            path = here / cand
            if path.is_file():
                head = path.read_text(encoding="utf-8", errors="replace")[:3000].lower()
                for a, b, spdx in _LICENCES:
                    if a in head and b in head:
                        return spdx
                return default
    return default
