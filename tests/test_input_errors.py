"""Every file a user writes reports its problems the same way: ``file[:line]: key: message``, with
pydantic's wording turned into the user's (a missing or unknown key, the value that came)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.errors import ConfigError, SuiteConfigError
from ragft_eval.finetune import load_finetune_config

ROOT = Path(__file__).resolve().parents[1]


def example_suite(tmp_path: Path, **changes) -> Path:
    cfg = yaml.safe_load((ROOT / "evals" / "example.yaml").read_text())
    shutil.copytree(ROOT / "evals" / "replays", tmp_path / "replays")
    cfg |= {"golden_sets": [str(ROOT / "golden_sets" / "example")], "store": "s.sqlite", "reports_dir": "r",
            "cache_dir": "cache", **changes}  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_suite_key_errors_name_the_line(tmp_path):
    path = example_suite(tmp_path, concurrency="many")
    with pytest.raises(SuiteConfigError) as info:
        run(path)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("concurrency:"))
    assert f"{path}:{line}: concurrency: Input should be a valid integer" in str(info.value)
    assert '(got "many")' in str(info.value)


def test_judge_block_errors_name_the_judge_key(tmp_path):
    path = example_suite(
        tmp_path,
        models={"j": {"base_url": "http://127.0.0.1:9/v1", "model": "j"}},
        judge={"model": "j", "temprature": 0.5, "max_tokens": 4},
        metrics=[{"metric": "judge_grade"}],
    )
    with pytest.raises(SuiteConfigError) as info:
        run(path)
    msg = str(info.value)
    assert f"{path}: judge.temprature: unknown key" in msg
    assert f"{path}: judge.max_tokens: Input should be greater than or equal to 16 (got 4)" in msg


def test_finetune_config_errors_name_the_key(tmp_path):
    path = tmp_path / "ft.yaml"
    path.write_text(yaml.safe_dump({"golden_set": "gs", "lora": {"rank": 8}, "train": {"epochs": "two"}}))
    with pytest.raises(ConfigError) as info:
        load_finetune_config(path)
    msg = str(info.value)
    assert f"{path}: name: required key is missing" in msg
    assert f"{path}: lora.rank: unknown key" in msg
    assert f"{path}: train.epochs: Input should be a valid number" in msg and "(got \"two\")" in msg


def test_replay_file_errors_name_the_line(tmp_path):
    path = example_suite(tmp_path)
    replay = tmp_path / "replays" / "candidate.jsonl"
    lines = replay.read_text().splitlines()
    lines[2] = lines[2].replace('"case_id"', '"caseid"')
    lines[4] = lines[4].rstrip("}") + ', "latency_s": -1}'
    replay.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as info:
        run(path)
    msg = str(info.value)
    assert "candidate.jsonl:3: case_id: required field is missing" in msg
    assert "candidate.jsonl:3: caseid: unknown field" in msg
    assert "candidate.jsonl:5: latency_s: Input should be greater than or equal to 0 (got -1)" in msg
