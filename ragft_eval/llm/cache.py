"""The call cache: every model call stored under a content-addressed key, so a re-run does not pay again.

A key is :func:`~ragft_eval.hashing.content_hash` of the model's identity (:func:`model_identity`) and
the *full* :class:`ModelRequest` (messages or prompt, sampling, stop, ``response_format`` or grammar,
logprobs, the repeat index), so two repeats of a judgment are two entries and any change of a request
is a miss.  The identity holds what decides a model's answer and nothing that changes from run to run:

* a remote endpoint: ``base_url``, ``model`` and ``api``;
* a local server: the GGUF's hash, the LoRA adapter's hash and the server flags that change output
  (``n_ctx``, ``logits_all``, ``n_threads``, the seed...), but not the loopback port (new every run),
  file paths (the hashes identify the files), ``cpu_slots``, timeouts or the launcher;
* both: the model's sampling defaults (``temperature``, ``max_tokens``, ``stop``, ``seed``), because a
  request's ``None`` fields take them: without them, changing a default in the suite would replay
  answers made under the old one.

The API key is never part of it (nor is the *name* of its environment variable: a rotated key or a
renamed variable serves the same model).  A failed call (an exception from the endpoint) is never
stored.  A cached response keeps the latency and usage of the original call and is marked ``cached``.

Policies (:data:`CachePolicy`), one per role (``systems`` and ``judge``) in the suite's ``cache:``:

``read_write``  a hit returns the stored response; a miss calls and stores.  The default for both roles
                (:data:`DEFAULT_POLICY`): a pull-request gate or a resumed run re-reads what it paid for.
``read``        a hit returns the stored response; a miss calls and does not store (a run that must not
                change a shared cache).
``write``       always calls the endpoint and refreshes the entry.  A scheduled nightly run sets it for
                ``systems``: the systems under test are called afresh, so a change of the model behind a
                name is seen and recorded (served model id and ``system_fingerprint``), not replayed.
``off``         no cache at all.

Judge drift checks (``ragft-eval judge drift``, :mod:`ragft_eval.stats.drift_run`) call the judge with
no cache at all: they exist to see whether the judge answers differently today.  (:meth:`CacheSpec.policy`
with ``drift_check=True`` gives ``write`` for a caller that wants to refresh the entries instead.)

The store is one SQLite file per cache directory in WAL mode, so two runs may read and write the same
directory at once (each write is one statement; SQLite serialises writers; ``busy_timeout`` waits).
Its calls are synchronous, on the caller's thread: a write of a few KB takes ~0.1 ms and a read less
(no fsync per commit in WAL with ``synchronous=NORMAL``), cheaper than a hop to a worker thread; only a
write that waits behind another process's write holds the event loop for that wait.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ..errors import ConfigError
from ..hashing import canonical_json, content_hash
from .interface import ModelRequest, ModelResponse

SCHEMA_VERSION = 1  # of CacheEntry and of the SQLite file (PRAGMA user_version)

# Bump when what a key covers changes, or when the client starts sending the server something that is
# neither in the request nor in describe() (today: repeat_penalty 1.0 on local servers, <= 4 stops remote):
# old entries then miss instead of replaying answers to a different call.
KEY_VERSION = 1

CachePolicy = Literal["read_write", "read", "write", "off"]
Role = Literal["systems", "judge"]

DEFAULT_DIR = ".ragft_cache/calls"
DEFAULT_POLICY: dict[Role, CachePolicy] = {"systems": "read_write", "judge": "read_write"}
DB_NAME = "cache.sqlite"

# describe()["sampling"] holds sampling defaults and the timeout; only the timeout leaves the answer alone.
# A denylist, so that a sampling default added later counts (a needless miss beats a stale hit).
_SAMPLING_IGNORED = frozenset({"timeout_s"})
# Server flags that do not change output: paths (the hashes identify the files), the loopback address
# and port (a free port every run) and logging.  Every other flag counts, as above.
_FLAGS_IGNORED = frozenset({"--model", "--lora_path", "--host", "--port", "--verbose"})


def _output_flags(flags: Sequence[str]) -> dict[str, str | None]:
    """``["--n_ctx", "4096", "--flag", ...]`` as ``{"--n_ctx": "4096", ...}`` without the ignored flags
    (a dict: the order of the command line does not change the answer)."""
    out: dict[str, str | None] = {}
    items = [str(f) for f in flags]
    i = 0
    while i < len(items):
        name, value = items[i], None
        if i + 1 < len(items) and not items[i + 1].startswith("--"):
            value, i = items[i + 1], i + 2
        else:
            i += 1
        if name not in _FLAGS_IGNORED:
            out[name] = value
    return out


def model_identity(described: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a model for caching, from :meth:`ModelClient.describe` (see the module docstring).

    Raises ``ValueError`` for a local model described before its server started (no file hashes yet):
    without them every model served under the same alias would share entries.
    """
    identity: dict[str, Any] = {"model": described["model"], "api": described["api"]}
    local = described.get("local")
    if local is not None:
        if not local.get("gguf_hash"):
            raise ValueError("model_identity: the local server's description has no gguf_hash")
        identity["local"] = {
            "server": local.get("server"),
            "gguf_hash": local["gguf_hash"],
            "lora_hash": local.get("lora_hash"),
            "flags": _output_flags(local.get("flags") or ()),
        }
    elif described.get("base_url"):
        identity["base_url"] = described["base_url"]
    else:
        raise ValueError(
            f"model_identity: model {described['model']!r} has neither a base_url nor a started local server; "
            "describe it after start()"
        )
    sampling = described.get("sampling") or {}
    identity["sampling"] = {k: v for k, v in sampling.items() if k not in _SAMPLING_IGNORED}
    return identity


def cache_key(identity: Mapping[str, Any], request: ModelRequest) -> str:
    """The content-addressed key of one call: the model's identity and every field of the request."""
    return content_hash({"v": KEY_VERSION, "identity": dict(identity), "request": request.model_dump(mode="json")})


def _as_cached(response: ModelResponse) -> ModelResponse:
    # ModelResponse gets ``cached: bool = False`` (interface.py, owner); until then pydantic sets a plain
    # attribute here, readable as ``.cached`` but not dumped.
    return response.model_copy(update={"cached": True})


class CacheSpec(BaseModel):
    """The suite's ``cache:``: one policy for both roles (``cache: read``) or one per role and the folder
    (``cache: {systems: write, judge: read_write, dir: .ragft_cache/calls}``; ``dir`` relative to the suite).
    YAML reads a bare ``off`` as false, so false means ``off`` (and true ``read_write``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    systems: CachePolicy = DEFAULT_POLICY["systems"]
    judge: CachePolicy = DEFAULT_POLICY["judge"]
    dir: str = DEFAULT_DIR

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        def policy(v: Any) -> Any:
            return {False: "off", True: "read_write"}[v] if isinstance(v, bool) else v

        if isinstance(value, str | bool):
            return {"systems": policy(value), "judge": policy(value)}
        if isinstance(value, Mapping):
            return {k: policy(v) if k in ("systems", "judge") else v for k, v in value.items()}
        return value

    def policy(self, role: Role, *, drift_check: bool = False) -> CachePolicy:
        """The policy of ``role``; a judge drift check calls afresh (``write``) unless the cache is off."""
        chosen: CachePolicy = self.systems if role == "systems" else self.judge
        return "write" if drift_check and chosen != "off" else chosen


class CacheEntry(BaseModel):
    """One stored call: the response as the endpoint returned it, and what it was stored under."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    key: str
    model: str
    served_model: str | None
    system_fingerprint: str | None
    identity: dict[str, Any]
    response: ModelResponse
    created_at: float  # unix seconds: when the response was obtained
    last_used_at: float  # unix seconds: last stored or read (prune goes by it)
    hits: int
    size: int  # bytes of the stored response and identity


_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE IF NOT EXISTS calls (
            key                TEXT PRIMARY KEY,
            model              TEXT NOT NULL,
            served_model       TEXT,
            system_fingerprint TEXT,
            identity           TEXT NOT NULL,
            response           TEXT NOT NULL,
            created_at         REAL NOT NULL,
            last_used_at       REAL NOT NULL,
            hits               INTEGER NOT NULL DEFAULT 0,
            size               INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS calls_last_used ON calls (last_used_at);
        """,
    ),
]

_COLUMNS = "key, model, served_model, system_fingerprint, identity, response, created_at, last_used_at, hits, size"


class CallCache:
    """The model-call cache of one directory (``<dir>/cache.sqlite``). Use as a context manager or call
    :meth:`close`.  Safe to share between threads, and between processes through the directory."""

    def __init__(self, directory: str | Path = DEFAULT_DIR, *, timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.time):  # fmt: skip
        self.dir = Path(directory)
        self.path = self.dir / DB_NAME
        self.timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = -1
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self._connection()  # open now, so that a bad directory fails at start, not at the first call

    # connection
    def _connection(self) -> sqlite3.Connection:
        # a connection must not cross a fork: a forked child opens its own
        if self._db is None or self._pid != os.getpid():
            self._db, self._pid = self._open(), os.getpid()
        return self._db

    def _open(self) -> sqlite3.Connection:
        self.dir.mkdir(parents=True, exist_ok=True)
        # autocommit: each write is one statement, hence atomic, and no transaction is left open
        db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                # switching a new file to WAL takes an exclusive lock and may not wait for a second opener
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    db.close()
                    raise
                time.sleep(0.05)
        if mode.lower() != "wal":
            db.close()
            raise ConfigError(f"cache.dir: {self.dir} does not support SQLite's WAL mode (a network filesystem?)")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: no corruption on a crash, only the last commits
        self._migrate(db)
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")  # two first openers: one migrates, the other waits and sees it done
        try:
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise ConfigError(
                    f"cache.dir: {self.path} has schema version {current}, newer than this ragft-eval's "
                    f"({SCHEMA_VERSION})"
                )
            for version, sql in _MIGRATIONS:
                if version > current:
                    for statement in filter(str.strip, sql.split(";")):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            db.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None

    def __enter__(self) -> CallCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # entries
    def entry(self, key: str) -> CacheEntry | None:
        """The stored entry of ``key`` as it is (no hit counted, not touched)."""
        with self._lock:
            row = self._connection().execute(f"SELECT {_COLUMNS} FROM calls WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        k, model, served, fingerprint, identity, response, created, used, hits, size = row
        try:
            parsed = ModelResponse.model_validate_json(response)
        except ValidationError:
            return None
        return CacheEntry(key=k, model=model, served_model=served, system_fingerprint=fingerprint,
                          identity=json.loads(identity), response=parsed, created_at=created, last_used_at=used,
                          hits=hits, size=size)  # fmt: skip

    def contains(self, key: str) -> bool:
        """Whether ``key`` is stored (a look that counts as neither hit nor miss)."""
        with self._lock:
            return self._connection().execute("SELECT 1 FROM calls WHERE key = ?", (key,)).fetchone() is not None

    def completion_tokens(self, model: str) -> tuple[int, float | None]:
        """How many stored calls of ``model`` reported completion tokens, and their mean (for estimates)."""
        with self._lock:
            rows = self._connection().execute("SELECT response FROM calls WHERE model = ?", (model,)).fetchall()
        counts = [t for (r,) in rows if (t := json.loads(r).get("completion_tokens")) is not None]
        return len(counts), (sum(counts) / len(counts) if counts else None)

    def get(self, key: str) -> ModelResponse | None:
        """The stored response of ``key``, marked cached (a hit; its last use is now), or None (a miss)."""
        with self._lock:
            db = self._connection()
            row = db.execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
            response = None
            if row is not None:
                try:
                    response = ModelResponse.model_validate_json(row[0])
                except ValidationError:
                    # written by a ModelResponse this version cannot read: a miss, and the next store replaces it
                    response = None
            if response is None:
                self.misses += 1
                return None
            db.execute("UPDATE calls SET last_used_at = ?, hits = hits + 1 WHERE key = ?", (self._clock(), key))
            self.hits += 1
        return _as_cached(response)

    def put(self, key: str, identity: Mapping[str, Any], response: ModelResponse) -> None:
        """Store (or replace) the response of ``key``, with the model and what the server said it served."""
        # the endpoint's response as returned: whether it came from here is not part of it
        stored = response.model_dump_json(exclude={"cached"})
        ident = canonical_json(dict(identity))
        now = self._clock()
        with self._lock:
            self._connection().execute(
                f"INSERT INTO calls ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,0,?) "
                "ON CONFLICT (key) DO UPDATE SET model = excluded.model, served_model = excluded.served_model, "
                "system_fingerprint = excluded.system_fingerprint, identity = excluded.identity, "
                "response = excluded.response, created_at = excluded.created_at, "
                "last_used_at = excluded.last_used_at, hits = 0, size = excluded.size",
                (key, str(identity.get("model", "")), response.served_model, response.system_fingerprint, ident,
                 stored, now, now, len(stored.encode()) + len(ident.encode())),
            )  # fmt: skip
            self.writes += 1

    async def through(
        self,
        key: str,
        identity: Mapping[str, Any],
        policy: CachePolicy,
        call: Callable[[], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """The response to the call under ``key`` by ``policy`` (see the module docstring).  An exception
        from ``call`` propagates and nothing is stored."""
        if policy not in ("read_write", "read", "write", "off"):
            raise ValueError(f"policy: expected read_write, read, write or off, got {policy!r}")
        if policy == "off":
            return await call()
        if policy in ("read_write", "read"):
            hit = self.get(key)
            if hit is not None:
                return hit
        response = await call()
        if policy in ("read_write", "write"):
            self.put(key, identity, response)
        return response

    # maintenance
    def stats(self) -> dict[str, Any]:
        """Entries, their bytes, the file's bytes, entries per model, and this process's hits/misses/writes."""
        with self._lock:
            db = self._connection()
            entries, size, oldest, newest = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(last_used_at), MAX(last_used_at) FROM calls"
            ).fetchone()
            models = dict(db.execute("SELECT model, COUNT(*) FROM calls GROUP BY model ORDER BY model").fetchall())
        files = [self.path, self.path.with_name(DB_NAME + "-wal"), self.path.with_name(DB_NAME + "-shm")]
        return {
            "dir": str(self.dir),
            "entries": entries,
            "bytes": size,
            "file_bytes": sum(f.stat().st_size for f in files if f.exists()),
            "models": models,
            "oldest_used_at": oldest,
            "newest_used_at": newest,
            "hits": self.hits,
            "misses": self.misses,
            "writes": self.writes,
        }

    def prune(self, older_than_days: float) -> int:
        """Delete the entries last used more than ``older_than_days`` ago; returns how many."""
        if older_than_days < 0:
            raise ValueError(f"older_than_days: expected >= 0, got {older_than_days}")
        cutoff = self._clock() - older_than_days * 86400
        return self._delete("DELETE FROM calls WHERE last_used_at < ?", (cutoff,))

    def clear(self) -> int:
        """Delete every entry; returns how many."""
        return self._delete("DELETE FROM calls", ())

    def _delete(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock:
            db = self._connection()
            n = db.execute(sql, params).rowcount
            if n:
                try:
                    db.execute("VACUUM")  # give the space back to the disk
                except sqlite3.OperationalError:
                    pass  # another run has the file open in a transaction: the free pages are reused instead
        return n
