"""A second process for the store's concurrency tests (run as a script): it waits at a barrier file so that
several start their work at the same moment, then writes a run, takes a lease or opens (migrates) a store,
and prints one JSON line of what happened."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from ragft_eval.errors import ResumeError
from ragft_eval.records import CaseResult, MetricResult, Response, RunManifest
from ragft_eval.store import open_store


def wait(barrier: Path) -> None:
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + 60
    while not barrier.exists():
        if time.monotonic() > deadline:
            raise SystemExit("barrier never opened")
        time.sleep(0.005)


def run_results(run_id: str, n: int, seed: int) -> tuple[RunManifest, list[CaseResult]]:
    """A deterministic run of ``n`` case results: two systems, two task types, scored, unscored and failed."""
    rng = random.Random(seed)
    manifest = RunManifest(run_id=run_id, created_at="2026-12-01T00:00:00+00:00", suite_name="two-writers",
                           suite_hash="h", suite_config={}, golden_sets={"g": "h"}, selection={}, systems={},
                           package_versions={}, bootstrap={"resamples": 200, "seed": 0}, python="3.11")  # fmt: skip
    out = []
    for i in range(n):
        system, case_id = ("rag", "prompt")[i % 2], f"c{i // 2:05d}"
        failed = rng.random() < 0.03
        response = Response(case_id=case_id, system=system, answer=None if failed else f"answer {i}",
                            latency_s=rng.uniform(0.05, 2.0),
                            error={"type": "Timeout", "message": "timed out"} if failed else None)  # fmt: skip
        if failed:
            results = (MetricResult.error("exact_match", "system failed"), MetricResult.error("f1", "system failed"))
        else:
            results = (MetricResult.scored("exact_match", float(rng.random() < 0.6)),
                       MetricResult.scored("f1", rng.random()) if rng.random() > 0.1
                       else MetricResult.unscored("f1", "no gold answer"))  # fmt: skip
        results += (MetricResult.scored("latency", response.latency_s, unit="s", higher_is_better=False),)
        out.append(CaseResult(run_id=run_id, system=system, case_id=case_id, golden_set="g",
                              task_type=("qa", "extract")[i % 3 == 0], response=response, results=results))  # fmt: skip
    return manifest, out


def main(argv: list[str]) -> None:
    what, url, barrier = argv[0], argv[1], Path(argv[2])
    if what == "write":  # write RUN_ID N SEED [SQLITE_COPY]
        run_id, n, seed = argv[3], int(argv[4]), int(argv[5])
        manifest, results = run_results(run_id, n, seed)
        with open_store(url) as db:
            db.create_run(manifest)
            wait(barrier)
            t0 = time.perf_counter()
            for cr in results:
                db.write(cr)
            db.set_status(run_id, "finished")
            seconds = time.perf_counter() - t0
        if len(argv) > 6:  # the same run on its own SQLite file, for the comparison (not timed)
            with open_store(argv[6]) as db:
                db.create_run(manifest)
                for cr in results:
                    db.write(cr)
                db.set_status(run_id, "finished")
        print(json.dumps({"run_id": run_id, "seconds": seconds, "written": len(results)}), flush=True)
    elif what == "lease":  # lease RUN_ID HOLD_S
        with open_store(url) as db:
            wait(barrier)
            try:
                with db.lease(argv[3], ttl_s=30):
                    print(json.dumps({"won": True}), flush=True)
                    time.sleep(float(argv[4]))
            except ResumeError as exc:
                print(json.dumps({"won": False, "error": str(exc)}), flush=True)
    elif what == "migrate":
        wait(barrier)
        with open_store(url) as db:
            print(json.dumps({"version": db.schema_version}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
