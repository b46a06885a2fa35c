"""Benchmark: wall time of the demo run (`ragft-eval run evals/demo.yaml`), cold and warm.

Cold: an empty cache folder (indexes built, both LoRA adapters trained, every answer and judgment
generated); warm: the same folder again (all cached). Both are full runs of every system on the test
split unless ``--sample``. Cold takes long (see the README). The run's own ``time:`` line (printed, the
last lines of its output) says where the time went.

Run: python tests/benchmarks/demo_wall_time.py [--sample N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def main(sample: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = yaml.safe_load((ROOT / "evals" / "demo.yaml").read_text())
        # every fine-tune config a system names (finetuned and routed share one; hybrid has the RAFT one),
        # copied with absolute paths and the empty cache
        for name in sorted({s["adapter"] for s in cfg["systems"] if "adapter" in s}):
            ft = yaml.safe_load((ROOT / "evals" / name).read_text())
            ft |= {"golden_set": str(ROOT / "golden_sets" / "demo"), "cache_dir": str(Path(tmp) / "cache")}
            (Path(tmp) / name).write_text(yaml.safe_dump(ft))
        cfg |= {"golden_sets": [str(ROOT / "golden_sets" / "demo")], "store": str(Path(tmp) / "s.sqlite"),
                "reports_dir": str(Path(tmp) / "r"), "cache_dir": str(Path(tmp) / "cache")}  # fmt: skip
        path = Path(tmp) / "demo.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        extra = ["--sample", str(sample)] if sample else []
        times = {}
        for label in ("cold", "warm"):
            t = time.perf_counter()
            # a wide console: the run's notes come one per line, unwrapped
            out = subprocess.run([sys.executable, "-m", "ragft_eval", "run", str(path), "--no-progress", *extra],
                                 check=True, capture_output=True, text=True,
                                 env={**os.environ, "COLUMNS": "1000"}).stdout  # fmt: skip
            times[label] = time.perf_counter() - t
            print(f"{label}:")
            for line in out.splitlines():
                if line.startswith(("time", "model time", "judge time", "one-time work")):
                    print("  " + line.strip())
    print(f"demo run ({'all test cases' if not sample else f'{sample} sampled cases'}), 6 systems")
    for label, s in times.items():
        print(f"{label:5} {s / 60:6.1f} min")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int)
    main(ap.parse_args().sample)
