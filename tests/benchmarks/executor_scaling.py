"""Benchmark: the local executor against the Ray executor with 1, 2 and 4 worker processes.

Run: python tests/benchmarks/executor_scaling.py [--cases 20000] [--latency 0.05] [--concurrency 16]
     [--workers 1,2,4]

One suite, run end to end (``ragft_eval.run``) by each executor: N generated cases, one ``prompt_only``
system on a loopback endpoint that answers every call after ``latency`` seconds (uvicorn + starlette in a
process of its own, from ``runner_overhead.py``), the call cache off, ``concurrency`` cases in flight
per process (the local executor's process, or each Ray worker) and an endpoint cap of 4 x that (one
shared limiter for the cluster).  Then the same N cases replayed from a file (no endpoint at all): what
the driver's own work per case (scoring, the store's write, hooks) costs, the floor under every executor.

Printed per row: the run's wall time and the executor's (``execute``: everything between planning and
the summary), cases/s, the ideal (N x latency / cases in flight), the workers' start, the driver's time in
``finish`` (serial, on the driver: its ceiling is N / finish), the messages the workers sent, the
machine's CPU busy share over ``execute``, the median time of one call as the client measured it, and
the CPU seconds over the whole run of the driver, the Ray workers, the limiter actor, Ray's own
processes and the endpoint's server (``CpuSampler``).
The Ray cluster (2 CPUs, this machine) is started once, before the rows, and its start is printed apart.
A script, not a test: nothing here is collected by pytest, and ``make test`` does not run it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from runner_overhead import MODEL, Served, _uvicorn  # noqa: E402  (the loopback server of that benchmark)


def _cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class CpuSampler:
    """CPU seconds by process group over a row, sampled every ``every`` s from a thread (workers end
    with their run, so their last sample counts): the driver, the Ray workers, the limiter actor, Ray's
    own processes (raylet, GCS, agents, idle workers) and the endpoint's server process."""

    GROUPS = ("driver", "workers", "limiter", "ray", "server")

    def __init__(self, server_pid: int, every: float = 0.5):
        import psutil

        self.psutil, self.server_pid, self.every = psutil, server_pid, every
        self.seen: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()
        self.base = self._sample()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _group(self, pid: int, cmdline: list[str]) -> str | None:
        head = cmdline[0] if cmdline else ""
        if pid == os.getpid():
            return "driver"
        if pid == self.server_pid:
            return "server"
        if head.startswith("ray::Worker"):
            return "workers"
        if head.startswith("ray::SharedLimits"):
            return "limiter"
        return "ray" if head.startswith("ray::") or any("/ray/" in part for part in cmdline[:3]) else None

    def _sample(self) -> dict[int, tuple[str, float]]:
        out = {}
        for proc in self.psutil.process_iter(["pid", "cmdline"]):
            try:
                group = self._group(proc.info["pid"], proc.info["cmdline"] or [])
                if group is not None:
                    t = proc.cpu_times()
                    out[proc.info["pid"]] = (group, t.user + t.system)
            except (self.psutil.NoSuchProcess, self.psutil.AccessDenied):
                continue
        return out

    def _update(self) -> None:
        for pid, (group, t) in self._sample().items():
            if self.base.get(pid, ("", 0.0))[0] in ("workers", "limiter"):
                continue  # the previous row's, ending
            known = self.seen.get(pid, (group, 0.0))[0]
            # a worker's process is an idle Ray worker before its actor, and retitled as it ends: it stays a worker
            self.seen[pid] = (known if known in ("workers", "limiter") else group, t)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self._update()

    def __enter__(self) -> CpuSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._update()

    def seconds(self) -> dict[str, float]:
        out = dict.fromkeys(self.GROUPS, 0.0)
        for pid, (group, t) in self.seen.items():
            before = self.base.get(pid)
            out[group] += t - (before[1] if before else 0.0)
        return out


class Timed:
    """An executor around another: times ``execute`` and the driver's time in ``finish``."""

    def __init__(self, inner):
        self.inner = inner
        self.execute_s = self.finish_s = self.cpu_busy = 0.0

    async def execute(self, plan, finish, *, timeout_s):
        async def timed(item, response):
            t = time.perf_counter()
            await finish(item, response)
            self.finish_s += time.perf_counter() - t

        b0, t0, w0 = *_cpu(), time.perf_counter()
        try:
            await self.inner.execute(plan, timed, timeout_s=timeout_s)
        finally:
            self.execute_s = time.perf_counter() - w0
            b1, t1 = _cpu()
            self.cpu_busy = (b1 - b0) / max(1, t1 - t0)


def _golden(folder: Path, n: int) -> Path:
    gs = folder / "gs"
    gs.mkdir(parents=True)
    (gs / "manifest.yaml").write_text("name: scaling\nversion: '1'\n")
    (gs / "corpus.jsonl").write_text(json.dumps({"id": "d0", "text": "Cursors stay valid for 24 hours."}) + "\n")
    with (gs / "cases.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i:05d}", "task_type": "factual", "split": "test",
                                "input": f"Question {i}: how long do pagination cursors stay valid?",
                                "expected": {"answer": "ok"}}) + "\n")  # fmt: skip
    with (folder / "replay.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"case_id": f"q{i:05d}", "answer": "ok", "latency_s": 0.05}) + "\n")
    return gs


def _suite(folder: Path, name: str, system: dict, base_url: str, concurrency: int) -> Path:
    cfg = {"name": name, "golden_sets": ["gs"], "cache": "off", "concurrency": concurrency,
           "models": {"bench": {"model": MODEL, "base_url": base_url, "max_tokens": 8,
                                "limits": {"concurrency": 4 * concurrency}}},
           "systems": [system], "metrics": [{"metric": "exact_match"}, {"metric": "latency"}, {"metric": "tokens"}],
           "store": f"{name}.sqlite", "reports_dir": "reports", "cache_dir": "cache"}  # fmt: skip
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _row(label: str, suite_path: Path, executor, n: int, in_flight: int | None, latency: float,
         server_pid: int) -> None:  # fmt: skip
    from ragft_eval import run
    from ragft_eval.runner import RayExecutor

    timed = Timed(executor)
    t0 = time.perf_counter()
    with CpuSampler(server_pid) as cpu:
        result = run(suite_path, executor=timed)
    wall = time.perf_counter() - t0
    spent = " ".join(f"{v:5.1f}" for v in cpu.seconds().values())
    assert len(result.results) == n and not any(cr.response.failed for cr in result.results), "cases failed"
    ideal = f"{n * latency / in_flight:7.1f}" if in_flight else "      —"
    # what one call took, as the client measured it (the endpoint sleeps ``latency``; the rest is the round trip)
    call = statistics.median(cr.response.latency_s for cr in result.results) * 1000 if in_flight else None
    call_ms = f"{call:8.0f}" if call is not None else "       —"  # a replay's latency is the file's
    start = msgs = "—"
    if isinstance(executor, RayExecutor):
        start, msgs = f"{executor.timings['workers_start_s']:.1f}", str(executor.counts["messages"])
    print(f"{label:24} {wall:7.1f} {timed.execute_s:8.1f} {n / timed.execute_s:8.0f} {ideal} {start:>8} "
          f"{timed.finish_s:8.1f} {n / timed.finish_s:9.0f} {msgs:>8} {timed.cpu_busy:6.0%} {call_ms}  {spent}",
          flush=True)  # fmt: skip


def main(n: int, latency: float, concurrency: int, workers: list[int]) -> None:
    import ray

    from ragft_eval.runner import LocalExecutor, RayExecutor, load_suite

    print(
        f"{n} cases, one prompt_only system on a loopback endpoint answering in {latency * 1000:.0f} ms; "
        f"{concurrency} cases in flight per process; endpoint cap {4 * concurrency} (shared); call cache off"
    )
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=256 * 1024**2)
    print(f"Ray cluster start (once, 2 CPUs): {time.perf_counter() - t0:.1f} s")
    head = (f"{'executor':24} {'run s':>7} {'exec s':>8} {'cases/s':>8} {'ideal s':>7} {'wstart s':>8} "
            f"{'finish s':>8} {'finish/s':>9} {'messages':>8} {'CPU':>6} {'call ms':>8}  "
            "CPU s: driver workers limiter ray server")  # fmt: skip
    served = Served(_uvicorn, latency)
    with tempfile.TemporaryDirectory() as tmp, served as base_url:
        folder = Path(tmp)
        _golden(folder, n)
        model = {"name": "endpoint", "kind": "prompt_only", "model": "bench"}
        replay = {"name": "replay", "kind": "replay", "path": str(folder / "replay.jsonl")}
        print(head)
        for label, system, in_flight in (("endpoint", model, concurrency), ("replay", replay, None)):
            ex: object = LocalExecutor(concurrency=concurrency)
            _row(f"{label}: local", _suite(folder, f"{label}-local", system, base_url, concurrency), ex, n,
                 in_flight, latency, served.proc.pid)  # fmt: skip
            for w in workers if label == "endpoint" else [max(workers)]:
                path = _suite(folder, f"{label}-ray{w}", system, base_url, concurrency)
                ex = RayExecutor(load_suite(path), workers=w)
                _row(f"{label}: ray x{w}", path, ex, n, in_flight and in_flight * w, latency, served.proc.pid)
    ray.shutdown()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20_000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    main(args.cases, args.latency, args.concurrency, [int(w) for w in args.workers.split(",")])
