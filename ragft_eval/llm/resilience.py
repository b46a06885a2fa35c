"""How the harness calls an endpoint it does not own: limits, AIMD on 429, retries and a circuit breaker.

Every model call goes through :meth:`ModelClient.call <ragft_eval.llm.client.ModelClient.call>`, which
hands its HTTP attempt to :meth:`Endpoint.call`.  One :class:`Endpoint` per endpoint (``base_url`` +
model id; a local server's alias) is shared by every system and judge that calls it (the
:class:`~ragft_eval.llm.client.ModelPool` holds them), so its limits hold for the whole run:

* **Limits**: an :class:`AimdLimiter` caps the requests in flight (``limits.concurrency``), and aiolimiter's
  leaky buckets cap requests and (estimated) tokens per minute.  Waiting for them is queueing
  (:func:`~ragft_eval.llm.queueing.waiting`): not the case's latency, not its timeout, not the call's
  retry deadline.
* **AIMD**: a 429 halves the concurrency limit, a window of successes raises it by one, up to the cap;
  ``Retry-After`` and OpenAI's ``x-ratelimit-reset-*`` pause the endpoint's new requests until then.
* **Retries** (tenacity): 429, 5xx, timeouts, dropped connections and bodies that are not a valid API
  response, with jittered exponential backoff, bounded in attempts and in time.  Other 4xx answers are
  attempted once: they will not change.  An answer that arrives intact but is unusable (bad JSON in the
  content, a refusal) is a measurement, not a failure, and is never retried.
* **Circuit breaker**: after ``breaker_failures`` consecutive failed calls (retries exhausted) the rest of
  the run's calls to the endpoint fail at once with :class:`~ragft_eval.errors.CircuitOpenError`, so a
  run against a dead endpoint ends in minutes instead of waiting out every case.

Hand-written here, because no well-kept library does it: the AIMD limit (an asyncio semaphore whose size
changes while tasks wait on it; ``asyncio.Semaphore`` has a fixed size and aiolimiter paces rates, not
concurrency) and the breaker (a counter: this one never closes again within a run, which the breaker
libraries model as a half-open state with a recovery timer, behind decorators).
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import json
import math
import re
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

import openai
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..errors import CircuitOpenError, EndpointError
from . import queueing
from .interface import ModelRequest
from .spec import LimitsSpec, RetrySpec

T = TypeVar("T")

MAX_PAUSE_S = 60.0  # one odd reset header ("6m0s" for a full token bucket) must not stall the run for long
RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx
ENDPOINT_STATUSES = frozenset({401, 403, 404})  # the endpoint refuses every call alike: they count for the breaker

Outcome = Literal["ok", "throttled", "failed", "cancelled"]


# --- when the endpoint says to come back ---------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """OpenAI's ``x-ratelimit-reset-*`` durations (Go's format: ``"1s"``, ``"6m0s"``, ``"20ms"``,
    ``"1h2m3.5s"``) in seconds; None when ``text`` is not one."""
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def retry_after_s(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the endpoint asks us to wait before the next request, from its response headers.

    ``retry-after-ms`` (OpenAI's, milliseconds) or ``Retry-After`` (seconds or an HTTP date) when
    present: the endpoint's explicit answer.  Otherwise ``x-ratelimit-reset-requests`` /
    ``x-ratelimit-reset-tokens``: the reset of the limit that is exhausted (``x-ratelimit-remaining-*``
    is 0) when the headers say which, else the later of the two.  None when there is no hint.
    """
    h = {k.lower(): v for k, v in headers.items()}
    if (ms := h.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    if (ra := h.get("retry-after")) is not None:
        try:
            return max(0.0, float(ra))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(ra)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
                return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    resets = {}
    for kind in ("requests", "tokens"):
        value = h.get(f"x-ratelimit-reset-{kind}")
        seconds = parse_duration(value) if value is not None else None
        if seconds is not None:
            resets[kind] = seconds
    if not resets:
        return None
    exhausted = [s for kind, s in resets.items() if h.get(f"x-ratelimit-remaining-{kind}", "").strip() == "0"]
    return max(exhausted or resets.values())


# --- the concurrency limit ---------------------------------------------------------------------------


class AimdLimiter:
    """An async concurrency limit that adapts to 429s: additive increase, multiplicative decrease.

    ``limit`` starts at ``cap``.  A 429 halves it (at least 1), once per window: a 429 for a request sent
    before the last decrease answers the old limit and is already accounted for, so a burst of 429s is
    one decrease, not ten.  After a run of successes (:meth:`run_length`) it grows by 1, up to ``cap``.

    The run is one window (``limit`` successes) until the first 429; after it, the limit that drew the
    429 is remembered (``ceiling``): below it the limit climbs back in quarter windows, and at it, it
    probes in eight-window runs (just below it: the level that drew the 429 minus one).  Plain AIMD (one
    window everywhere) spends its time on a sawtooth from half the endpoint's capacity to full, a quarter
    of it unused: against a loopback endpoint admitting 20 requests at once (tests/llm/test_resilience.py)
    it kept a median of 13 in flight at the server; this keeps 17-20, for 3-4% of requests answered 429
    (plain: 3%).

    :meth:`pause` holds new requests until a time the endpoint named.  ``samples`` is the limit over
    time, ``(t, limit, in_flight)`` at every change, bounded: when it fills, every other sample is
    dropped and sampling halves its rate, so it always spans the whole run.
    """

    def __init__(
        self,
        cap: int,
        *,
        max_samples: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ):
        if cap < 1:
            raise ValueError(f"cap: expected >= 1, got {cap}")
        self.cap = cap
        self.limit = cap
        self.in_flight = 0
        self.ceiling: int | None = None  # the limit at which the last 429 came
        self.clock = clock
        self.samples: list[tuple[float, int, int]] = []
        self.max_samples = max_samples
        self.decreases = 0
        self.increases = 0
        self.throttled = 0
        self.peak = 0
        self.paused_s = 0.0
        self._every = 1
        self._events = 0
        self._successes = 0
        self._decreased_at = -math.inf
        self._paused_until = -math.inf
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._sample(force=True)

    # the slot
    async def acquire(self) -> float:
        """Wait for a slot (FIFO); returns the time it was granted, for :meth:`release`."""
        if not self._waiters and self._free():
            self._take()
        else:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            self._arm()
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():  # granted just as we were cancelled: give it back
                    self.release(self.clock(), "cancelled")
                raise
        return self.clock()

    def release(self, granted: float, outcome: Outcome) -> None:
        """Give the slot back and learn from how its request went (``throttled``: a 429)."""
        self.in_flight -= 1
        if outcome == "ok":
            self._successes += 1
            if self._successes >= self.run_length() and self.limit < self.cap:
                self.limit += 1
                self.increases += 1
                self._successes = 0
        elif outcome == "throttled":
            self.throttled += 1
            if granted >= self._decreased_at:
                self.ceiling = self.limit
                self.limit = max(1, self.limit // 2)
                self.decreases += 1
                self._decreased_at = self.clock()
                self._successes = 0
        self._sample(force=outcome == "throttled")
        self._wake()

    def run_length(self) -> int:
        """Successes in a row before the limit grows by 1 (see the class docstring)."""
        if self.ceiling is None:
            return self.limit
        if self.limit < self.ceiling - 1:
            return max(1, self.limit // 4)
        return 8 * self.limit

    def pause(self, seconds: float) -> None:
        """Send no new request for ``seconds`` (at most :data:`MAX_PAUSE_S`) from now."""
        now = self.clock()
        until = now + min(max(seconds, 0.0), MAX_PAUSE_S)
        if until > self._paused_until:
            self.paused_s += until - max(now, self._paused_until)
            self._paused_until = until
            self._arm()

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self.clock())

    def _free(self) -> bool:
        return self.in_flight < self.limit and self.clock() >= self._paused_until

    def _take(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self._sample()

    def _wake(self) -> None:
        while self._waiters and self._free():
            fut = self._waiters.popleft()
            if not fut.done():  # a cancelled waiter is skipped
                self._take()
                fut.set_result(None)
        self._arm()

    def _arm(self) -> None:
        """Wake the waiters when a pause ends (nothing else would: no slot is released meanwhile)."""
        wait = self._paused_until - self.clock()
        if self._waiters and wait > 0 and self._timer is None:

            def fire() -> None:
                self._timer = None
                self._wake()

            self._timer = asyncio.get_running_loop().call_later(wait, fire)

    def _sample(self, *, force: bool = False) -> None:
        self._events += 1
        if not force and self._events % self._every:
            return
        self.samples.append((self.clock(), self.limit, self.in_flight))
        if len(self.samples) >= self.max_samples:
            self.samples = self.samples[::2]
            self._every *= 2

    def summary(self, *, since: float | None = None) -> dict[str, Any]:
        """The limit over the run in numbers (``since``: only samples from that time on)."""
        rows = [s for s in self.samples if since is None or s[0] >= since]
        return {
            "cap": self.cap, "limit": self.limit, "min_limit": min((s[1] for s in rows), default=self.limit),
            "max_limit": max((s[1] for s in rows), default=self.limit),
            "median_in_flight": statistics.median(s[2] for s in rows) if rows else None, "peak_in_flight": self.peak,
            "throttled": self.throttled, "decreases": self.decreases, "increases": self.increases,
            "paused_s": round(self.paused_s, 3), "samples": len(rows),
        }  # fmt: skip


# --- the breaker ---------------------------------------------------------------------------------------


class Breaker:
    """Opens after ``threshold`` consecutive failed calls (None: never) and stays open for the run."""

    def __init__(self, name: str, threshold: int | None):
        self.name = name
        self.threshold = threshold
        self.consecutive = 0
        self.reason: str | None = None  # why it opened; None while closed

    def check(self) -> None:
        if self.reason is not None:
            raise CircuitOpenError(self.reason)

    def success(self) -> None:
        if self.reason is None:
            self.consecutive = 0

    def failure(self, last: str) -> None:
        self.consecutive += 1
        if self.reason is None and self.threshold is not None and self.consecutive >= self.threshold:
            last = last if len(last) <= 300 else last[:300] + "..."
            self.reason = (f"{self.name}: {self.consecutive} consecutive calls failed (last: {last}); "
                           "no more calls this run")  # fmt: skip


# --- which failures are worth another attempt --------------------------------------------------------


class MalformedResponse(Exception):
    """A 200 whose body is not a valid API response (no choices, not an object): the transport failed."""


@dataclass(frozen=True)
class Failure:
    """One failed attempt: its short ``reason`` ("429", "timeout"...), whether another attempt may
    succeed, whether it counts for the breaker, the wait the endpoint asked for, and its (redacted)
    message.  ``exc`` is the original exception; it never leaves :class:`ModelClient`."""

    reason: str
    retryable: bool
    message: str
    exc: BaseException = field(repr=False)
    status: int | None = None
    throttled: bool = False
    retry_after: float | None = None
    counts: bool = True


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return exc.message


def classify(exc: BaseException, redact: Callable[[str], str] = lambda s: s) -> Failure | None:
    """What a failed attempt means, or None when ``exc`` is not an endpoint failure (a bug: re-raised).

    The ``openai`` client (with ``max_retries=0``) raises ``RateLimitError``/``InternalServerError``/...
    (``APIStatusError``) for an HTTP error, ``APITimeoutError`` for a timeout, ``APIConnectionError``
    for a refused, reset or half-answered connection (a body cut short arrives as httpx's
    ``RemoteProtocolError``), and, for a 200 whose body is not JSON, the bare ``json.JSONDecodeError``;
    ``APIResponseValidationError`` only under strict validation, which the harness does not turn on.
    A JSON body of the wrong shape parses into an object without choices: the client raises
    :class:`MalformedResponse` for it.
    """
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in RETRY_STATUSES or status >= 500
        return Failure(
            reason=str(status), retryable=retryable, status=status, throttled=status == 429,
            retry_after=retry_after_s(exc.response.headers) if retryable else None,
            message=redact(f"HTTP {status}: {_api_message(exc)}"), exc=exc,
            counts=retryable or status in ENDPOINT_STATUSES,
        )  # fmt: skip
    if isinstance(exc, openai.APITimeoutError):
        return Failure(reason="timeout", retryable=True, message="no answer before the timeout", exc=exc)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        truncated = "complete message body" in str(cause)
        return Failure(reason="truncated body" if truncated else "connection", retryable=True, exc=exc,
                       message=redact(f"{'truncated body' if truncated else 'connection error'}: {cause}"))  # fmt: skip
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError | MalformedResponse):
        return Failure(reason="malformed body", retryable=True, exc=exc,
                       message=redact(f"the body is not a valid API response ({exc})"))  # fmt: skip
    if isinstance(exc, CircuitOpenError):
        return None
    if isinstance(exc, EndpointError):  # a local server that died: another attempt would find it dead too
        return Failure(reason="endpoint", retryable=False, message=redact(str(exc)), exc=exc)
    return None


class _AttemptFailed(Exception):
    def __init__(self, failure: Failure):
        super().__init__(failure.reason)
        self.failure = failure


class CallFailed(Exception):
    """A call that failed for good: every attempt's :class:`Failure`.  Internal to the model client,
    which turns it into the error a case records (:meth:`describe` is its message)."""

    def __init__(self, endpoint: str, failures: list[Failure], seconds: float):
        super().__init__(failures[-1].reason)
        self.endpoint = endpoint
        self.failures = failures
        self.seconds = seconds

    @property
    def last(self) -> Failure:
        return self.failures[-1]

    def describe(self) -> str:
        last = self.last
        if not last.retryable:
            why = f": a {last.reason} does not change on retry" if last.status is not None else ""
            return f"{last.message} [{self.endpoint}; attempted once{why}]"
        n = len(self.failures)
        counts = collections.Counter(f.reason for f in self.failures)
        why = ", ".join(f"{r} x{c}" if c > 1 else r for r, c in counts.items())
        plural = "s" * (n > 1)
        return f"{n} attempt{plural} failed in {self.seconds:.1f} s ({why}); last: {last.message} [{self.endpoint}]"


@dataclass(frozen=True)
class Attempted(Generic[T]):
    """A call's result and how many attempts it took (with the reasons of the failed ones)."""

    value: T
    attempts: int
    retried: tuple[str, ...]


def estimate_tokens(request: ModelRequest, max_tokens: int) -> int:
    """An *estimate* of a request's tokens for the tokens-per-minute cap, before it is sent: prompt
    characters / 4 (about right for English with OpenAI's tokenizers) plus the ``max_tokens`` it may
    generate (what the provider's rate limiter reserves)."""
    chars = len(request.prompt or "") + sum(len(m.content) for m in request.messages)
    return chars // 4 + max_tokens


# --- the endpoint --------------------------------------------------------------------------------------


class Endpoint:
    """The limits, retry policy and breaker of one endpoint, shared by every client that calls it.

    ``limits`` is None for a local server: it keeps its own turn and the run's CPU slots, and needs no
    rate caps.  ``retry`` is the model's :attr:`~ragft_eval.llm.spec.ModelSpec.retry_policy`.
    """

    def __init__(self, key: str, name: str, *, limits: LimitsSpec | None, retry: RetrySpec):
        self.key = key
        self.name = name
        self.limits = limits
        self.retry = retry
        self.limiter = AimdLimiter(limits.concurrency) if limits is not None else None
        self.rpm = AsyncLimiter(limits.rpm, 60) if limits is not None and limits.rpm else None
        self.tpm = AsyncLimiter(limits.tpm, 60) if limits is not None and limits.tpm else None
        self.breaker = Breaker(name, retry.breaker_failures)
        self.calls = 0
        self.failed_calls = 0
        self.attempts = 0

    async def _admit(self, tokens: int) -> float:
        granted = await self.limiter.acquire() if self.limiter is not None else time.monotonic()
        try:
            if self.rpm is not None:
                await self.rpm.acquire(1)
            if self.tpm is not None:
                # a request estimated above the whole cap waits for a full bucket instead of never going
                await self.tpm.acquire(min(tokens, self.tpm.max_rate))
        except BaseException:
            if self.limiter is not None:
                self.limiter.release(granted, "cancelled")
            raise
        return granted

    async def call(
        self,
        send: Callable[[float | None], Awaitable[T]],
        *,
        tokens: int = 0,
        redact: Callable[[str], str] = lambda s: s,
    ) -> Attempted[T]:
        """``send(timeout)`` under the endpoint's limits, retried by its policy; the timeout of each attempt
        is what is left of the call's deadline.  Raises :class:`CallFailed` when the call fails for good,
        :class:`CircuitOpenError` when the endpoint is given up on, and anything else ``send`` raises that
        is not an endpoint failure (:func:`classify`) unchanged."""
        policy = self.retry
        failures: list[Failure] = []
        started = time.monotonic()
        queued = 0.0  # waits for the endpoint's limits: not the call's deadline
        self.calls += 1

        def worked() -> float:
            return time.monotonic() - started - queued

        def past_deadline(state: RetryCallState) -> bool:
            return worked() + state.upcoming_sleep >= policy.deadline_s

        backoff = wait_random_exponential(multiplier=policy.backoff_s, max=policy.max_backoff_s)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hint = exc.failure.retry_after if isinstance(exc, _AttemptFailed) else None
            return max(backoff(state), min(hint or 0.0, MAX_PAUSE_S))

        async def sleep(seconds: float) -> None:
            with queueing.waiting():  # the harness's scheduling, not the case's work
                await asyncio.sleep(seconds)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts) | past_deadline,
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, _AttemptFailed) and e.failure.retryable),
            sleep=sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    self.breaker.check()
                    t0 = time.monotonic()
                    with queueing.waiting():
                        granted = await self._admit(tokens)
                    queued += time.monotonic() - t0
                    outcome: Outcome = "cancelled"
                    try:
                        self.breaker.check()  # it may have opened while this call waited
                        self.attempts += 1
                        try:
                            value = await send(max(policy.deadline_s - worked(), 0.001))
                        except Exception as exc:
                            failure = classify(exc, redact)
                            if failure is None:
                                raise
                            outcome = "throttled" if failure.throttled else "failed"
                            failures.append(failure)
                            if failure.retry_after and self.limiter is not None:
                                self.limiter.pause(failure.retry_after)
                            raise _AttemptFailed(failure) from None
                        outcome = "ok"
                    finally:
                        if self.limiter is not None:
                            self.limiter.release(granted, outcome)
                    self.breaker.success()
                    return Attempted(value, len(failures) + 1, tuple(f.reason for f in failures))
        except _AttemptFailed as exc:
            self.failed_calls += 1
            if exc.failure.counts:
                self.breaker.failure(exc.failure.message)
            raise CallFailed(self.name, failures, worked()) from None
        raise AssertionError("tenacity ended without an outcome")  # pragma: no cover

    def summary(self) -> dict[str, Any]:
        """What the run did to this endpoint, for the run log: calls, attempts, breaker, limit over time."""
        out: dict[str, Any] = {"endpoint": self.name, "calls": self.calls, "attempts": self.attempts,
                               "failed_calls": self.failed_calls,
                               "breaker": self.breaker.reason or "closed"}  # fmt: skip
        if self.limiter is not None:
            out["limit"] = self.limiter.summary()
        return out
