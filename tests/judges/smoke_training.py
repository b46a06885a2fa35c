"""Training a smoke-sized learned judge for a test module (the faithfulness judge's and the grader's)."""

from __future__ import annotations

from typing import Any

import yaml

from ragft_eval.judges import LearnedJudge, load_judge_train_config, train_judge


def train_smoke(folder: Any, filename: str, config: dict[str, Any]) -> tuple[Any, Any, Any, LearnedJudge]:
    """``(path, config, artifact, judge)``: ``config`` written to ``folder/filename`` with its cache beside it,
    trained (single-threaded, no progress bar) and loaded as a :class:`LearnedJudge`."""
    path = folder / filename
    path.write_text(yaml.safe_dump({**config, "cache_dir": str(folder / "cache")}))
    cfg = load_judge_train_config(path)
    artifact = train_judge(cfg, progress=False)
    return path, cfg, artifact, LearnedJudge(config=str(path), threads=1)
