"""The Ray executor on a real local Ray cluster (two worker processes): the same results as the local
executor, one endpoint's cap held across workers, the driver's one-time work not redone by workers, and
a killed worker's cases answered by another and stored once."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.cli import main
from ragft_eval.errors import ConfigError
from ragft_eval.runner import BaseHook, LocalExecutor, RayExecutor, build_executor, load_suite
from ragft_eval.runner.ray_executor import CPU_SLOT, started_params, worker_suite
from ragft_eval.store import open_store
from ragft_eval.systems import FineTunedSystem, RoutedSystem

from ..judges.fault_server import FaultServer
from .test_run import ECHO, suite
from .test_seams import _example

ray = pytest.importorskip("ray", reason="the Ray executor's tests need Ray: pip install 'ragft-eval[ray]'")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cluster():
    """One local Ray cluster for the session (its start takes seconds): 2 CPUs, one CPU slot, loopback."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, resources={CPU_SLOT: 1}, include_dashboard=False, log_to_driver=False,
                 object_store_memory=128 * 1024**2, _node_ip_address="127.0.0.1")  # fmt: skip
    yield ray
    ray.shutdown()


def _cells(result, *, latency: bool = True):
    return [c for c in result.cells if latency or c.metric != "latency"]


def _rows(result):
    """Every stored (system, case): response and metric results, without the run id."""
    return sorted((cr.system, cr.case_id, cr.response.model_dump_json(), [m.model_dump() for m in cr.results])
                  for cr in result.results)  # fmt: skip


def test_the_example_suite_gives_the_same_results_on_ray_as_locally(tmp_path, cluster):
    path = _example(tmp_path)
    local = run(path)
    ex = RayExecutor(load_suite(path), workers=2)
    on_ray = run(load_suite(path), executor=ex)
    assert len(ex.worker_info) == 2 and len({w["pid"] for w in ex.worker_info}) == 2
    assert _cells(on_ray) == _cells(local) and _rows(on_ray) == _rows(local)
    assert ex.resent == 0


def _golden(tmp: Path, n_test: int = 16, n_dev: int = 6) -> Path:
    gs = tmp / "gs"
    gs.mkdir(parents=True)
    (gs / "manifest.yaml").write_text("name: toy\nversion: '1'\n")
    n = n_test + n_dev
    docs = [{"id": f"d{i}", "text": f"Fact number {i} is {i * 7}."} for i in range(n)]
    (gs / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    cases = [{"id": f"c{i:02d}", "task_type": "factual", "input": f"What is fact {i}?",
              "split": "dev" if i >= n_test else "test", "expected": {"answer": str(i * 7)},
              "relevant_docs": {f"d{i}": 1}} for i in range(n)]  # fmt: skip
    (gs / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return gs


def _answer(body: dict) -> str:
    """A deterministic endpoint: right for even facts, wrong for odd (whatever the arrival order)."""
    question = body["messages"][-1]["content"]
    i = int(re.findall(r"fact (\d+)\?", question)[-1])
    return str(i * 7) if i % 2 == 0 else "I am not sure."


CAP = 3


def _endpoint_suite(tmp: Path, base_url: str) -> Path:
    _golden(tmp)
    cfg = {"name": "endpoint", "golden_sets": ["gs"], "split": ["test"], "cache": "off",
           "models": {"m": {"model": "gpt-4o-mini", "base_url": base_url, "max_tokens": 8,
                            "limits": {"concurrency": CAP}}},
           "retrievers": {"bm25": {"kind": "bm25"}},
           "systems": [{"name": "rag", "kind": "rag", "model": "m", "retriever": "bm25"},
                       {"name": "routed", "kind": "routed", "model": "m", "retriever": "bm25"}],
           "metrics": [{"metric": "recall", "k": 3}, {"metric": "exact_match"}, {"metric": "fallback_rate"},
                       {"metric": "latency"}],
           "concurrency": 4, "store": "store.sqlite", "reports_dir": "reports", "cache_dir": "cache"}  # fmt: skip
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _dev_calls(server: FaultServer) -> int:
    return sum(any(f"fact {i}?" in m["content"] for i in range(16, 22) for m in b["messages"]) for b in server.bodies())


def test_a_loopback_endpoint_suite_same_numbers_one_cap_across_workers_no_repeated_start(tmp_path, cluster):
    """Two workers with 4 cases in flight each against an endpoint capped at 3: the cap holds across
    them (the endpoint answers 429 past it, and none came); the routed system's dev search ran once,
    on the driver; the workers built no index; the cells are the local executor's."""
    with FaultServer(respond=_answer, admit=CAP, delay_s=0.05, models=["gpt-4o-mini"]) as server:
        local = run(_endpoint_suite(tmp_path / "local", server.base_url))
        dev_local = _dev_calls(server)
        server.peak, server.requests = 0, []
        path = _endpoint_suite(tmp_path / "ray", server.base_url)
        ex = RayExecutor(load_suite(path), workers=2)
        on_ray = run(load_suite(path), executor=ex)
        dev_ray = _dev_calls(server)
    assert server.served["admit_429"] == 0 and server.peak <= CAP
    assert server.peak == CAP  # the cap was reached: the two workers did contend for it
    assert dev_local == dev_ray == 2 * 6  # both stages on every dev case, once: by the driver
    assert all(w["new_indexes"] == [] for w in ex.worker_info), ex.worker_info
    assert _cells(on_ray, latency=False) == _cells(local, latency=False)
    assert [cr.response.answer for cr in on_ray.results] == [cr.response.answer for cr in local.results]
    # the run's endpoint log counts the workers' calls
    (log,) = [a for a in open_store(tmp_path / "ray" / "store.sqlite").artifacts("endpoints")]
    assert log["endpoints"][0]["calls"] >= len(on_ray.results)


class _KillOnce(BaseHook):
    """Kills the first worker process (SIGKILL) once ``after`` cases have been stored."""

    def __init__(self, ex: RayExecutor, after: int):
        self.ex, self.after, self.seen, self.killed = ex, after, 0, None

    def on_case_end(self, event):
        self.seen += 1
        if self.seen == self.after and self.killed is None:
            self.killed = self.ex.worker_info[0]["pid"]
            os.kill(self.killed, signal.SIGKILL)


def test_a_killed_workers_cases_are_answered_by_another_and_stored_once(tmp_path, cluster):
    echo2 = {**ECHO, "name": "echo2"}
    local = run(suite(tmp_path / "local", [ECHO, echo2]))
    path = suite(tmp_path / "ray", [ECHO, echo2])
    ex = RayExecutor(load_suite(path), workers=2, chunk=3)
    killer = _KillOnce(ex, after=4)
    on_ray = run(load_suite(path), executor=ex, hooks=[killer])
    assert killer.killed is not None and ex.resent > 0
    with open_store(tmp_path / "ray" / "store.sqlite") as db:
        keys = [(cr.system, cr.case_id) for cr in db.results(on_ray.run_id)]
    assert len(keys) == len(set(keys)) == 24 and killer.seen == 24  # every case once, in the store and the hooks
    assert _cells(on_ray) == _cells(local)


def test_the_cli_and_the_suite_choose_the_executor(tmp_path, cluster, capsys):
    path = _example(tmp_path)
    assert "executor" not in load_suite(path).config_dump()  # absent: the suite's hash is unchanged
    assert main(["run", str(path), "--executor", "ray", "--no-progress"]) == 0
    assert "report:" in capsys.readouterr().out
    cfg = yaml.safe_load(path.read_text()) | {"executor": {"kind": "ray", "workers": 2}}
    path.write_text(yaml.safe_dump(cfg))
    ex = build_executor(load_suite(path))
    assert isinstance(ex, RayExecutor) and ex.workers == 2 and ex.address is None
    assert isinstance(build_executor(load_suite(path), kind="local"), LocalExecutor)
    assert main(["run", str(path), "--executor", "ray", "--max-cost", "1", "--no-progress"]) == 2
    assert "--max-cost" in capsys.readouterr().err


def test_workers_get_what_the_drivers_start_decided(tmp_path):
    """A worker's copy of a fine-tuned system gets the trained adapter file (its start cannot train), and
    of a routed system the chosen threshold (its start skips the dev search)."""

    class Client:
        lora = tmp_path / "cache" / "adapter.gguf"

    ft = FineTunedSystem(name="ft", model="m", adapter="finetune.yaml")
    ft._client = Client()
    routed = RoutedSystem(name="r", model="m", retriever="bm25", adapter="finetune.yaml")
    routed.first._client, routed.threshold = Client(), -0.25
    assert started_params(ft) == {"adapter": str(Client.lora)}
    assert started_params(routed) == {"threshold": -0.25, "adapter": str(Client.lora)}
    s = load_suite(_example(tmp_path))
    ft_spec = {"name": "ft", "kind": "finetuned", "model": "m", "adapter": "finetune.yaml"}
    specs = [ft_spec, {**ft_spec, "name": "r", "kind": "routed", "retriever": "bm25"}]
    s = s.model_validate({**s.model_dump(), "systems": specs, "base_dir": s.base_dir,
                          "models": {"m": {"model": "m", "base_url": "http://127.0.0.1:9/v1"}},
                          "retrievers": {"bm25": {"kind": "bm25"}}})  # fmt: skip
    got = {spec.name: spec.params for spec in worker_suite(s, {"ft": ft, "r": routed}).systems}
    assert got["ft"]["adapter"] == str(Client.lora)
    assert got["r"] == {"model": "m", "retriever": "bm25", "adapter": str(Client.lora), "threshold": -0.25}


def test_a_worker_with_a_local_model_holds_a_cpu_slot_of_its_node(tmp_path):
    """The CPU-slot rule as a per-node Ray resource: a worker that runs a local server holds one slot, so
    a node's workers never run more local requests than its cores take; no slot declared: said how."""
    ex = RayExecutor(load_suite(_example(tmp_path)), workers=4)
    assert ex.worker_options({"CPU": 2.0}, local=[])[0] == 4  # remote models only: no slot needed
    workers, opts = ex.worker_options({"CPU": 2.0, CPU_SLOT: 2.0}, local=["gemma"])
    assert workers == 2 and opts["resources"] == {CPU_SLOT: 1}
    with pytest.raises(ConfigError, match="ragft_cpu_slot"):
        ex.worker_options({"CPU": 2.0}, local=["gemma"])


def test_a_dead_workers_endpoint_slots_are_given_back():
    """The cluster's limiter (run here in-process): a worker that died holding slots, or while waiting
    for one, does not shrink the cap; a late release from it is ignored."""
    import asyncio

    from ragft_eval.runner._ray_limits import SharedLimits

    async def go():
        limits = SharedLimits({"ep": (2, None, None)})
        a1, _ = await limits.acquire("ep", "a"), await limits.acquire("ep", "a")
        waiting = asyncio.ensure_future(limits.acquire("ep", "b"))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the cap is 2 and a holds both
        await limits.forget("a")
        await asyncio.wait_for(waiting, 1)
        await limits.release("ep", "a", a1, "ok")  # sent before a died, arriving after: ignored
        limiter = limits.limiters["ep"]
        return limiter.in_flight, limiter.peak

    assert asyncio.run(go()) == (1, 2)
