"""Calls to an endpoint we do not own: limits, AIMD on 429, retries, the circuit breaker, redaction.

End to end through ``ragft_eval.run`` against a loopback stand-in for a hosted API
(``tests/judges/fault_server.py``: a test double at a boundary we cannot reach from here) that injects
the faults a hosted endpoint has: 429 with and without hints, 5xx, answers past the timeout, reset
connections, truncated and non-JSON bodies, 400/401, a concurrency limit, an outage mid-run and error
bodies that echo the API key.  Every server is on 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from ragft_eval import run, run_async
from ragft_eval.errors import CircuitOpenError, ConfigError
from ragft_eval.llm import (
    AimdLimiter,
    Breaker,
    Endpoint,
    ModelPool,
    ModelRequest,
    ModelSpec,
    parse_duration,
    queueing,
    retry_after_s,
)
from ragft_eval.llm.resilience import CallFailed, MalformedResponse, classify, estimate_tokens
from ragft_eval.llm.spec import LimitsSpec, RetrySpec
from ragft_eval.runner import load_suite

from ..judges.fault_server import RETRYABLE, FaultServer
from ..secret_scan import assert_secret_absent

MODEL = "gpt-4o-mini"
KEY = "sk-loopback-7f3c9e1a2b4d6f80"
FAST_RETRY = {"backoff_s": 0.02, "max_backoff_s": 0.2}  # the policy's shape, at test speed


def _golden(tmp_path: Path, n: int) -> Path:
    dest = tmp_path / "golden"
    dest.mkdir()
    (dest / "manifest.yaml").write_text("name: many\nversion: '1'\n")
    cases = [{"id": f"c{i:04d}", "task_type": "factual", "split": "test", "input": f"What is fact {i}?",
              "expected": {"answer": "ok"}} for i in range(n)]  # fmt: skip
    (dest / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return dest


def _suite(tmp_path: Path, server: FaultServer, n: int, *, systems: int = 1, concurrency: int = 16,
           judge: bool = False, **model) -> Path:  # fmt: skip
    spec = {"model": MODEL, "base_url": server.base_url, "api_key_env": "LOOPBACK_KEY", "max_tokens": 16, **model}
    config = {
        "name": "resilience",
        "golden_sets": [str(_golden(tmp_path, n))],
        "models": {"remote": spec},
        "systems": [{"name": f"po{i}", "kind": "prompt_only", "model": "remote"} for i in range(systems)],
        "metrics": [{"metric": "exact_match"}],
        "concurrency": concurrency,
        "store": str(tmp_path / "out" / "store" / "store.sqlite"),
        "reports_dir": str(tmp_path / "out" / "reports"),
        "cache_dir": str(tmp_path / "out" / "cache"),
    }
    if judge:
        config["models"]["judge"] = {**spec, "model": "gpt-4o-judge"}
        config["judge"] = {"model": "judge"}
        config["metrics"].append({"metric": "judge_grade"})
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _attempts(cr) -> int:
    """The attempts one case's model call took: recorded on an answer, stated in a failure's message."""
    if not cr.response.failed:
        return cr.response.extra["attempts"]
    m = re.search(r"(\d+) attempts? failed", cr.response.error.message)
    return int(m.group(1)) if m else 1


# --- end to end ----------------------------------------------------------------------------------------


def test_ten_percent_faults_lose_no_case_and_every_retry_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", KEY)
    n, systems = 200, 2
    with FaultServer(models=[MODEL], fault_rate=0.10, fault_kinds=RETRYABLE, seed=13, slow_s=2.0,
                     retry_after="1", reset_after="200ms") as server:  # fmt: skip
        result = run(_suite(tmp_path, server, n, systems=systems, timeout_s=1.0, retry=FAST_RETRY))
        served = dict(server.served)

    planned = {(f"po{s}", f"c{i:04d}") for s in range(systems) for i in range(n)}
    assert {(cr.system, cr.case_id) for cr in result.results} == planned, "no case may be lost"
    assert len(result.results) == len(planned)
    failed = [cr for cr in result.results if cr.response.failed]
    assert all(cr.response.error.message for cr in failed), "an error names its reason"
    answered = [cr for cr in result.results if not cr.response.failed]
    assert all(cr.response.answer == "ok" for cr in answered)
    error_rate = len(failed) / len(planned)
    # what the harness recorded matches what the server injected, attempt for attempt and kind for kind
    recorded = sum(_attempts(cr) - 1 for cr in answered) + sum(_attempts(cr) for cr in failed)
    reasons = collections.Counter(r for cr in answered for r in cr.response.extra.get("retried", []))
    print(f"\n{len(planned)} cases, {served['injected']} faults injected {served}; error rate {error_rate:.2%}; "
          f"attempts beyond the first recorded: {recorded}; by reason {dict(reasons)}")  # fmt: skip
    assert error_rate < 0.005
    assert all(served.get(kind) for kind in RETRYABLE), "the seed injects every retryable kind"
    assert recorded == served["injected"]
    if not failed:
        expected = {"429": served.get("429", 0) + served.get("429_retry_after", 0) + served.get("429_reset", 0),
                    "500": served.get("500", 0), "503": served.get("503", 0), "timeout": served.get("slow", 0),
                    "connection": served.get("reset", 0), "truncated body": served.get("truncated", 0),
                    "malformed body": served.get("malformed", 0) + served.get("no_choices", 0)}  # fmt: skip
        assert dict(reasons) == {k: v for k, v in expected.items() if v}


@pytest.mark.parametrize(("kind", "error"), [("400", "BadRequestError"), ("401", "AuthenticationError")])
def test_a_permanent_error_is_attempted_once_and_named(tmp_path, monkeypatch, kind, error):
    monkeypatch.setenv("LOOPBACK_KEY", KEY)
    with FaultServer(models=[MODEL], fault_rate=1.0, fault_kinds=(kind,)) as server:
        result = run(_suite(tmp_path, server, 1, retry=FAST_RETRY))
        calls = server.calls
    (cr,) = result.results
    assert cr.response.failed and cr.response.error.type == error
    assert f"HTTP {kind}: " in cr.response.error.message and "attempted once" in cr.response.error.message
    assert calls == 1, "a permanent error is not retried"


def _time_weighted_median(samples: list[tuple[float, int]], since: float) -> float:
    """The median of a step function (the value held from each sample to the next), from ``since`` on."""
    spans = [(n, t1 - t0) for (t0, n), (t1, _) in itertools.pairwise(samples) if t0 >= since]
    total, acc = sum(d for _, d in spans), 0.0
    for n, d in sorted(spans):
        acc += d
        if acc >= total / 2:
            return n
    raise AssertionError("no samples")


def test_aimd_settles_below_an_endpoint_that_admits_20_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", KEY)
    # 300 ms, not 50: the harness and the stand-in share one process (and the GIL) and push ~200 cases/s,
    # so at 50 ms the server would never see 20 in flight
    n = 500
    with FaultServer(models=[MODEL], admit=20, delay_s=0.3) as server:
        suite = load_suite(_suite(tmp_path, server, n, concurrency=64, limits={"concurrency": 32}, retry=FAST_RETRY))
        pool = ModelPool(suite.models, base_dir=suite.base_dir)  # ours, to read its endpoint's limit afterwards

        async def go():
            try:
                return await run_async(suite, models=pool)
            finally:
                await pool.close()

        result = asyncio.run(go())
        samples = list(server.in_flight_samples)
        served = dict(server.served)
    assert len(result.results) == n and not [cr for cr in result.results if cr.response.failed]
    t0, t1 = samples[0][0], samples[-1][0]
    warm = t0 + 0.2 * (t1 - t0)  # the first fifth: the limit comes down from the cap of 32
    median = _time_weighted_median(samples, warm)
    share_429 = served.get("admit_429", 0) / sum(served.values())
    (endpoint,) = pool.endpoints.values()
    limiter = endpoint.limiter
    print(f"\nadmit 20, cap 32, {n} cases in {t1 - t0:.1f} s: in flight at the server after warm-up: median "
          f"{median} (time-weighted), peak {max(k for _, k in samples)}; "
          f"429s {served.get('admit_429', 0)} = {share_429:.1%} of {sum(served.values())} requests")  # fmt: skip
    print("limit over time:", limiter.summary(since=warm))
    print("limit samples (t, limit, in flight):", [(round(t - t0, 2), lim, k) for t, lim, k in limiter.samples[::40]])
    assert 16 <= median <= 20
    assert share_429 <= 0.05
    assert limiter.decreases >= 1 and limiter.summary(since=warm)["max_limit"] <= 21


def test_an_endpoint_that_goes_down_trips_the_breaker_and_the_run_ends_promptly(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", KEY)
    n, k = 300, 40
    with FaultServer(models=[MODEL], fail_after=k, mode="503") as server:
        started = time.monotonic()
        result = run(_suite(tmp_path, server, n))  # the default retry policy: 6 attempts, breaker at 10
        took = time.monotonic() - started
        down = server.served["down"]
    assert len(result.results) == n
    ok = [cr for cr in result.results if not cr.response.failed]
    tripped = [cr for cr in result.results if cr.response.failed and cr.response.error.type == "CircuitOpenError"]
    exhausted = [cr for cr in result.results if cr.response.failed and cr.response.error.type != "CircuitOpenError"]
    print(f"\ndown after {k} calls: run took {took:.1f} s; {len(ok)} answered, {len(exhausted)} gave up after "
          f"retries, {len(tripped)} failed fast; the server saw {down} requests after it went down")  # fmt: skip
    print("first fail-fast reason:", tripped[0].response.error.message)
    assert len(ok) == k
    assert len(ok) + len(tripped) + len(exhausted) == n
    assert took < 60, "a dead endpoint ends the run in seconds, not one timeout per case"
    assert len(tripped) >= n - k - 2 * 16  # at most the calls in flight when it tripped went on retrying
    for cr in tripped:
        msg = cr.response.error.message
        assert server.base_url in msg and MODEL in msg and "consecutive calls failed" in msg and "503" in msg
    for cr in exhausted:
        assert cr.response.error.type == "InternalServerError" and "attempts failed" in cr.response.error.message
    assert down <= 6 * (10 + 16), "once open, no request is sent"
    # the report says which endpoint tripped
    md = (result.report_dir / "table.md").read_text()
    assert f"endpoint {server.base_url}" in md and "breaker tripped" in md


def test_an_api_key_echoed_in_error_bodies_is_written_nowhere(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOOPBACK_KEY", KEY)
    with FaultServer(models=[MODEL, "gpt-4o-judge"], echo_key=True, fault_rate=0.4, seed=3,
                     fault_kinds=("429", "500", "400", "401"), replies=['{"score": 4, "verdict": "pass", '
                                                                        '"reason": "ok"}']) as server:  # fmt: skip
        result = run(_suite(tmp_path, server, 40, judge=True, retry={**FAST_RETRY, "max_attempts": 2}))
        assert server.keys_seen == {KEY}, "the key was sent, and the server echoed it in its errors"
    messages = [cr.response.error.message for cr in result.results if cr.response.failed]
    messages += [m.reason for cr in result.results for m in cr.results if m.reason]
    assert any("(request made with key ***)" in m for m in messages), "the echoed key was redacted, not dropped"
    assert not [m for m in messages if KEY in m]
    out = tmp_path / "out"
    scanned = assert_secret_absent(KEY, out / "store", out / "reports", *([out / "cache"] * (out / "cache").exists()))
    assert any(p.suffix == ".sqlite" for p in scanned) and any(p.name == "results.jsonl" for p in scanned)
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err


def test_the_stand_in_keeps_connections_alive_for_the_openai_client():
    async def go(server: FaultServer) -> None:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        try:
            for _ in range(20):
                await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        finally:
            await client.close()

    with FaultServer(models=[MODEL]) as server:
        asyncio.run(go(server))
        assert server.calls == 20 and server.connections == 1


# --- units ---------------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_aimd_halves_on_429_once_per_window_grows_by_one_and_stays_within_1_and_the_cap():
    async def go() -> None:
        clock = _Clock()
        lim = AimdLimiter(8, clock=clock)
        assert lim.run_length() == 8, "before any 429: +1 per window of successes"
        early = [await lim.acquire() for _ in range(8)]
        assert lim.limit == 8 and lim.in_flight == 8
        clock.t = 1.0
        lim.release(early[0], "throttled")
        assert (lim.limit, lim.ceiling) == (4, 8)
        lim.release(early[1], "throttled")  # sent before the decrease: the same congestion, no second halving
        assert lim.limit == 4
        for g in early[2:]:
            lim.release(g, "failed")  # a 5xx says nothing about the limit
        assert lim.limit == 4 and lim.in_flight == 0

        async def succeed(times: int) -> None:
            for _ in range(times):
                lim.release(await lim.acquire(), "ok")

        for expected in (5, 6, 7):  # below the limit that drew the 429: +1 per quarter window
            assert lim.run_length() == max(1, lim.limit // 4)
            await succeed(lim.run_length())
            assert lim.limit == expected
        assert lim.run_length() == 8 * 7  # just below it: probe slowly
        await succeed(8 * 7 - 1)
        assert lim.limit == 7
        await succeed(1)
        assert lim.limit == 8
        await succeed(200)
        assert lim.limit == 8, "never above the cap"
        for expected in (4, 2, 1, 1):  # each 429 of a request sent after the last decrease halves; never below 1
            clock.t += 1
            lim.release(await lim.acquire(), "throttled")
            assert lim.limit == expected
        await succeed(8)
        assert lim.limit == 2, "+1 after a run of successes"
        assert lim.summary()["min_limit"] == 1 and lim.decreases == 5

    asyncio.run(go())


def test_aimd_holds_requests_above_the_limit_and_during_a_pause():
    async def go() -> None:
        lim = AimdLimiter(2)
        a, b = await lim.acquire(), await lim.acquire()
        third = asyncio.ensure_future(lim.acquire())
        await asyncio.sleep(0.02)
        assert not third.done() and lim.in_flight == 2
        lim.release(a, "ok")
        await asyncio.wait_for(third, 1)
        lim.release(b, "ok")
        lim.release(third.result(), "ok")
        lim.pause(0.15)
        t = time.monotonic()
        lim.release(await asyncio.wait_for(lim.acquire(), 2), "ok")
        assert time.monotonic() - t >= 0.14
        assert lim.paused_s >= 0.14

    asyncio.run(go())


def test_waiting_for_the_limiter_is_queueing_not_the_cases_time():
    async def go() -> float:
        endpoint = Endpoint("k", "endpoint test", limits=LimitsSpec(concurrency=1), retry=RetrySpec())

        async def slow(timeout):
            await asyncio.sleep(0.2)
            return "ok"

        async def case() -> float:
            clock = queueing.QueueClock()
            queueing.CURRENT.set(clock)
            await endpoint.call(slow)
            return clock.waited()

        first = asyncio.ensure_future(endpoint.call(slow))
        await asyncio.sleep(0)
        waited = await asyncio.create_task(case())
        await first
        return waited

    assert asyncio.run(go()) >= 0.15


def test_rate_caps_pace_requests_per_minute_and_estimated_tokens_and_the_wait_is_queueing():
    async def go() -> tuple[float, float]:
        # aiolimiter's leaky bucket lets a minute's worth through at once, then one per 60/rpm s
        endpoint = Endpoint("k", "endpoint test", limits=LimitsSpec(concurrency=64, rpm=60), retry=RetrySpec())
        clock = queueing.QueueClock()
        queueing.CURRENT.set(clock)

        async def instant(timeout):
            return "ok"

        t = time.monotonic()
        await asyncio.gather(*(endpoint.call(instant) for _ in range(61)))
        return time.monotonic() - t, clock.waited()

    took, waited = asyncio.run(go())
    assert took >= 0.9 and waited >= 0.9, "the 61st request of a minute waits its turn, as queueing"
    request = ModelRequest.chat([{"role": "user", "content": "x" * 400}])
    assert estimate_tokens(request, 16) == 116  # an estimate: prompt chars / 4 + max_tokens


def test_retry_after_seconds_http_date_and_openai_reset_durations():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s({"Retry-After": "2"}) == 2.0
    assert retry_after_s({"retry-after": "0.5"}) == 0.5
    assert retry_after_s({"Retry-After": format_datetime(now + timedelta(seconds=30), usegmt=True)}, now=now) == 30
    assert retry_after_s({"Retry-After": format_datetime(now - timedelta(seconds=30), usegmt=True)}, now=now) == 0
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25  # the precise one wins
    assert parse_duration("6m0s") == 360 and parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("1s") == 1 and parse_duration("1h2m3.5s") == pytest.approx(3723.5)
    assert parse_duration("soon") is None and parse_duration("5") is None and parse_duration("1s later") is None
    assert retry_after_s({"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "6m0s"}) == 360
    # the reset of the limit that ran out, when the headers say which
    exhausted = {"x-ratelimit-reset-requests": "20ms", "x-ratelimit-reset-tokens": "6m0s",
                 "x-ratelimit-remaining-requests": "0", "x-ratelimit-remaining-tokens": "900"}  # fmt: skip
    assert retry_after_s(exhausted) == 0.02
    assert retry_after_s({"Retry-After": "whenever"}) is None and retry_after_s({}) is None


def _status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx.Response(status, headers=headers, request=request)
    body = {"error": {"message": f"status {status}"}}
    kinds = {400: openai.BadRequestError, 401: openai.AuthenticationError, 403: openai.PermissionDeniedError,
             404: openai.NotFoundError, 409: openai.ConflictError, 422: openai.UnprocessableEntityError,
             429: openai.RateLimitError}  # fmt: skip
    return kinds.get(status, openai.InternalServerError)(f"Error code: {status}", response=response, body=body)


def test_which_failures_are_retried():
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    throttled = classify(_status_error(429, {"retry-after": "3"}))
    assert throttled.retryable and throttled.throttled and throttled.retry_after == 3 and throttled.reason == "429"
    for status in (500, 502, 503, 504, 408, 409):
        assert classify(_status_error(status)).retryable, status
    for status in (400, 401, 403, 404, 422):
        failure = classify(_status_error(status))
        assert not failure.retryable and failure.message == f"HTTP {status}: status {status}"
    assert classify(_status_error(401)).counts and not classify(_status_error(400)).counts  # for the breaker
    assert classify(openai.APITimeoutError(request)).reason == "timeout"
    assert classify(openai.APIConnectionError(request=request)).reason == "connection"
    try:
        try:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        except httpx.RemoteProtocolError as cause:
            raise openai.APIConnectionError(request=request) from cause
    except openai.APIConnectionError as exc:
        assert classify(exc).reason == "truncated body" and classify(exc).retryable
    assert classify(json.JSONDecodeError("Expecting value", "<html>", 0)).reason == "malformed body"
    assert classify(MalformedResponse("no choices")).retryable
    assert classify(ValueError("a bug")) is None, "not an endpoint failure: re-raised, never retried"
    assert classify(_status_error(500), lambda s: s.replace("500", "***")).message == "HTTP ***: status ***"


def test_the_breaker_opens_after_n_consecutive_failures_and_stays_open():
    breaker = Breaker("endpoint http://127.0.0.1:9/v1 model m", 3)
    for _ in range(2):
        breaker.failure("HTTP 503: down")
    breaker.success()  # a success in between: not consecutive
    breaker.failure("HTTP 503: down")
    breaker.failure("HTTP 503: down")
    breaker.check()
    breaker.failure("HTTP 503: down")
    breaker.success()  # too late: open for the rest of the run
    with pytest.raises(CircuitOpenError, match=r"^endpoint http://127.0.0.1:9/v1 model m: 3 consecutive calls failed "
                                               r"\(last: HTTP 503: down\); no more calls this run$"):  # fmt: skip
        breaker.check()


def test_retries_are_bounded_and_their_reasons_recorded():
    async def go() -> None:
        endpoint = Endpoint("k", "endpoint test", limits=LimitsSpec(), retry=RetrySpec(max_attempts=3, **FAST_RETRY))
        script = iter([_status_error(429), _status_error(503)])

        async def flaky(timeout):
            exc = next(script, None)
            if exc is not None:
                raise exc
            return "ok"

        done = await endpoint.call(flaky)
        assert (done.value, done.attempts, done.retried) == ("ok", 3, ("429", "503"))

        async def down(timeout):
            raise _status_error(503)

        with pytest.raises(CallFailed) as info:
            await endpoint.call(down)
        assert len(info.value.failures) == 3 and info.value.describe().startswith("3 attempts failed in ")
        slow = Endpoint("k", "endpoint test", limits=LimitsSpec(), retry=RetrySpec(deadline_s=0.3, **FAST_RETRY))
        t = time.monotonic()
        with pytest.raises(CallFailed):
            await slow.call(down)
        assert time.monotonic() - t < 1.0, "the deadline bounds a call's attempts and backoff"

    asyncio.run(go())


def test_calls_waiting_for_the_limiter_when_the_breaker_opens_fail_fast_without_a_request():
    async def go() -> None:
        retry = RetrySpec(max_attempts=1, breaker_failures=1)
        endpoint = Endpoint("k", "endpoint test", limits=LimitsSpec(concurrency=1), retry=retry)
        sent: list[int] = []

        async def down(timeout):
            sent.append(1)
            await asyncio.sleep(0.05)
            raise _status_error(503)

        first = asyncio.ensure_future(endpoint.call(down))
        await asyncio.sleep(0)  # it holds the only slot; the next one waits for it
        with pytest.raises(CircuitOpenError, match="1 consecutive calls failed"):
            await endpoint.call(down)
        with pytest.raises(CallFailed):
            await first
        assert len(sent) == 1 and endpoint.limiter.in_flight == 0

    asyncio.run(go())


def test_models_on_one_endpoint_share_its_limiter_and_must_agree_on_it(tmp_path):
    url = "http://127.0.0.1:9/v1"
    specs = {"a": ModelSpec(model=MODEL, base_url=url), "b": ModelSpec(model=MODEL, base_url=url + "/"),
             "c": ModelSpec(model="other", base_url=url),
             "d": ModelSpec(model=MODEL, base_url=url, limits={"concurrency": 4})}  # fmt: skip
    pool = ModelPool(specs, base_dir=tmp_path)
    assert pool.endpoint("a") is pool.endpoint("b")
    assert pool.endpoint("c") is not pool.endpoint("a")
    with pytest.raises(ConfigError, match=r"models\.d: shares its endpoint .* with models\.a"):
        pool.endpoint("d")
