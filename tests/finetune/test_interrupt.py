"""A cancelled run stops its fine-tune: ``ensure_adapter`` sets the stop flag of the training thread."""

from __future__ import annotations

import asyncio
import threading

from ragft_eval.finetune import artifact as artifact_module


def test_cancelling_ensure_adapter_sets_the_training_threads_stop_flag(monkeypatch, tmp_path):
    seen: list[threading.Event] = []
    stopped = threading.Event()

    def fake_finetune(cfg, *, progress, stop):  # stands in for training: waits for its stop flag
        seen.append(stop)
        if stop.wait(timeout=10):
            stopped.set()
        raise artifact_module.Interrupted("stopped")

    monkeypatch.setattr(artifact_module, "finetune", fake_finetune)
    monkeypatch.setattr(artifact_module, "load_finetune_config", lambda path: object())

    async def go() -> None:
        task = asyncio.ensure_future(artifact_module.ensure_adapter(tmp_path / "ft.yaml"))
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    assert seen and seen[0].is_set()
    assert stopped.wait(timeout=5), "the training thread saw the stop flag and ended"
