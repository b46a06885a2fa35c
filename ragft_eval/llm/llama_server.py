"""``python -m ragft_eval.llm.llama_server ARGS``: llama-cpp-python's OpenAI-compatible server, stock
except for the speed of its logprobs.

llama-cpp-python builds ``logprobs`` by sorting (logprob, token id) pairs over the whole vocabulary in
Python, once per generated token. With Gemma's 262,144-token vocabulary that sort costs about 0.5-1 s per
token, so a server asked for logprobs generated about one token per second: the routed system's
first stage took 60-110 s for a 40-token JSON answer, which is the server's bookkeeping, not the
architecture's latency. Here the name ``sorted`` inside ``llama_cpp.llama`` (used only by those logprob
sorts) is :func:`pairs_sorted`, which returns exactly what ``sorted`` returns, computed with numpy for
(number, int) pairs.

Every generation evaluates its prompt from the first token (:data:`FRESH_PROMPT_ENV`, set by
:class:`~ragft_eval.llm.server.LocalServer`): llama.cpp otherwise reuses the key/value cache of the
longest prefix it shares with the previous request, and the rest of the prompt is then evaluated in a
different batch split, whose floating-point sums differ; at temperature 0 the same prompt then gave a
different answer depending on which request came before it (9 of 80 demo prompts).  Evaluating the
whole prompt costs its prefill time again; the answers are a function of the prompt alone.

The server also says on stderr, one :data:`SERVED_MARK` line per completion it generates, what it served,
so that the harness counts the requests the *server* saw (a warm re-run that the cache answers is seen
to cost the server nothing), not only the requests its own client sent.

A generation stops when its client goes away (:class:`StopOnDisconnect`).  The stock server runs a
non-streaming completion to its end in a worker thread whatever the client does, so a request the harness
gave up on (a timeout, a cancelled run) went on holding the CPU, and the next request queued behind it.
Streaming would cancel it, but llama-cpp-python's streamed text is decoded token by token (a character
split across tokens is dropped) and carries no token counts, so the answers would change; instead the
launcher watches the connection and stops the generation at its next token through llama-cpp-python's
``stopping_criteria`` (one :data:`ABANDONED_MARK` line on stderr).  The rest (arguments, endpoints,
sampling) is the stock server.
"""

from __future__ import annotations

import asyncio
import builtins
import contextvars
import functools
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import numpy as np

_MIN_FAST = 4096  # below this the builtin is as fast
SERVED_MARK = "ragft-served "  # one line per generation, chat ones included (read by LocalServer)
FRESH_PROMPT_ENV = "RAGFT_FRESH_PROMPT"  # "1": no key/value prefix reuse between requests (determinism)
ABANDONED_MARK = "ragft-abandoned "  # + tokens generated, one line per generation stopped for a gone client

# the request's "client went away" flag, set by StopOnDisconnect, read in the worker thread that generates
# (Starlette's run_in_threadpool runs it in a copy of the request's context)
_CLIENT_GONE: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("ragft_client_gone", default=None)


def pairs_sorted(
    iterable: Iterable[Any], /, *, key: Callable[[Any], Any] | None = None, reverse: bool = False
) -> list[Any]:
    """``sorted(iterable, key=key, reverse=reverse)``, equal element for element.

    The shape llama-cpp-python sorts, an unconsumed ``zip(row, range(n))`` of a float ndarray or float
    list, is read through the zip's pickling state (no element is materialised) and ordered by numpy.
    Anything else, including NaN values (whose Python order depends on the input order), goes to the
    builtin.
    """
    row = _zipped_row(iterable) if key is None else None
    if row is None:
        return builtins.sorted(iterable, key=key, reverse=reverse)
    values, ids, originals = row
    # Ids increase and differ, so (value, id) order is a stable sort by value, and reverse=True (no
    # two pairs equal) is that order backwards: ties by descending id, as the builtin gives.
    order = stable_order(values)
    if reverse:
        order = order[::-1]
    picked = originals[order] if isinstance(originals, np.ndarray) else [originals[i] for i in order.tolist()]
    return list(zip(picked, ids[order].tolist(), strict=True))


def stable_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")``; for float32 (llama.cpp's logits) in a fifth of the time.

    Each float32's order-preserving bit pattern (sign flipped for positives, all bits for negatives;
    -0.0 made 0.0 first, as Python compares them equal) packed above its position gives distinct int64
    keys, so numpy's unstable sort (4 ms for 262k values here, against 19 ms stable) yields the stable order.
    """
    if values.dtype != np.float32:
        return np.argsort(values, kind="stable")
    bits = (values + np.float32(0.0)).view(np.uint32).astype(np.uint64)
    bits = np.where(bits >> np.uint64(31) == 1, ~bits & np.uint64(0xFFFFFFFF), bits | np.uint64(0x80000000))
    keys = (bits << np.uint64(32)) | np.arange(len(values), dtype=np.uint64)
    return (np.sort(keys) & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _zipped_row(iterable: Iterable[Any]) -> tuple[np.ndarray, np.ndarray, Any] | None:
    """(values as an array, ids, the original values) behind ``zip(row, range(...))``, or None."""
    if type(iterable) is not zip:
        return None
    state = iterable.__reduce__()[1]
    if len(state) != 2:
        return None
    (f1, (seq,), pos), (f2, (ids_range,), id_pos) = state[0].__reduce__(), state[1].__reduce__()
    if f1 is not iter or f2 is not iter or type(ids_range) is not range or ids_range.step < 1:
        return None
    if isinstance(seq, np.ndarray) and seq.ndim == 1 and seq.dtype.kind == "f":
        originals: Any = seq[pos:]
    elif type(seq) is list and all(type(v) is float for v in seq[pos:]):
        originals = seq[pos:]
    else:
        return None
    ids_range = ids_range[id_pos:]
    n = min(len(originals), len(ids_range))
    if n < _MIN_FAST:
        return None
    originals = originals[:n]
    values = originals if isinstance(originals, np.ndarray) else np.array(originals, dtype=np.float64)
    ids = np.arange(ids_range.start, ids_range.start + n * ids_range.step, ids_range.step, dtype=np.int64)
    if np.isnan(values).any():
        return None
    return values, ids, originals


Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class StopOnDisconnect:
    """ASGI middleware: once a request's body is read, watch its connection; when the client goes away,
    set the request's flag (:data:`_CLIENT_GONE`), which stops its generation at the next token.

    The app reads the body as usual (the messages are replayed); after the body the only message a
    server sends is ``http.disconnect``, which the watcher takes and hands on to any later read.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        gone = threading.Event()
        body: list[Message] = []
        while True:
            message = await receive()
            body.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break

        async def watch() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
            return message

        watcher = asyncio.ensure_future(watch())

        async def replay() -> Message:
            if body:
                return body.pop(0)
            return await asyncio.shield(watcher)  # a read that times out (is_disconnected) keeps the watcher

        token = _CLIENT_GONE.set(gone)
        try:
            await self.app(scope, replay, send)
        finally:
            _CLIENT_GONE.reset(token)
            watcher.cancel()


def main() -> None:
    import llama_cpp.llama
    import llama_cpp.server.__main__ as stock

    llama_cpp.llama.sorted = pairs_sorted  # type: ignore[attr-defined]  # shadows the builtin there only
    # a chat completion generates through create_completion (llama_cpp.llama_chat_format): one wrapper
    # counts and stops both, once each (wrapping both methods counted every chat call twice)
    llama_cpp.llama.Llama.create_completion = _counted(llama_cpp.llama.Llama.create_completion)
    create_app = stock.create_app

    @functools.wraps(create_app)
    def create_watched_app(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)
        app.add_middleware(StopOnDisconnect)
        return app

    stock.create_app = create_watched_app  # the name its main() calls
    stock.main()


def _counted(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, saying on stderr that the server generated (before it does, so a kill mid-way still counts),
    stopped at its next token once its client is gone."""

    fresh = os.environ.get(FRESH_PROMPT_ENV) == "1"

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        print(SERVED_MARK + "completion", file=sys.stderr, flush=True)
        if fresh:
            self.reset()  # the next generation evaluates the whole prompt: no prefix of the last request
        gone = _CLIENT_GONE.get()
        if gone is not None:
            kwargs["stopping_criteria"] = _stopped_when(gone, kwargs.get("stopping_criteria"))
        return fn(self, *args, **kwargs)

    return wrapper


def _stopped_when(gone: threading.Event, others: Any) -> Any:
    """llama-cpp-python stopping criteria: ``others`` (if any), and ``gone`` being set (said once on stderr)."""
    from llama_cpp import StoppingCriteriaList

    tokens = 0  # sampled so far (the criteria are asked once per sampled token)
    said = False  # llama-cpp-python asks the criteria once more after the generation stopped

    def client_gone(input_ids: Any, logits: Any) -> bool:
        nonlocal tokens, said
        if not gone.is_set():
            tokens += 1
            return False
        if not said:
            print(f"{ABANDONED_MARK}{tokens}", file=sys.stderr, flush=True)
            said = True
        return True

    return StoppingCriteriaList([*(others or []), client_gone])


if __name__ == "__main__":
    main()
