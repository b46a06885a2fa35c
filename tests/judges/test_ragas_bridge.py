"""ragas faithfulness through the one model interface: its calls reach the judge's endpoint through
``Model.call`` (counted by the loopback stand-in for a hosted judge), and a judge outage is an ``error``
(c00306c turned any failure whose text lacked "connect", a timeout or a 500, into ``unscored``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ragft_eval.golden import GoldenSet, Manifest
from ragft_eval.judges import Judge, JudgeClient, JudgeSpec
from ragft_eval.llm import ModelClient, ModelSpec
from ragft_eval.metrics import ScoreContext
from ragft_eval.metrics.judged import Faithfulness
from ragft_eval.records import Case, Response

from .fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
CASE = Case(id="c", task_type="factual", input="How much is Pro?")
RESPONSE = Response(case_id="c", system="s", answer="Pro costs $49. It has SSO.", context="[1] Pro costs $49.")
GS = GoldenSet(path=Path("."), manifest=Manifest(name="g", version="1"), cases=())


def ragas_reply(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    if "verdict" in prompt:  # the NLI step: one statement supported, one not
        return json.dumps({"statements": [
            {"statement": "Pro costs $49.", "reason": "stated", "verdict": 1},
            {"statement": "It has SSO.", "reason": "not stated", "verdict": 0}]})  # fmt: skip
    return json.dumps({"statements": ["Pro costs $49.", "It has SSO."]})


def _score(server: FaultServer):
    async def go():
        client = ModelClient("judge", ModelSpec(model="judge-x", base_url=server.base_url, timeout_s=5), base_dir=ROOT)
        await client.start()
        try:
            judge = JudgeClient(client, JudgeSpec(model="judge"))
            assert isinstance(judge, Judge)  # the protocol the judged metrics use has an implementation
            return await Faithfulness().score(CASE, RESPONSE, ScoreContext(golden_set=GS, judge=judge))
        finally:
            await client.close()

    return asyncio.run(go())


def test_ragas_calls_go_through_the_model_interface():
    with FaultServer(respond=ragas_reply) as server:
        result = _score(server)
        bodies = server.bodies()
    assert result.status == "scored" and result.value == 0.5
    assert result.details["calls"] == len(bodies) == 2  # statements, then verdicts: both reached the endpoint
    assert result.details["prompt_tokens"] == 100 and result.details["completion_tokens"] == 40
    assert all(b["model"] == "judge-x" and b["temperature"] == 0.0 for b in bodies)


def test_a_judge_outage_is_an_error_not_unscored():
    with FaultServer(fail_after=0) as server:  # every call answers 500
        result = _score(server)
    assert result.status == "error" and result.details["stage"] == "judge"
    assert result.reason.startswith("judge error: ragas faithfulness: judge endpoint failed: InternalServerError")


def test_unusable_judge_output_is_unscored_with_the_reason():
    with FaultServer(["this is not JSON at all"]) as server:
        result = _score(server)
    assert result.status == "unscored" and result.reason.startswith("ragas faithfulness failed:")
