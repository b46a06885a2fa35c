"""Batch mode: a remote OpenAI model's calls sent through the Batch API (files and batches endpoints).

A nightly run does not need its answers at once, and the Batch API halves the price.  With
``models.<name>.batch`` set (:class:`~ragft_eval.llm.spec.BatchSpec`), a call of that model is not sent
on its own: it joins the model's :class:`BatchQueue`, which gathers the calls that arrive together
(until ``gather_s`` passes without a new one, or ``max_requests``) into one JSONL file, uploads it
(``POST /v1/files``, purpose ``batch``), creates a batch (``POST /v1/batches``) and polls it
(``GET /v1/batches/{id}``) every ``poll_s``.  When the batch is done its output file is read and each
line goes back to its call by ``custom_id``, which is the call's cache key: the answer then reaches
the call cache like any other (:mod:`.roles`), and the same request asked twice in a run is one line.

Each submitted batch is recorded in the run's :class:`BatchLedger` (the run's store keeps it), so a
harness that was killed, or that stopped waiting, picks the *same* batch up again on ``--resume``
instead of submitting (and paying for) its requests twice.

A batch may take up to 24 hours: after ``wait_s`` without its results, every call waiting on it raises
:class:`~ragft_eval.errors.BatchPending` (a :class:`~ragft_eval.errors.RunStopped`: the run stops with
exit code 5; what finished is stored) and ``--resume RUN_ID`` collects it later.  A batch that fails,
expires or is cancelled, and a request the batch answered with an error, fail their calls (errored
cases with the reason), as a failed call does; the lines an expired batch did finish are kept.

A batched call has no latency of its own (``latency_s`` is None: the hours in the provider's queue are
not the model's speed), and it is priced at the batch discount of the model's price.  The wait counts
as queueing for the runner's per-case timeout (:mod:`.queueing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import BatchPending, EndpointError
from . import queueing
from .client import ModelClient
from .interface import ModelRequest, ModelResponse
from .resilience import MalformedResponse
from .spec import BatchSpec

SCHEMA_VERSION = 1
ENDPOINTS = {"chat": "/v1/chat/completions", "completions": "/v1/completions"}
# a batch in one of these states will not change any more
FINAL = ("completed", "failed", "expired", "cancelled")


class BatchRecord(BaseModel):
    """One submitted batch: what the store keeps so that a resumed run collects it instead of resubmitting."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    batch_id: str
    model: str  # the key under ``models:``
    endpoint: str  # the model's base_url
    input_file_id: str
    custom_ids: tuple[str, ...]
    submitted_at: str


class BatchLedger:
    """The batches a run has submitted: ``known`` ones from the store (a resumed run), and each new one
    handed to ``sink`` as soon as it is created (the store writes it before the first poll)."""

    def __init__(self, known: Iterable[BatchRecord] = (), *, sink: Callable[[BatchRecord], None] | None = None):
        self._sink = sink
        self._records: dict[str, BatchRecord] = {}
        self._of: dict[str, str] = {}  # custom_id -> batch id
        for record in known:
            self._add(record)

    def _add(self, record: BatchRecord) -> None:
        self._records[record.batch_id] = record
        for custom_id in record.custom_ids:
            self._of[custom_id] = record.batch_id

    def record(self, record: BatchRecord) -> None:
        self._add(record)
        if self._sink is not None:
            self._sink(record)

    def batch_of(self, custom_id: str) -> BatchRecord | None:
        """The submitted batch that holds the request ``custom_id`` (None: none yet)."""
        batch_id = self._of.get(custom_id)
        return self._records[batch_id] if batch_id else None

    @property
    def records(self) -> list[BatchRecord]:
        return list(self._records.values())


class BatchQueue:
    """One batch model's calls, gathered into Batch API jobs and mapped back by ``custom_id``."""

    def __init__(self, client: ModelClient, spec: BatchSpec, ledger: BatchLedger):
        self.client, self.spec, self.ledger = client, spec, ledger
        self._futures: dict[str, asyncio.Future[ModelResponse]] = {}
        self._requests: dict[str, ModelRequest] = {}
        self._gathering: list[str] = []
        self._flush: asyncio.TimerHandle | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}  # batch id (or "submit:N") -> its task
        self.submitted = 0  # batches this process created

    async def call(self, request: ModelRequest, custom_id: str) -> ModelResponse:
        """The response to ``request`` once its batch is done (``custom_id``: the call's cache key)."""
        future = self._futures.get(custom_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._futures[custom_id] = future
            self._requests[custom_id] = request
            known = self.ledger.batch_of(custom_id)
            if known is not None:  # submitted before (a resumed run): collect it, never resubmit
                self._watch(known)
            else:
                self._gathering.append(custom_id)
                self._schedule()
        with queueing.waiting():  # the provider's queue, not the case's work
            return await asyncio.shield(future)

    def _schedule(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        loop = asyncio.get_running_loop()
        if len(self._gathering) >= self.spec.max_requests:
            self._submit_gathered()
        else:
            self._flush = loop.call_later(self.spec.gather_s, self._submit_gathered)

    def _submit_gathered(self) -> None:
        self._flush = None
        ids, self._gathering = self._gathering, []
        by_api: dict[str, list[str]] = {}
        for cid in ids:  # a batch serves one endpoint
            by_api.setdefault(self._requests[cid].api, []).append(cid)
        for group in by_api.values():
            self._spawn(f"submit:{group[0]}", self._submit(group))

    def _line(self, custom_id: str, endpoint: str) -> bytes:
        request = self._requests[custom_id]
        line = {"custom_id": custom_id, "method": "POST", "url": endpoint, "body": self.client.request_body(request)}
        return (json.dumps(line, ensure_ascii=False) + "\n").encode()

    def _spawn(self, key: str, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks[key] = task
        task.add_done_callback(lambda _t: self._tasks.pop(key, None))

    def _fail(self, ids: Iterable[str], exc: BaseException) -> None:
        for custom_id in ids:
            future = self._futures.get(custom_id)
            if future is not None and not future.done():
                future.set_exception(exc)

    async def _submit(self, ids: list[str]) -> None:
        endpoint = ENDPOINTS[self._requests[ids[0]].api]
        data = b"".join(self._line(cid, endpoint) for cid in ids)
        sdk = self.client.sdk

        def upload(timeout: float | None) -> Any:
            return sdk.files.create(file=("ragft-batch.jsonl", data, "application/jsonl"), purpose="batch",
                                    timeout=timeout)  # fmt: skip

        try:
            uploaded = await self.client.retried(upload)

            def create(timeout: float | None) -> Any:
                return sdk.batches.create(input_file_id=uploaded.id, endpoint=endpoint,  # type: ignore[arg-type]
                                          completion_window=self.spec.completion_window, timeout=timeout,
                                          metadata={"source": "ragft-eval"})  # fmt: skip

            batch = await self.client.retried(create)
        except Exception as exc:
            message = f"batch submission for model {self.client.name!r} failed: {type(exc).__name__}: {exc}"
            self._fail(ids, EndpointError(self.client.redact(message)))
            return
        record = BatchRecord(batch_id=batch.id, model=self.client.name, endpoint=self.client.spec.base_url or "",
                             input_file_id=uploaded.id, custom_ids=tuple(ids),
                             submitted_at=datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
        self.submitted += 1
        self.ledger.record(record)
        self._watch(record)

    def _watch(self, record: BatchRecord) -> None:
        if record.batch_id not in self._tasks:
            self._spawn(record.batch_id, self._poll(record))

    async def _poll(self, record: BatchRecord) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.spec.wait_s
        sdk = self.client.sdk
        try:
            while True:
                batch = await self.client.retried(lambda t: sdk.batches.retrieve(record.batch_id, timeout=t))
                if batch.status in FINAL:
                    await self._collect(record, batch)
                    return
                if loop.time() >= deadline:
                    counts = batch.request_counts
                    done = f", {counts.completed} of {counts.total} requests done" if counts else ""
                    self._fail(record.custom_ids, BatchPending(
                        f"batch {record.batch_id} of model {self.client.name!r} is {batch.status} after waiting "
                        f"{self.spec.wait_s:g} s{done}; what finished is stored, and `--resume RUN_ID` collects "
                        "the batch when it is done"))  # fmt: skip
                    return
                await asyncio.sleep(min(self.spec.poll_s, max(0.0, deadline - loop.time())))
        except Exception as exc:
            self._fail(record.custom_ids, EndpointError(self.client.redact(
                f"batch {record.batch_id} of model {self.client.name!r}: {type(exc).__name__}: {exc}")))  # fmt: skip

    async def _lines(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        content = await self.client.retried(lambda t: self.client.sdk.files.content(file_id, timeout=t))
        return [json.loads(line) for line in content.text.splitlines() if line.strip()]

    async def _collect(self, record: BatchRecord, batch: Any) -> None:
        """Resolve every waiting call of a finished batch: its output line, its error line, or the reason
        the batch ended without one."""
        for line in await self._lines(batch.output_file_id) + await self._lines(batch.error_file_id):
            custom_id = line.get("custom_id")
            future = self._futures.get(custom_id or "")
            if future is None or future.done():
                continue  # a request no case of this process asked for (or already answered)
            response, error = line.get("response") or {}, line.get("error")
            if response.get("status_code") == 200 and not error:
                try:
                    future.set_result(self.client.parse(self._requests[custom_id], response.get("body") or {},
                                                        latency=None))  # fmt: skip
                except MalformedResponse as exc:
                    future.set_exception(EndpointError(f"batch {record.batch_id}, request {custom_id}: {exc}"))
                continue
            body_error = (response.get("body") or {}).get("error") or error or {}
            message = body_error.get("message") if isinstance(body_error, dict) else str(body_error)
            future.set_exception(EndpointError(self.client.redact(
                f"batch {record.batch_id}, request {custom_id}: {response.get('status_code', 'error')}: "
                f"{message or 'no message'}")))  # fmt: skip
        errors = getattr(batch, "errors", None)
        detail = "; ".join(e.message or "" for e in (errors.data or [])) if errors and errors.data else ""
        self._fail(record.custom_ids, EndpointError(
            f"batch {record.batch_id} of model {self.client.name!r} ended {batch.status} without an answer to "
            f"this request" + (f": {detail}" if detail else "")))  # fmt: skip

    async def close(self) -> None:
        """Stop gathering and polling (the batches themselves go on at the provider)."""
        if self._flush is not None:
            self._flush.cancel()
        for task in list(self._tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
