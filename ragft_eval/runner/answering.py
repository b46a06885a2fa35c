"""Answering one case: the system's call under the per-case timeout, with failures recorded, never raised.

The timeout counts the time the case spends working, not the time it waits for a model's turn (a
local server busy with another system's request, a CPU slot): that wait is the harness's scheduling.
The case runs in a task whose context holds a :class:`~ragft_eval.llm.queueing.QueueClock`; model
clients put their waits on it, and the deadline moves out by what was waited.
"""

from __future__ import annotations

import asyncio
import time

from ..answers import extract_json
from ..errors import RunStopped
from ..llm import queueing
from ..prompts import expects_json
from ..records import Case, ErrorInfo, Response
from ..systems import System


def _failed(system: System, case: Case, error: ErrorInfo) -> Response:
    return Response(case_id=case.id, system=system.name, error=error)


async def answer_case(system: System, case: Case, timeout_s: float) -> Response:
    """``system.answer(case)`` within ``timeout_s`` seconds of work; an exception or a timeout becomes an
    errored Response (stage ``system`` or ``timeout``) that names it."""
    clock = queueing.QueueClock()
    token = queueing.CURRENT.set(clock)
    try:
        task = asyncio.ensure_future(system.answer(case))  # the task copies the context, clock included
    finally:
        queueing.CURRENT.reset(token)
    started = time.monotonic()
    try:
        while True:
            remaining = timeout_s - (time.monotonic() - started - clock.waited())
            if remaining <= 0:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                message = f"no answer within timeout_s={timeout_s}"
                return _failed(system, case, ErrorInfo(type="Timeout", message=message, stage="timeout"))
            done, _ = await asyncio.wait({task}, timeout=remaining)
            if done:
                return _with_json(case, task.result())
    except asyncio.CancelledError:
        task.cancel()
        raise
    except RunStopped:  # the run stops (a budget cap): not the system's failure, and not this case's
        raise
    except Exception as exc:  # a per-case failure of the system: recorded, never raised
        return _failed(system, case, ErrorInfo(type=type(exc).__name__, message=str(exc)[:2000]))


def _with_json(case: Case, response: Response) -> Response:
    """Fill ``parsed_json`` / ``json_error`` for a case that expects JSON, when the system did not."""
    if expects_json(case) and not response.failed and response.parsed_json is None and response.json_error is None:
        value, error = extract_json(response.answer)
        return response.model_copy(update={"parsed_json": value, "json_error": error})
    return response
