"""The real local model: llama.cpp's OpenAI-compatible server with Gemma 3 270M, offline, and every
bad-input path of model access giving an error that names the setting."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from ragft_eval import run_async
from ragft_eval.errors import ConfigError, EndpointError, ServerError
from ragft_eval.golden import load_golden_set
from ragft_eval.llm import LocalServer, LocalServerSpec, ModelClient, ModelPool, ModelSpec

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.model


def test_completion_through_our_client(gemma_server):
    spec = ModelSpec(model="gemma", base_url=gemma_server.base_url, max_tokens=24)

    async def go():
        client = ModelClient("local", spec, base_dir=ROOT)
        await client.start()
        try:
            prompt = (
                "Context:\n[1] Pricing: The Pro plan costs $49 per month.\n\nAnswer using only the context.\n\n"
                "Question: How much does the Pro plan cost?\nAnswer:"
            )
            return await client.complete(prompt)
        finally:
            await client.close()

    out = asyncio.run(go())
    assert "49" in out.text
    assert out.prompt_tokens > 10 and 0 < out.completion_tokens <= 24 and out.latency_s > 0


def test_unknown_model_name_is_named(gemma_server):
    spec = ModelSpec(model="gpt-9", base_url=gemma_server.base_url)
    with pytest.raises(EndpointError, match=r"models.remote.model: 'gpt-9' is not served at .*; it serves: gemma"):
        asyncio.run(ModelClient("remote", spec, base_dir=ROOT).start())


def test_unreachable_endpoint_is_named():
    from ragft_eval.llm.server import free_port

    spec = ModelSpec(model="m", base_url=f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(EndpointError, match=r"models.remote.base_url: cannot reach http://127.0.0.1:\d+/v1"):
        asyncio.run(ModelClient("remote", spec, base_dir=ROOT).start())


def test_missing_api_key_variable_is_named(monkeypatch):
    monkeypatch.delenv("RAGFT_TEST_NO_SUCH_KEY", raising=False)
    spec = ModelSpec(model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1", api_key_env="RAGFT_TEST_NO_SUCH_KEY")
    with pytest.raises(ConfigError, match=r"models.remote.api_key_env: environment variable RAGFT_TEST_NO_SUCH_KEY is"):
        asyncio.run(ModelClient("remote", spec, base_dir=ROOT).start())


def test_key_never_stored(gemma_server, monkeypatch):
    monkeypatch.setenv("RAGFT_TEST_KEY", "sk-secret-value")
    spec = ModelSpec(model="gemma", base_url=gemma_server.base_url, api_key_env="RAGFT_TEST_KEY")
    client = ModelClient("remote", spec, base_dir=ROOT)

    async def go():
        await client.start()
        await client.close()

    asyncio.run(go())
    assert "sk-secret-value" not in json.dumps(client.describe())


def test_server_that_fails_to_start_says_why(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    server = LocalServer(LocalServerSpec(startup_timeout_s=60), alias="broken", gguf=bad)
    with pytest.raises(ServerError, match=r"local server for model 'broken' exited with code \d+ while starting"):
        asyncio.run(server.start())
    assert server.exit_code is None or server.exit_code != 0


def test_missing_gguf_and_lora_are_named(tmp_path):
    spec = ModelSpec(model="m", local=LocalServerSpec(gguf=str(tmp_path / "nope.gguf")))
    with pytest.raises(ConfigError, match=r"local.gguf: no GGUF file at .*nope.gguf"):
        asyncio.run(ModelClient("m", spec, base_dir=tmp_path).start())


def _suite(tmp_path: Path, systems: list[dict], retrievers: dict | None = None, **extra) -> Path:
    cfg = {
        "name": "local",
        "golden_sets": [str(ROOT / "golden_sets" / "demo")],
        "models": {"gemma": {"model": "gemma", "local": {"n_threads": 2}, "max_tokens": 32}},
        "retrievers": retrievers or {"bm25": {"kind": "bm25"}},
        "systems": systems,
        "metrics": [{"metric": "recall", "k": 3}, {"metric": "token_recall"}, {"metric": "abstention"}],
        "store": str(tmp_path / "store.sqlite"),
        "reports_dir": str(tmp_path / "reports"),
        "cache_dir": str(tmp_path / "cache"),
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_retriever_import_path_that_does_not_exist(tmp_path):
    path = _suite(
        tmp_path,
        [{"name": "rag", "kind": "rag", "model": "gemma", "retriever": "mine"}],
        retrievers={"mine": {"kind": "python", "target": "no_such_module.store:Retriever"}},
    )
    with pytest.raises(ConfigError, match=r"retrievers: target: cannot import module 'no_such_module.store'"):
        asyncio.run(run_async(path, limit=1))


def test_server_dying_mid_run_gives_errored_cases_and_the_run_finishes(tmp_path):
    path = _suite(tmp_path, [{"name": "po", "kind": "prompt_only", "model": "gemma"}])
    from ragft_eval.runner import load_suite

    suite = load_suite(path)
    pool = ModelPool(suite.models, base_dir=suite.base_dir)

    def written() -> int:
        try:
            with sqlite3.connect(tmp_path / "store.sqlite") as db:
                return db.execute("SELECT count(*) FROM case_results").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    async def killer():
        while written() < 2:
            await asyncio.sleep(0.05)
        os.kill(pool._clients["gemma"].server.pid, signal.SIGKILL)

    async def go():
        try:
            task = asyncio.create_task(killer())
            result = await run_async(suite, limit=8, split=["test"], models=pool)
            task.cancel()
            return result
        finally:
            await pool.close()

    result = asyncio.run(go())
    failed = [cr for cr in result.results if cr.response.failed]
    assert len(result.results) == 8 and 1 <= len(failed) <= 6
    assert all("local server for model 'gemma' died (exit code -9)" in cr.response.error.message for cr in failed)
    assert result.error_rates["po"] == (len(failed), 8)


def test_offline_end_to_end_in_a_network_namespace(tmp_path):
    """The demo suite on a small sample with no network at all: HF_HUB_OFFLINE=1 inside `unshare -rn`."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        pytest.skip("needs unshare and ip (util-linux, iproute2) to make a network namespace")
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("unprivileged network namespaces are not available here")
    suite = yaml.safe_load((ROOT / "evals" / "demo.yaml").read_text())
    suite |= {"store": str(tmp_path / "s.sqlite"), "reports_dir": str(tmp_path / "r"), "cache_dir": str(tmp_path / "c")}
    suite["golden_sets"] = [str(ROOT / "golden_sets" / "demo")]
    # the systems that need no training (the fine-tune path has its own test); judges have their own tests
    suite["systems"] = [s for s in suite["systems"] if s["kind"] in ("prompt_only", "rag")]
    suite["metrics"] = [m for m in suite["metrics"] if not m["metric"].startswith(("judge", "faith"))]
    suite.pop("judge")
    suite.pop("costs")  # it prices systems this test leaves out (naming them is an error: a typo there costs 0)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    cmd = f"ip link set lo up && exec {sys.executable} -m ragft_eval run {path} --sample 6 --seed 2 --no-progress"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["unshare", "-rn", "sh", "-c", cmd], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "task type x system" in proc.stdout
    [report] = list((tmp_path / "r").iterdir())
    rows = [json.loads(line) for line in (report / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 6 * 3
    assert not [r for r in rows if r["response"]["error"]], "no case may fail offline"
    # RAG retrieves for every case but an extraction case without relevant documents (its source is the
    # message in the question)
    cases = {c.id: c for c in load_golden_set(ROOT / "golden_sets" / "demo").cases}
    rag = [r for r in rows if r["system"] == "rag-bm25"]
    retrieving = [r for r in rag if not (cases[r["case_id"]].schema_ref and not cases[r["case_id"]].relevant_docs)]
    assert retrieving and all(r["response"]["retrieved"] and r["response"]["context"] for r in retrieving)


def test_finetuned_on_a_local_model_needs_an_adapter(tmp_path):
    path = _suite(tmp_path, [{"name": "ft", "kind": "finetuned", "model": "gemma"}])
    with pytest.raises(ConfigError, match=r"system 'ft': adapter: a finetuned system on a local model needs a LoRA"):
        asyncio.run(run_async(path, limit=1))


def test_finetuned_accepts_a_remote_fine_tuned_model_id(gemma_server, tmp_path):
    """A remote fine-tuned model (here the local server standing in under an ft: alias) needs no adapter."""
    server = LocalServer(LocalServerSpec(), alias="ft:gemma:demo::abc", gguf=gemma_server.gguf)
    asyncio.run(server.start())
    try:
        path = _suite(tmp_path, [{"name": "ft", "kind": "finetuned", "model": "remote-ft"}])
        cfg = yaml.safe_load(path.read_text())
        cfg["models"]["remote-ft"] = {"model": "ft:gemma:demo::abc", "base_url": server.base_url}
        path.write_text(yaml.safe_dump(cfg))
        result = asyncio.run(run_async(path, limit=2))
    finally:
        server.stop()
    assert result.error_rates == {"ft": (0, 2)}
    assert result.manifest.systems["ft"]["model"]["model"] == "ft:gemma:demo::abc"


def test_ragas_faithfulness_with_the_local_model_as_judge(gemma_server, tmp_path):
    """ragas Faithfulness end to end against llama.cpp: a score or an honest unscored, calls counted."""
    suite = {
        "name": "faith",
        "golden_sets": [str(ROOT / "golden_sets" / "example")],
        "models": {"judge": {"model": "gemma", "base_url": gemma_server.base_url, "timeout_s": 300}},
        "systems": [{"name": "cand", "kind": "replay", "path": str(ROOT / "evals" / "replays" / "candidate.jsonl")}],
        "metrics": [{"metric": "faithfulness", "where": {"task_types": ["factual_static"]}}],
        "judge": {"model": "judge", "faithfulness_max_tokens": 256},
        "store": str(tmp_path / "s.sqlite"),
        "reports_dir": str(tmp_path / "r"),
        "cache_dir": str(tmp_path / "c"),
    }
    path = tmp_path / "faith.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    result = asyncio.run(run_async(path, limit=2))
    faith = [m for cr in result.results for m in cr.results if m.metric == "faithfulness"]
    judged = [m for m in faith if "not selected" not in (m.reason or "")]
    assert judged, "the example set has factual_static cases"
    for m in judged:
        assert m.status in ("scored", "unscored"), m.reason
        assert m.details["calls"] >= 1 and m.details["prompt_tokens"] > 0
        if m.status == "scored":
            assert 0.0 <= m.value <= 1.0


def test_local_servers_stop_when_the_harness_is_terminated(tmp_path):
    """SIGTERM to a running `ragft-eval run` stops it and its llama.cpp server; a SIGKILLed harness's
    server dies with it (PR_SET_PDEATHSIG)."""
    import time

    path = _suite(tmp_path, [{"name": "po", "kind": "prompt_only", "model": "gemma"}])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def servers_of(pid: int) -> list[int]:
        cmd = ["pgrep", "-P", str(pid), "-f", "ragft_eval.llm.llama_server"]
        out = subprocess.run(cmd, capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen(
            [sys.executable, "-m", "ragft_eval", "run", str(path), "--no-progress"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 120
        while not servers_of(proc.pid) and time.time() < deadline:
            time.sleep(0.2)
        [server] = servers_of(proc.pid)
        time.sleep(3)  # let it answer a case or two
        proc.send_signal(sig)
        proc.wait(timeout=60)
        for _ in range(100):
            if not os.path.exists(f"/proc/{server}") or open(f"/proc/{server}/stat").read().split()[2] == "Z":
                break
            time.sleep(0.1)
        else:
            os.kill(server, signal.SIGKILL)
            pytest.fail(f"llama.cpp server {server} outlived its harness after {sig!r}")
        if sig == signal.SIGTERM:
            assert proc.returncode == 130


def test_local_servers_share_the_cpu(gguf_path):
    """Two real local servers asked at once: with one CPU slot, at most one request
    runs at a time across both, and latency excludes the wait; with two slots both run together."""
    specs = {
        "a": ModelSpec(model="a", local={"gguf": str(gguf_path)}, max_tokens=8),
        "b": ModelSpec(model="b", local={"gguf": str(gguf_path)}, max_tokens=8),
    }

    async def go(slots: int) -> tuple[int, list[float], float]:
        pool = ModelPool(specs, base_dir=ROOT, cpu_slots=slots)
        try:
            a, b = await pool.get("a"), await pool.get("b")
            t = asyncio.get_running_loop().time()
            outs = await asyncio.gather(*(c.complete("Question: What is 2 + 2?\nAnswer:") for c in (a, b, a, b)))
            wall = asyncio.get_running_loop().time() - t
            assert a.describe()["local"]["cpu_slots"] == slots
            return pool.cpu.peak, [o.latency_s for o in outs], wall
        finally:
            await pool.close()

    peak, latencies, wall = asyncio.run(go(1))
    assert peak == 1
    assert sum(latencies) <= wall * 1.05  # serial: each latency is its own call, no call's wait inside another's
    peak, _, _ = asyncio.run(go(2))
    assert peak == 2


def test_a_warm_rerun_costs_the_real_server_nothing(tmp_path):
    """The real llama.cpp server counts what it generates (one line per completion on its stderr): a run
    answered from the call cache sends it nothing, as the server itself reports."""
    cfg = {"name": "warm", "golden_sets": [str(ROOT / "golden_sets" / "example")],
           "models": {"g": {"model": "gemma", "local": {"gguf": "gemma3-270m"}, "max_tokens": 8}},
           "systems": [{"name": "p", "kind": "prompt_only", "model": "g"}],
           "metrics": [{"metric": "token_recall"}], "store": str(tmp_path / "s.sqlite"),
           "reports_dir": str(tmp_path / "r"), "cache_dir": str(tmp_path / "c")}  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg))

    def generations(result) -> int:
        (endpoint,) = result.summary.endpoints
        return endpoint["server_generations"]

    cold = asyncio.run(run_async(path, limit=3))
    warm = asyncio.run(run_async(path, limit=3))
    assert generations(cold) == 3 and generations(warm) == 0
    assert [cr.response.answer for cr in warm.results] == [cr.response.answer for cr in cold.results]


def test_temperature_zero_answers_do_not_depend_on_the_request_before(gemma_server):
    """The same prompt gives the same answer whatever was asked before it: every request evaluates its
    prompt from the first token.  llama.cpp would otherwise reuse the previous request's shared prefix and
    evaluate the rest in another batch split, whose rounding changes greedy answers: with the reuse on,
    2 of these 12 RAG prompts (four demo documents as context, over the 512-token batch) answered
    differently the second time (measured on this machine); with it off, none."""
    from ragft_eval import prompts
    from ragft_eval.golden import load_golden_set

    gs = load_golden_set(ROOT / "golden_sets" / "demo")
    docs = gs.corpus_as_of(None)
    questions = [c.question for c in gs.cases if c.split == "test" and c.task_type.startswith("factual")][:12]
    spec = ModelSpec(model="gemma", base_url=gemma_server.base_url, max_tokens=40, stop=("\n\n", "\nQuestion:"))

    def prompt(i: int, question: str) -> str:
        context = prompts.context_block([f"{d.title}: {d.text}" for d in docs[i : i + 4]])
        return prompts.RAG.completion.format(context=context, examples="", question=question, prefix="")

    async def go():
        client = ModelClient("local", spec, base_dir=ROOT)
        await client.start()
        try:
            pairs = []
            for i, q in enumerate(questions):
                first = (await client.complete(prompt(i, q))).text
                await client.complete(prompt(i, questions[(i + 1) % len(questions)]))  # same context, other question
                pairs.append((first, (await client.complete(prompt(i, q))).text))
            return pairs
        finally:
            await client.close()

    pairs = asyncio.run(go())
    assert [a == b for a, b in pairs] == [True] * len(questions)


def test_a_request_given_up_on_stops_its_generation(gemma_server):
    """A client that gives up (here a 1-second timeout on a 400-token generation) no longer holds the real
    server: the generation stops at its next token (the server says how many it made), and the next
    request is answered at once instead of queueing behind the abandoned one."""
    import time

    body = {"model": "gemma", "prompt": "Count from one to five hundred: one, two, three,", "max_tokens": 400,
            "temperature": 0.0, "repeat_penalty": 1.0, "stop": []}  # fmt: skip
    before = len(gemma_server.abandoned)
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{gemma_server.base_url}/completions", json=body, timeout=1.0)
    t = time.perf_counter()
    short = httpx.post(f"{gemma_server.base_url}/completions", json={**body, "max_tokens": 2}, timeout=120)
    waited = time.perf_counter() - t
    assert short.status_code == 200
    for _ in range(40):  # the mark reaches the pump thread
        if len(gemma_server.abandoned) > before:
            break
        time.sleep(0.05)
    (made,) = gemma_server.abandoned[before:]
    assert 0 < made < 400
    # the whole 400 tokens take ~6 s here; the short answer came well before they could have finished
    assert waited < 3.0


def test_a_chat_completion_is_one_generation_to_the_server(gemma_server):
    """The real server counts a chat completion once (it generates through the completion path), as it
    counts a text completion."""
    import time

    before = gemma_server.served
    body = {"model": "gemma", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}
    r = httpx.post(f"{gemma_server.base_url}/chat/completions", json=body, timeout=120)
    assert r.status_code == 200
    time.sleep(0.1)  # the mark reaches the pump thread
    assert gemma_server.served == before + 1
