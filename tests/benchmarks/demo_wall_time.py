"""Benchmark: wall time of the demo run (`ragft-eval run evals/demo.yaml`), cold and warm.

Cold: an empty cache folder (indexes built, LoRA adapter trained); warm: the same folder again (all
cached). Both are full runs of every system on the test split. This takes long (see the README).

Run: python tests/benchmarks/demo_wall_time.py [--sample N]
"""

from __future__ import annotations

import argparse
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
        ft = yaml.safe_load((ROOT / "evals" / "finetune-demo.yaml").read_text())
        ft |= {"golden_set": str(ROOT / "golden_sets" / "demo"), "cache_dir": str(Path(tmp) / "cache")}
        (Path(tmp) / "finetune-demo.yaml").write_text(yaml.safe_dump(ft))
        cfg |= {"golden_sets": [str(ROOT / "golden_sets" / "demo")], "store": str(Path(tmp) / "s.sqlite"),
                "reports_dir": str(Path(tmp) / "r"), "cache_dir": str(Path(tmp) / "cache")}  # fmt: skip
        path = Path(tmp) / "demo.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        extra = ["--sample", str(sample)] if sample else []
        times = {}
        for label in ("cold", "warm"):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ragft_eval", "run", str(path), "--no-progress", *extra],
                           check=True, stdout=subprocess.DEVNULL)  # fmt: skip
            times[label] = time.perf_counter() - t
    print(f"demo run ({'all test cases' if not sample else f'{sample} sampled cases'}), 6 systems")
    for label, s in times.items():
        print(f"{label:5} {s / 60:6.1f} min")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int)
    main(ap.parse_args().sample)
