"""A cancelled run stops its fine-tune: ``ensure_adapter`` sets the stop flag of the training thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

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


def test_a_second_process_waits_for_the_first_ones_training_and_is_stoppable(tmp_path):
    """The artifact folder's lock: while one process trains an adapter, another waits for it (and a
    stopped run stops waiting) instead of training the same adapter a second time."""
    import fcntl
    import threading

    from ragft_eval.finetune.artifact import Interrupted, _training_lock

    folder = tmp_path / "adapters" / "x"
    folder.mkdir(parents=True)
    with open(folder / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # "another process" holds it (flock locks are per open file)
        stop = threading.Event()
        threading.Timer(1.5, stop.set).start()
        with pytest.raises(Interrupted, match="stopped waiting"):
            with _training_lock(folder, "x", stop):
                pass
        fcntl.flock(held, fcntl.LOCK_UN)
    with _training_lock(folder, "x", None):  # free again: taken at once
        pass
