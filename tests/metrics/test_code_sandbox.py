"""The code sandbox and ``code_pass``: outcomes, and what a hostile or broken answer cannot do.

Two layers are tested: through :func:`run_tests` (the runner's audit hook and socket block in front of
the kernel's limits), and, where this machine gives a per-run uid, the kernel layer alone (raw programs
started by ``_contain`` without the runner, as if the hook had been bypassed).
"""

from __future__ import annotations

import asyncio
import doctest
import os
import socket
import time
from pathlib import Path

import pytest

from ragft_eval.errors import ConfigError
from ragft_eval.golden import GoldenSet, Manifest
from ragft_eval.metrics import ScoreContext, code, sandbox
from ragft_eval.metrics.code import CodePass, extract_code
from ragft_eval.metrics.sandbox import run_tests
from ragft_eval.records import Case, Expected, Response
from ragft_eval.registry import create

TESTS = """\
from solution import add

def test_small():
    assert add(2, 3) == 5

def test_negative():
    assert add(-1, 1) == 0
"""
GOOD = "def add(a, b):\n    return a + b\n"
# the tests call f(); an answer that does its mischief in f() fails (or passes) test_f
F_TESTS = "from solution import f\n\ndef test_f():\n    assert f() == 1\n"

KERNEL_UID = "uid" in sandbox.isolation()
needs_uid = pytest.mark.skipif(not KERNEL_UID, reason="no per-run uid here: raw programs are not run unconfined")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie is dead: killed, waiting for its parent to reap it)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            state = next(line for line in f if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False
    return state.split()[1] != "Z"


def _live_pids_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
            except OSError:
                continue
            if int(fields["Uid"].split()[0]) == uid and fields["State"].split()[0] != "Z":
                pids.append(int(entry))
    return pids


def _eventually_none_alive(pids) -> bool:
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if not [p for p in pids() if _alive(p)]:
            return True
        time.sleep(0.05)
    return False


# --- outcomes ----------------------------------------------------------------------------------------


def test_a_correct_solution_passes():
    async_tests = TESTS + "\nasync def test_async():\n    assert add(1, 1) == 2\n"
    result = run_tests(GOOD, async_tests)
    assert result.passed and result.outcome == "passed"
    assert (result.tests_run, result.tests_passed, result.failed_tests) == (3, 3, ())
    assert result.reason == "3 of 3 tests passed"
    assert {"rlimits", "process_group", "audit_hook"} <= set(result.isolation)


def test_a_wrong_solution_fails_naming_the_failing_test():
    result = run_tests("def add(a, b):\n    return a + b if a > 0 else 99\n", TESTS)
    assert result.outcome == "failed" and not result.passed
    assert (result.tests_run, result.tests_passed, result.failed_tests) == (2, 1, ("test_negative",))
    assert result.reason == (
        "1 of 2 tests failed: test_negative: AssertionError (test_solution.py:7: assert add(-1, 1) == 0)"
    )


def test_a_syntax_error_is_its_own_outcome():
    result = run_tests("def add(a, b)\n    return a + b\n", TESTS)
    assert result.outcome == "syntax_error"
    assert result.reason == "SyntaxError: expected ':' (solution.py, line 1)"
    assert result.tests_run == 0


def test_import_errors_and_missing_tests_fail():
    result = run_tests("def plus(a, b):\n    return a + b\n", TESTS)
    assert result.outcome == "failed"
    assert result.reason.startswith("importing test_solution.py raised ImportError: cannot import name 'add'")
    assert run_tests(GOOD, "import solution\n").reason == "the tests define no test_* function"


def test_uncompilable_tests_and_bad_limits_are_the_callers_error():
    with pytest.raises(ValueError, match="tests_source does not compile"):
        run_tests(GOOD, "def test_x(:\n")
    with pytest.raises(ValueError, match="expected timeout_s > 0, got 0"):
        run_tests(GOOD, TESTS, timeout_s=0)


def test_an_infinite_loop_times_out_and_the_child_is_killed():
    solution = "import os\ndef f():\n    print(os.getpid(), flush=True)\n    while True:\n        pass\n"
    started = time.monotonic()
    result = run_tests(solution, F_TESTS, timeout_s=2, cpu_s=10)
    assert time.monotonic() - started < 4
    assert result.outcome == "timeout"
    assert result.reason == "timed out after 2 s in test_f"
    pid = int(result.stdout.split()[0])
    assert not _alive(pid)


def test_the_cpu_limit_kills():
    result = run_tests("def f():\n    while True:\n        pass\n", F_TESTS, timeout_s=10, cpu_s=1)
    assert result.outcome == "killed"
    assert result.reason == "CPU time limit of 1 s exceeded (SIGXCPU) in test_f"


def test_a_fork_bomb_is_refused():
    started = time.monotonic()
    result = run_tests("import os\ndef f():\n    while True:\n        os.fork()\n", F_TESTS, timeout_s=5)
    assert time.monotonic() - started < 3  # refused at the first fork, not held until the timeout
    assert result.outcome == "failed"
    assert "refused by the sandbox: os.fork" in result.reason


def test_starting_a_process_is_refused():
    solution = "import subprocess\ndef f():\n    subprocess.run(['true'])\n    return 1\n"
    assert "refused by the sandbox: subprocess.Popen" in run_tests(solution, F_TESTS).reason


def test_memory_bomb_is_contained():
    result = run_tests("def f():\n    x = bytearray(10**10)\n    return 1\n", F_TESTS, memory_mb=256)
    assert result.outcome == "failed"
    assert "MemoryError" in result.reason


def test_output_spam_is_truncated():
    solution = "def f():\n    for _ in range(20_000):\n        print('x' * 1000)\n    return 1\n"
    result = run_tests(solution, F_TESTS, output_bytes=2000)
    assert result.passed
    assert result.output_truncated
    assert len(result.stdout) == 2000


def test_a_solution_cannot_report_a_pass_without_the_nonce():
    forged = '{"event": "collected", "tests": ["test_f"]}\\n{"event": "test", "test": "test_f", "ok": true}\\n'
    forged += '{"event": "done"}\\n'
    solution = f"import os, sys\nos.write(int(sys.argv[1]), b'{forged}')\nprint('{forged}')\nos._exit(0)\n"
    result = run_tests(solution, F_TESTS)
    assert result.outcome == "crashed"
    assert result.reason == (
        "exited with code 0 before reporting while importing the solution or the tests (no stderr)"
    )


# --- what the answer cannot reach --------------------------------------------------------------------


def test_the_home_directory_and_files_outside_are_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret-xyz")
    home = str(Path.home())
    solution = (
        f"import os\ndef read():\n    return open({str(secret)!r}).read()\n"
        f"def home():\n    return os.listdir({home!r})\n"
    )
    tests = (
        "from solution import read, home\n"
        "def test_read():\n    print(read())\n"
        "def test_home():\n    print(home())\n"
        "def test_bashrc():\n    print(open('/root/.bashrc').read())\n"
    )
    result = run_tests(solution, tests)
    assert result.outcome == "failed"
    assert result.failed_tests == ("test_read", "test_home", "test_bashrc")
    assert "refused by the sandbox: reading" in result.reason
    assert "s3cret-xyz" not in result.stdout + result.stderr + result.reason
    assert result.stdout == ""


def test_writing_outside_is_refused_and_the_directory_is_removed(tmp_path):
    target = tmp_path / "escaped.txt"
    solution = (
        "import os\nprint(os.getcwd(), os.getcwd()[::-1], flush=True)\nopen('scratch.txt', 'w').write('fine')\n"
        f"def f():\n    open({str(target)!r}, 'w').write('x')\n    return 1\n"
    )
    result = run_tests(solution, F_TESTS)
    assert result.outcome == "failed"
    assert "refused by the sandbox: writing" in result.reason
    assert not target.exists()
    shown, reversed_path = result.stdout.split()
    assert shown == "<sandbox>/work"  # the random path is masked: the same answer gives the same text
    workdir = reversed_path[::-1]
    assert workdir.startswith("/") and workdir.endswith("/work") and not os.path.exists(workdir)


def test_a_socket_to_a_listening_port_is_refused():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.2)
        port = server.getsockname()[1]
        solution = (
            "import socket, _socket\n"
            f"def connect():\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            f"def raw():\n    _socket.socket().connect(('127.0.0.1', {port}))\n"
        )
        tests = "from solution import connect, raw\ndef test_connect():\n    connect()\ndef test_raw():\n    raw()\n"
        result = run_tests(solution, tests)
        assert result.failed_tests == ("test_connect", "test_raw")
        assert "refused by the sandbox: network access" in result.reason
        with pytest.raises(TimeoutError):  # nothing got through
            server.accept()


def test_the_parent_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-123")
    tests = (
        "import os\n"
        "def test_no_key():\n    assert 'OPENAI_API_KEY' not in os.environ\n"
        "def test_home_is_the_sandbox():\n    assert os.environ['HOME'] == os.getcwd()\n"
        "def test_parent_environ_unreadable():\n"
        "    try:\n        open(f'/proc/{os.getppid()}/environ').read()\n    except OSError:\n        return\n"
        "    raise AssertionError('read the parent environment')\n"
    )
    result = run_tests("", tests)
    assert result.passed, result.reason
    assert "sk-fake-123" not in result.stdout + result.stderr


# Every plan, not only the strongest this machine allows: what a machine without a per-run uid or
# namespaces would use (as root here, these run with root's rights behind the hook: hook-refused programs
# only).
PLANS = [
    sandbox._Plan(),
    sandbox._Plan(netns=True),
    sandbox._Plan(userns=True, netns=True),
    sandbox._Plan(uid=True),
    sandbox._isolation_plan(),
]


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: "+".join(p.tags[3:]) or "hook_only")
def test_every_plan_that_starts_here_gives_the_same_outcomes(plan, monkeypatch):
    if not sandbox._probe(plan):
        pytest.skip(f"{plan} does not start a child here")
    monkeypatch.setattr(sandbox, "_isolation_plan", lambda: plan)
    assert run_tests(GOOD, TESTS).outcome == "passed"
    assert run_tests("def add(a, b):\n    return 0\n", TESTS).failed_tests == ("test_small",)
    forking = run_tests("import os\ndef f():\n    os.fork()\n    return 1\n", F_TESTS)
    assert "refused by the sandbox: os.fork" in forking.reason
    assert forking.isolation == plan.tags


# --- the kernel layer alone (as if the audit hook were bypassed) ---------------------------------------


def _raw(program: str, *, timeout_s: float = 2, max_processes: int = 16) -> tuple[sandbox._Run, int | None]:
    plan = sandbox._isolation_plan()
    limits = sandbox._Limits(cpu_s=5, memory_mb=256, max_processes=max_processes, file_mb=1)
    with sandbox._sandbox_dir(plan) as (root, work, uid):
        run = sandbox._contain(plan, uid, root, work, limits, ["-c", program], timeout_s=timeout_s,
                               output_bytes=4096, nonce="")  # fmt: skip
    return run, uid


@needs_uid
def test_a_raw_fork_bomb_stops_at_the_process_limit_and_is_killed():
    bomb = (
        "import os\nwhile True:\n    try:\n        if os.fork() == 0:\n            print(os.getpid(), flush=True)\n"
        "    except OSError:\n        pass\n"
    )
    run, uid = _raw(bomb, max_processes=8)
    assert run.timed_out
    pids = {int(p) for p in bytes(run.stdout.data).split()}
    assert 1 <= len(pids) <= 7  # RLIMIT_NPROC counts the leader too
    assert _eventually_none_alive(lambda: _live_pids_of(uid))


@needs_uid
def test_a_process_that_leaves_the_group_is_killed_too():
    escape = (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    print(os.getpid(), flush=True)\n"
        "    time.sleep(60)\nelse:\n    time.sleep(0.3)\n"
    )
    run, _ = _raw(escape)
    assert not run.timed_out and run.returncode == 0
    pid = int(bytes(run.stdout.data).split()[0])
    assert _eventually_none_alive(lambda: [pid])


@needs_uid
def test_raw_reads_of_outside_files_fail(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret-xyz")
    run, _ = _raw(f"print(open({str(secret)!r}).read())")
    assert run.returncode == 1
    assert b"s3cret-xyz" not in bytes(run.stdout.data)
    assert b"PermissionError" in bytes(run.stderr.data) or b"FileNotFoundError" in bytes(run.stderr.data)


@pytest.mark.skipif("network_namespace" not in sandbox.isolation(), reason="no network namespace here")
def test_a_raw_connection_finds_no_network():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        run, _ = _raw(f"import socket\nsocket.create_connection(('127.0.0.1', {server.getsockname()[1]}), timeout=1)")
    assert run.returncode == 1
    assert b"Network is unreachable" in bytes(run.stderr.data)


# --- the metric -------------------------------------------------------------------------------------


def _case(tests: str | None = TESTS) -> Case:
    return Case(id="add", task_type="code", input="Write add(a, b).", expected=Expected(tests=tests))


CTX = ScoreContext(golden_set=GoldenSet(path=Path("."), manifest=Manifest(name="t", version="1"), cases=(_case(),)))


def _score(answer: str, case: Case | None = None, **params):
    case = case or _case()
    response = Response(case_id=case.id, system="toy", answer=answer)
    return asyncio.run(create("metric", "code_pass", **params).score(case, response, CTX))


def test_code_pass_scores_the_fenced_block_and_records_the_outcome():
    result = _score(f"Here you go:\n\n```python\n{GOOD}```\n\nIt adds.")
    assert result.status == "scored" and result.value == 1.0
    assert result.details["outcome"] == "passed"
    assert result.details["tests_run"] == 2 and result.details["failed_tests"] == []
    assert "stdout" not in result.details
    assert (result.metric, result.unit, result.higher_is_better) == ("code_pass", "ratio", True)


def test_code_pass_failures_score_zero_with_the_outcome():
    wrong = _score("```\ndef add(a, b):\n    return a * b\n```")
    assert (wrong.status, wrong.value, wrong.details["outcome"]) == ("scored", 0.0, "failed")
    assert wrong.details["failed_tests"] == ["test_small", "test_negative"]
    broken = _score("def add(a, b) return a + b")  # no fence: the whole answer
    assert (broken.value, broken.details["outcome"]) == (0.0, "syntax_error")
    slow = _score("```python\nimport time\ndef add(a, b):\n    time.sleep(60)\n```", timeout_s=1)
    assert (slow.value, slow.details["outcome"]) == (0.0, "timeout")


def test_code_pass_is_unscored_without_tests():
    for case in (_case(None), Case(id="q", task_type="factual", input="q", expected=Expected(answer="a"))):
        result = _score(GOOD, case)
        assert (result.status, result.reason) == ("unscored", "the case has no tests (expected.tests)")
    result = _score(GOOD, _case("def test_x(:\n"))
    assert result.status == "unscored" and result.reason.startswith("the case's tests do not compile: SyntaxError")


def test_code_pass_parameters_are_checked():
    with pytest.raises(ConfigError, match="code_pass: expected timeout_s > 0, got 0"):
        create("metric", "code_pass", timeout_s=0)
    assert isinstance(create("metric", "code_pass", cpu_s=2), CodePass)


def test_extract_code_prefers_python_blocks():
    assert extract_code("```bash\npip install x\n```\n```python\nx = 1\n```") == "x = 1\n"
    assert extract_code("```json\n{}\n```") == "{}\n"
    assert extract_code("Start:\n```py\n    y = 2\n") == "y = 2\n"  # unclosed and indented
    assert extract_code("z = 3") == "z = 3"


def test_doctests_pass():
    for module in (code, sandbox):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0
