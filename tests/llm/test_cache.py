"""The call cache: keys, identities, policies, two writers at once, maintenance, the CLI, no secrets."""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import threading
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ragft_eval.cli import main
from ragft_eval.llm import CpuSlots, LocalServer, LocalServerSpec, ModelClient, ModelRequest, ModelResponse, ModelSpec
from ragft_eval.llm.cache import (
    DB_NAME,
    DEFAULT_POLICY,
    CacheEntry,
    CacheSpec,
    CallCache,
    cache_key,
    model_identity,
)

# ModelResponse.cached is added by the owner (llm/interface.py); the assertions that need the declared field
# (dumped, False on a fresh response) are skipped until it exists.
HAS_CACHED_FIELD = "cached" in ModelResponse.model_fields
needs_cached_field = pytest.mark.skipif(not HAS_CACHED_FIELD, reason="ModelResponse.cached not declared yet (owner)")

REMOTE = {
    "model": "gpt-4o-mini",
    "api": "chat",
    "base_url": "https://api.example.com/v1",
    "api_key_env": "OPENAI_API_KEY",
    "sampling": {"temperature": 0.0, "max_tokens": 96, "stop": ["\n\n"], "seed": 0, "timeout_s": 120},
}
IDENTITY = model_identity(REMOTE)


def _response(text: str = "Paris", **kw) -> ModelResponse:
    base = {"prompt_tokens": 12, "completion_tokens": 3, "latency_s": 0.75, "finish_reason": "stop",
            "served_model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_abc"}  # fmt: skip
    return ModelResponse(text=text, **{**base, **kw})


class CountingCall:
    """A fake endpoint: counts its calls; ``fail`` makes it raise like a dropped connection."""

    def __init__(self, text: str = "fresh", fail: bool = False):
        self.n, self.text, self.fail = 0, text, fail

    async def __call__(self) -> ModelResponse:
        self.n += 1
        if self.fail:
            raise ConnectionError("endpoint down")
        return _response(f"{self.text} {self.n}", latency_s=0.5)


def _through(cache: CallCache, key: str, policy: str, call: CountingCall) -> ModelResponse:
    return asyncio.run(cache.through(key, IDENTITY, policy, call))  # type: ignore[arg-type]


@pytest.fixture
def cache(tmp_path: Path):
    with CallCache(tmp_path / "calls") as c:
        yield c


# identity -----------------------------------------------------------------------------------------------


def _local_client(tmp_path: Path, *, gguf_name: str = "model.gguf", lora: bytes | None = b"lora-1",
                  port: int = 41001, cpu: int = 1, **spec_kw) -> ModelClient:  # fmt: skip
    """A ModelClient of a local model with its (unstarted) LocalServer, so describe() is the real one."""
    folder = tmp_path / f"files-{gguf_name}-{port}"
    folder.mkdir(parents=True, exist_ok=True)
    gguf = folder / gguf_name
    gguf.write_bytes(b"GGUF weights")
    lora_path = None
    if lora is not None:
        lora_path = folder / "adapter.gguf"
        lora_path.write_bytes(lora)
    local_kw = {k: spec_kw.pop(k) for k in ("n_ctx", "logits_all", "startup_timeout_s") if k in spec_kw}
    spec = ModelSpec(model="gemma", local=LocalServerSpec(**local_kw), **spec_kw)
    client = ModelClient("gemma", spec, base_dir=tmp_path, cpu=CpuSlots(cpu))
    client.server = LocalServer(spec.local, alias="gemma", gguf=gguf, lora=lora_path)  # type: ignore[arg-type]
    client.server.port = port
    return client


def _with_port(described: dict, port: int) -> dict:
    """describe() as if the flags carried the run's port (today they carry port 0; the rule must not care)."""
    flags = list(described["local"]["flags"])
    flags[flags.index("--port") + 1] = str(port)
    return {**described, "local": {**described["local"], "flags": flags}}


def test_local_identity_ignores_port_paths_timeouts_slots_and_launcher(tmp_path: Path) -> None:
    a = _local_client(tmp_path, gguf_name="model.gguf", port=41001, cpu=1).describe()
    b = _local_client(tmp_path, gguf_name="copy-elsewhere.gguf", port=52002, cpu=4, timeout_s=30,
                      startup_timeout_s=5).describe()  # fmt: skip
    b = _with_port(b, 52002)
    b["local"]["launcher"] = "llama_cpp.server"
    assert a != b  # the descriptions differ (paths, port, cpu_slots, timeout) ...
    assert model_identity(a) == model_identity(b)  # ... the identity does not
    ident = model_identity(a)
    assert ident["local"]["gguf_hash"].startswith("sha256:") and ident["local"]["lora_hash"].startswith("sha256:")
    flat = repr(ident)
    for absent in ("--port", "--host", "--lora_path", "--model'", str(tmp_path), "cpu_slots", "timeout_s", "launcher"):
        assert absent not in flat
    assert ident["local"]["flags"]["--n_ctx"] == "4096" and ident["local"]["flags"]["--logits_all"] == "false"


def test_local_identity_changes_with_lora_hash_and_output_flags(tmp_path: Path) -> None:
    base = model_identity(_local_client(tmp_path, lora=b"lora-1").describe())
    assert model_identity(_local_client(tmp_path, lora=b"lora-2", port=2).describe()) != base
    assert model_identity(_local_client(tmp_path, lora=None, port=3).describe()) != base
    assert model_identity(_local_client(tmp_path, n_ctx=8192, port=4).describe()) != base
    assert model_identity(_local_client(tmp_path, logits_all=True, port=5).describe()) != base


def test_remote_identity_is_base_url_model_api_and_sampling_defaults() -> None:
    assert IDENTITY == {
        "model": "gpt-4o-mini",
        "api": "chat",
        "base_url": "https://api.example.com/v1",
        "sampling": {"temperature": 0.0, "max_tokens": 96, "stop": ["\n\n"], "seed": 0},
    }
    longer_timeout = {**REMOTE, "sampling": {**REMOTE["sampling"], "timeout_s": 5}}
    assert model_identity(longer_timeout) == IDENTITY
    for change in ({"base_url": "https://other.example.com/v1"}, {"model": "gpt-4o"}, {"api": "completions"}):
        assert model_identity({**REMOTE, **change}) != IDENTITY


@pytest.mark.parametrize(
    "default", [{"temperature": 0.7}, {"max_tokens": 256}, {"stop": ["\n"]}, {"seed": 1}]
)  # fmt: skip
def test_a_changed_sampling_default_is_a_miss(default: dict) -> None:
    # a request that leaves temperature etc. to the model's config gets the config's value: the key must see it
    request = ModelRequest.chat([{"role": "user", "content": "hi"}])
    changed = {**REMOTE, "sampling": {**REMOTE["sampling"], **default}}
    assert cache_key(model_identity(changed), request) != cache_key(IDENTITY, request)


def test_real_describe_sampling_defaults_reach_the_key(tmp_path: Path) -> None:
    request = ModelRequest.chat([{"role": "user", "content": "hi"}])

    def key(**spec) -> str:
        client = ModelClient("m", ModelSpec(model="x", base_url="http://h/v1", **spec), base_dir=tmp_path)
        return cache_key(model_identity(client.describe()), request)

    keys = {key(**kw) for kw in ({}, {"temperature": 0.5}, {"max_tokens": 10}, {"stop": ("END",)}, {"seed": 7})}
    assert len(keys) == 5
    assert key(timeout_s=9) == key()


def test_a_local_model_described_before_start_has_no_identity(tmp_path: Path) -> None:
    client = ModelClient("gemma", ModelSpec(model="gemma", local=LocalServerSpec()), base_dir=tmp_path)
    with pytest.raises(ValueError, match="after start"):
        model_identity(client.describe())


# keys ---------------------------------------------------------------------------------------------------

CHAT = ModelRequest.chat(
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
)
COMPLETION = ModelRequest.completion("Question: Capital of France?\nAnswer:")


def test_key_is_stable() -> None:
    again = ModelRequest.chat(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
    )
    assert cache_key(IDENTITY, CHAT) == cache_key(IDENTITY, again)
    assert cache_key(dict(reversed(list(IDENTITY.items()))), CHAT) == cache_key(IDENTITY, CHAT)  # key order
    assert cache_key(IDENTITY, CHAT).startswith("sha256:") and len(cache_key(IDENTITY, CHAT)) == 71


CHAT_VARIANTS = {
    "messages": ModelRequest.chat([{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "Capital of Spain?"}]),
    "role": ModelRequest.chat([{"role": "user", "content": "Be brief."},
                               {"role": "user", "content": "Capital of France?"}]),
    "temperature": CHAT.model_copy(update={"temperature": 0.7}),
    "temperature 0 vs default": CHAT.model_copy(update={"temperature": 0.0}),
    "top_p": CHAT.model_copy(update={"top_p": 0.9}),
    "max_tokens": CHAT.model_copy(update={"max_tokens": 5}),
    "seed": CHAT.model_copy(update={"seed": 3}),
    "stop": CHAT.model_copy(update={"stop": ("\n",)}),
    "no stop": CHAT.model_copy(update={"stop": ()}),
    "response_format": CHAT.model_copy(update={"response_format": {"type": "json_object"}}),
    "logprobs": CHAT.model_copy(update={"logprobs": True}),
    "repeat 1": CHAT.model_copy(update={"repeat": 1}),
    "repeat 2": CHAT.model_copy(update={"repeat": 2}),
}  # fmt: skip
COMPLETION_VARIANTS = {
    "prompt": ModelRequest.completion("Question: Capital of Spain?\nAnswer:"),
    "grammar": COMPLETION.model_copy(update={"grammar": 'root ::= "yes" | "no"'}),
    "logprobs": COMPLETION.model_copy(update={"logprobs": True}),
    "repeat": COMPLETION.model_copy(update={"repeat": 1}),
}


def test_every_request_field_changes_the_key() -> None:
    fields = set(ModelRequest.model_fields) - {"schema_version", "api"}
    covered = {"messages", "prompt", "temperature", "top_p", "max_tokens", "seed", "stop", "response_format",
               "grammar", "logprobs", "repeat"}  # fmt: skip
    assert fields <= covered, f"a new request field needs a variant here: {fields - covered}"
    keys = [cache_key(IDENTITY, r) for r in (CHAT, *CHAT_VARIANTS.values(), COMPLETION, *COMPLETION_VARIANTS.values())]
    assert len(set(keys)) == len(keys)


def test_identity_parts_change_the_key(tmp_path: Path) -> None:
    local = model_identity(_local_client(tmp_path).describe())
    other_lora = model_identity(_local_client(tmp_path, lora=b"other", port=9).describe())
    other_port = model_identity(_with_port(_local_client(tmp_path, gguf_name="b.gguf", port=8).describe(), 8))
    assert cache_key(local, COMPLETION) != cache_key(other_lora, COMPLETION)
    assert cache_key(local, COMPLETION) == cache_key(other_port, COMPLETION)
    assert cache_key(IDENTITY, CHAT) != cache_key({**IDENTITY, "model": "gpt-4o"}, CHAT)


# policies -----------------------------------------------------------------------------------------------


def test_read_write_calls_once_then_replays_with_the_original_latency_and_usage(cache: CallCache) -> None:
    call = CountingCall()
    first = _through(cache, "k", "read_write", call)
    second = _through(cache, "k", "read_write", call)
    assert call.n == 1
    assert second.text == first.text == "fresh 1"
    assert (second.latency_s, second.prompt_tokens, second.completion_tokens) == (0.5, 12, 3)
    assert (second.served_model, second.system_fingerprint) == ("gpt-4o-mini-2024-07-18", "fp_abc")
    assert getattr(second, "cached", None) is True
    assert (cache.hits, cache.misses, cache.writes) == (1, 1, 1)


@needs_cached_field
def test_cached_is_a_declared_field(tmp_path: Path) -> None:
    with CallCache(tmp_path) as c:
        call = CountingCall()
        fresh = _through(c, "k", "read_write", call)
        hit = _through(c, "k", "read_write", call)
    assert fresh.cached is False  # type: ignore[attr-defined]
    assert hit.model_dump()["cached"] is True
    assert c.entry("k").response.cached is False  # type: ignore[union-attr]  # stored as the endpoint returned it


def test_read_replays_a_hit_and_does_not_store_a_miss(cache: CallCache) -> None:
    cache.put("stored", IDENTITY, _response("old"))
    call = CountingCall()
    assert _through(cache, "stored", "read", call).text == "old"
    assert call.n == 0
    assert _through(cache, "missing", "read", call).text == "fresh 1"
    assert _through(cache, "missing", "read", call).text == "fresh 2"  # never stored, so called again
    assert call.n == 2 and cache.get("missing") is None


def test_write_always_calls_and_refreshes_the_entry(cache: CallCache) -> None:
    cache.put("k", IDENTITY, _response("old", served_model="gpt-4o-mini-2024-07-18", system_fingerprint="fp_old"))
    call = CountingCall()
    assert _through(cache, "k", "write", call).text == "fresh 1"
    assert _through(cache, "k", "write", call).text == "fresh 2"
    assert call.n == 2
    entry = cache.entry("k")
    assert entry is not None and entry.response.text == "fresh 2" and entry.system_fingerprint == "fp_abc"
    assert cache.hits == 0


def test_off_neither_reads_nor_writes(cache: CallCache) -> None:
    cache.put("k", IDENTITY, _response("old"))
    call = CountingCall()
    assert _through(cache, "k", "off", call).text == "fresh 1"
    assert _through(cache, "new", "off", call).text == "fresh 2"
    assert call.n == 2 and cache.entry("new") is None and cache.entry("k").response.text == "old"  # type: ignore[union-attr]
    assert (cache.hits, cache.misses) == (0, 0)


def test_an_unknown_policy_is_refused(cache: CallCache) -> None:
    with pytest.raises(ValueError, match="policy"):
        _through(cache, "k", "sometimes", CountingCall())


@pytest.mark.parametrize("policy", ["read_write", "read", "write", "off"])
def test_a_failed_call_is_not_cached(cache: CallCache, policy: str) -> None:
    failing = CountingCall(fail=True)
    with pytest.raises(ConnectionError):
        _through(cache, "k", policy, failing)
    assert cache.entry("k") is None and cache.stats()["entries"] == 0
    ok = CountingCall()
    assert _through(cache, "k", policy, ok).text == "fresh 1" and ok.n == 1


def test_entry_records_model_served_id_fingerprint_and_times(tmp_path: Path) -> None:
    now = [1_000_000.0]
    with CallCache(tmp_path, clock=lambda: now[0]) as c:
        c.put("k", IDENTITY, _response())
        now[0] += 60
        c.get("k")
        entry = c.entry("k")
    assert entry is not None
    assert (entry.model, entry.served_model, entry.system_fingerprint) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18",
                                                                           "fp_abc")  # fmt: skip
    assert (entry.created_at, entry.last_used_at, entry.hits) == (1_000_000.0, 1_000_060.0, 1)
    assert entry.identity == IDENTITY and entry.size > 0 and entry.schema_version == 1
    with pytest.raises(ValidationError):
        CacheEntry.model_validate({**entry.model_dump(), "extra": 1})


def test_entries_persist_across_opens(tmp_path: Path) -> None:
    with CallCache(tmp_path) as c:
        c.put("k", IDENTITY, _response("kept"))
    with CallCache(tmp_path) as c:
        assert c.get("k").text == "kept"  # type: ignore[union-attr]


# two writers at once ------------------------------------------------------------------------------------


def _writer(directory: str, prefix: str, count: int, barrier) -> None:  # runs in a child process
    barrier.wait()  # both processes open the fresh directory at the same moment
    with CallCache(directory) as c:
        for i in range(count):
            c.put(f"{prefix}-{i}", IDENTITY, _response(f"{prefix} {i}"))
            c.put(f"shared-{i % 50}", IDENTITY, _response(f"{prefix} shared {i}"))  # the same keys from both
            c.get(f"{prefix}-{i // 2}")


def test_two_processes_write_the_same_dir(tmp_path: Path) -> None:
    directory = tmp_path / "shared-cache"
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter, as a second run would be
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(directory), p, 200, barrier)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with CallCache(directory) as c:
        assert c.stats()["entries"] == 450
        for prefix in ("a", "b"):
            for i in range(200):
                assert c.get(f"{prefix}-{i}").text == f"{prefix} {i}"  # type: ignore[union-attr]
        assert c.get("shared-7") is not None
        assert c._connection().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_threads_share_one_cache_and_open_their_own(tmp_path: Path) -> None:
    shared = CallCache(tmp_path)
    errors: list[BaseException] = []

    def work(prefix: str, own: bool) -> None:
        try:
            c = CallCache(tmp_path) if own else shared
            for i in range(100):
                c.put(f"{prefix}-{i}", IDENTITY, _response(str(i)))
                assert c.get(f"{prefix}-{i}") is not None
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{n}", n % 2 == 0)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert shared.stats()["entries"] == 400
    shared.close()


# stats, prune, clear ------------------------------------------------------------------------------------


def test_stats(tmp_path: Path) -> None:
    with CallCache(tmp_path) as c:
        c.put("a", IDENTITY, _response())
        c.put("b", IDENTITY, _response())
        c.put("c", {**IDENTITY, "model": "gemma"}, _response())
        c.get("a")
        c.get("nope")
        s = c.stats()
    assert s["entries"] == 3 and s["models"] == {"gemma": 1, "gpt-4o-mini": 2}
    assert s["bytes"] > 0 and s["file_bytes"] >= s["bytes"]
    assert (s["hits"], s["misses"], s["writes"]) == (1, 1, 3)


def test_prune_goes_by_last_use_and_clear_empties(tmp_path: Path) -> None:
    day = 86400.0
    now = [100 * day]
    with CallCache(tmp_path, clock=lambda: now[0]) as c:
        c.put("old-unused", IDENTITY, _response())
        c.put("old-but-read", IDENTITY, _response())
        now[0] += 9 * day
        c.get("old-but-read")
        c.put("new", IDENTITY, _response())
        now[0] += 1 * day
        assert c.prune(older_than_days=5) == 1
        assert c.entry("old-unused") is None and c.entry("old-but-read") is not None
        assert c.prune(older_than_days=5) == 0
        with pytest.raises(ValueError):
            c.prune(-1)
        assert c.clear() == 2
        assert c.stats()["entries"] == 0


# suite config -------------------------------------------------------------------------------------------


def test_cache_spec_shorthand_roles_and_yaml_off() -> None:
    assert DEFAULT_POLICY == {"systems": "read_write", "judge": "read_write"}
    default = CacheSpec()
    assert (default.systems, default.judge, default.dir) == ("read_write", "read_write", ".ragft_cache/calls")
    one = CacheSpec.model_validate(yaml.safe_load("read"))
    assert (one.systems, one.judge) == ("read", "read")
    nightly = CacheSpec.model_validate(yaml.safe_load("{systems: write, judge: read_write, dir: x/calls}"))
    assert (nightly.policy("systems"), nightly.policy("judge"), nightly.dir) == ("write", "read_write", "x/calls")
    assert CacheSpec.model_validate(yaml.safe_load("off")).policy("judge") == "off"  # YAML reads off as false
    assert CacheSpec.model_validate(yaml.safe_load("{systems: off}")).systems == "off"
    # judge drift checks never read the cache
    assert nightly.policy("judge", drift_check=True) == "write"
    assert CacheSpec.model_validate("off").policy("judge", drift_check=True) == "off"
    for bad in ("sometimes", {"systems": "read", "judges": "read"}):
        with pytest.raises(ValidationError):
            CacheSpec.model_validate(bad)
    with pytest.raises(ValidationError):
        default.systems = "off"  # type: ignore[misc]  # frozen


# the CLI ------------------------------------------------------------------------------------------------


def test_cli_stats_prune_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "calls"
    assert main(["cache", "stats", "--dir", str(d)]) == 0
    assert "no cache (0 entries)" in capsys.readouterr().out
    assert not d.exists()  # stats creates nothing

    with CallCache(d, clock=lambda: 0.0) as c:  # used in 1970: older than any --older-than
        c.put("a", IDENTITY, _response())
        c.put("b", {**IDENTITY, "model": "gemma"}, _response())
    with CallCache(d) as c:
        c.put("c", IDENTITY, _response())

    assert main(["cache", "stats", "--dir", str(d)]) == 0
    out = capsys.readouterr().out
    assert f"cache {d}: 3 entries" in out and "gpt-4o-mini: 2 entries" in out and "gemma: 1 entries" in out
    assert "last used: 1970-01-01T00:00:00+00:00 .. " in out

    assert main(["cache", "prune", "--older-than", "30", "--dir", str(d)]) == 0
    assert "pruned 2 entries last used more than 30 days ago" in capsys.readouterr().out
    assert main(["cache", "clear", "--dir", str(d)]) == 0
    assert f"cache {d}: cleared 1 entries" in capsys.readouterr().out
    assert main(["cache", "stats", "--dir", str(d)]) == 0
    assert "0 entries" in capsys.readouterr().out

    assert main(["cache", "prune", "--older-than", "-1", "--dir", str(d)]) == 2
    assert "--older-than" in capsys.readouterr().err


def test_cli_default_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with CallCache(".ragft_cache/calls") as c:
        c.put("a", IDENTITY, _response())
    assert main(["cache", "stats"]) == 0
    assert "cache .ragft_cache/calls: 1 entries" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "cleared 1 entries" in capsys.readouterr().out


# secrets ------------------------------------------------------------------------------------------------


def test_no_api_key_reaches_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-planted-0123456789abcdef"
    monkeypatch.setenv("RAGFT_TEST_PLANTED_KEY", secret)
    spec = ModelSpec(model="gpt-4o-mini", base_url="https://api.example.com/v1", api_key_env="RAGFT_TEST_PLANTED_KEY")
    described = ModelClient("mini", spec, base_dir=tmp_path).describe()
    assert described["api_key_env"] == "RAGFT_TEST_PLANTED_KEY"  # describe() names the variable, never its value
    described["api_key"] = secret  # even a description that carried the value would not pass it on
    identity = model_identity(described)
    assert "RAGFT_TEST_PLANTED_KEY" not in repr(identity) and secret not in repr(identity)

    d = tmp_path / "calls"
    with CallCache(d) as c:
        for i in range(3):
            c.put(cache_key(identity, CHAT.model_copy(update={"repeat": i})), identity, _response())
        asyncio.run(c.through(cache_key(identity, COMPLETION), identity, "read_write", CountingCall()))
        assert c.stats()["entries"] == 4
        files = sorted(d.iterdir())  # the database and, while open, its WAL
        blob = b"".join(f.read_bytes() for f in files if f.is_file())
    assert any(f.name == DB_NAME for f in files)
    assert b"gpt-4o-mini" in blob  # the entries are in the bytes read ...
    assert secret.encode() not in blob  # ... the key is not
    assert b"RAGFT_TEST_PLANTED_KEY" not in blob


def test_the_copied_gguf_has_the_same_hash(tmp_path: Path) -> None:
    # the premise of ignoring paths: the same file at another path is the same model
    a = _local_client(tmp_path, gguf_name="a.gguf").server
    assert a is not None
    moved = tmp_path / "moved.gguf"
    shutil.copy(a.gguf, moved)
    b = LocalServer(a.spec, alias="gemma", gguf=moved, lora=a.lora)
    assert b.describe()["gguf_hash"] == a.describe()["gguf_hash"] and b.describe()["gguf"] != a.describe()["gguf"]
