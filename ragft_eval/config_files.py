"""Reading a YAML config file into a validated pydantic model: the one way the fine-tune and judge-train
configs are read, so a missing file, bad YAML and a bad key are reported alike (file, then key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError, validation_problems

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed YAML of ``path`` (``{}`` for an empty file); :class:`ConfigError` when the file is missing
    or the YAML malformed, ``what`` naming the kind of config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from exc


def validated(model: type[M], raw: Any, path: str | Path, what: str) -> M:
    """``raw`` (read from ``path``) as ``model``, with ``base_dir`` the file's folder (relative paths in the
    config resolve from there); :class:`ConfigError` listing every bad key."""
    path = Path(path)
    try:
        return model.model_validate({**raw, "base_dir": path.parent.resolve()})
    except ValidationError as exc:
        lines = [str(p) for p in validation_problems(exc, str(path), noun="key")]
        raise ConfigError(f"invalid {what}:\n" + "\n".join(lines)) from exc


def load_config(path: str | Path, model: type[M], what: str) -> M:
    """:func:`read_yaml` then :func:`validated`."""
    return validated(model, read_yaml(path, what), path, what)
