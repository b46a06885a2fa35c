"""Scan what a run wrote for a secret: every file under the given folders, read as bytes.

Use it on every output of a run that had a secret (the store, the reports, the cache, log files):
``assert_secret_absent(key, store_dir, reports_dir, cache_dir)``.  It looks for the secret as given and
in its base64 forms (a Basic auth header, an encoded blob), and refuses to pass when it scanned nothing,
so a wrong folder cannot make the check vacuous.
"""

from __future__ import annotations

import base64
from pathlib import Path


def secret_forms(secret: str) -> dict[str, bytes]:
    """The byte strings that give ``secret`` away: as is, and base64 (standard and URL-safe)."""
    raw = secret.encode()
    return {"plain": raw, "base64": base64.b64encode(raw), "base64url": base64.urlsafe_b64encode(raw)}


def assert_secret_absent(secret: str, *roots: Path) -> list[Path]:
    """Fail naming the first file under ``roots`` that contains ``secret`` (in any of :func:`secret_forms`);
    fail too when no file was scanned.  Returns the files scanned."""
    if len(secret) < 8:
        raise ValueError("use a secret of at least 8 characters: a short one matches by chance")
    forms = secret_forms(secret)
    scanned: list[Path] = []
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            data = path.read_bytes()
            scanned.append(path)
            for form, needle in forms.items():
                assert needle not in data, f"the secret ({form}) is in {path}"
    assert scanned, f"no file under {', '.join(map(str, roots))}: nothing was scanned"
    return scanned
