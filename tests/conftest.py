"""Shared fixtures: where ../shared/datasets is, and the example golden set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # the pytest plugin's own tests

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def shared_dataset(*parts: str) -> Path:
    """Path under ../shared/datasets, or skip the test with the reason when it is absent."""
    path = SHARED_DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared datasets folder beside the repo), which is absent here")
    return path


@pytest.fixture
def root() -> Path:
    return ROOT
