"""Run untrusted Python (a model's answer) against trusted tests in a contained child process.

:func:`run_tests` writes ``solution.py`` (the answer) and ``test_solution.py`` (the case's tests, which
``from solution import ...``) into a fresh temporary directory, starts a runner script there under
``python -I -S -B``, and returns a :class:`SandboxResult`.  The runner compiles the solution, imports it
and the tests, runs every top-level ``test_*`` function of the tests in definition order (an ``async def``
test through ``asyncio.run``), catches each test's exception, and reports each result as one JSON line
on a dedicated pipe (not stdout), every line carrying a random nonce the parent sends on stdin.

Outcomes (``passed`` is ``outcome == "passed"``):

- ``passed``: every test ran and passed (at least one test ran);
- ``failed``: a test failed or raised, importing the solution or the tests raised, or the tests define
  no ``test_*`` function; ``failed_tests`` names the failures and ``reason`` quotes the first;
- ``syntax_error``: the solution does not compile (the message and line are in ``reason``);
- ``timeout``: the wall-clock limit ``timeout_s`` passed; the whole process group was killed;
- ``killed``: the kernel stopped the child at a limit: CPU time (SIGXCPU, then SIGKILL) or file size
  (SIGXFSZ); running out of address space is a ``MemoryError`` inside a test, hence ``failed``;
- ``crashed``: the child ended without reporting (``os._exit``, a fatal signal such as SIGSEGV, or the
  solution closed or garbled the result pipe).

What contains the child; the first group is enforced by the kernel and is the hard boundary:

- **rlimits** set before ``exec`` (``preexec_fn``): ``RLIMIT_CPU`` (``cpu_s``), ``RLIMIT_AS``
  (``memory_mb``), ``RLIMIT_NPROC`` (``max_processes``), ``RLIMIT_FSIZE`` (``file_mb``),
  ``RLIMIT_NOFILE`` (64) and ``RLIMIT_CORE`` 0.  ``RLIMIT_NPROC`` counts the processes of the child's
  user, and the kernel does not apply it to root at all: see the uid below.
- **its own session and process group**, SIGKILLed as a whole on timeout and again after every run
  (the leader is not reaped before, so its group id cannot be reused meanwhile); ``PR_SET_PDEATHSIG``
  kills the child if the harness dies first.
- **a minimal environment**: nothing inherited (no API keys); ``HOME`` and ``TMPDIR`` are the sandbox
  directory, ``PATH`` is ``/usr/bin:/bin``; stdin is ``/dev/null`` once the nonce is read.  ``-I`` (no
  ``PYTHON*`` variables, no user site, no script directory on ``sys.path``) and ``-S`` (no
  site-packages: the solution gets the standard library only, so no third-party C extension can
  sidestep the audit hook).
- **a fresh directory**, the child's cwd, removed afterwards; the runner sits outside it.
- where the machine allows it (probed once per process, in this order, the first that starts a child
  wins; :func:`isolation` says which):

  - as root: a **per-run uid** (random in ``[2**30, 2**30 + 2**24)``, no supplementary groups,
    ``PR_SET_NO_NEW_PRIVS``), which makes ``RLIMIT_NPROC`` apply (a fork bomb stops at
    ``max_processes``), keeps the child out of root's files and processes, and lets the parent kill
    every process of that uid afterwards (one ``kill(-1)`` as the uid: atomic, so a fork loop or a
    process that left the group with ``setsid`` cannot outrun it); plus a **network namespace**
    (``unshare(CLONE_NEWNET)``: no interface but a downed loopback).  When the interpreter lives in a
    directory other users cannot enter (pyenv under ``/root``), a **mount namespace** covers that
    directory with an empty tmpfs holding only the interpreter's prefix (bind-mounted at its own path),
    so the uid can run it and sees nothing else of that home;
  - as root without ``CAP_SYS_ADMIN``: the per-run uid alone, if the interpreter is reachable;
  - as another user: a user + network namespace if unprivileged user namespaces are allowed.

Defence in depth inside the interpreter (**not a boundary**: an audit hook runs in the same process as
the code it watches, and C-level entry points that raise no audit event get past it):

- an audit hook (``sys.addaudithook``), installed by the runner before the solution is imported,
  refuses with ``PermissionError``: every ``socket.*`` event except creating an ``AF_UNIX`` socket
  (``socketpair``, asyncio's self-pipe; ``connect``/``bind``/``sendto`` are refused for every family)
  and the client events of ``urllib``/``http.client``/``ftplib``/``smtplib``/...; ``subprocess.Popen``,
  ``os.system``, ``os.exec*``, ``os.spawn*``, ``os.posix_spawn``, ``os.fork``, ``os.forkpty``,
  ``os.kill``, ``os.killpg``, ``resource.setrlimit``/``prlimit``; every ``ctypes.*`` event and importing
  ``ctypes``, ``cffi``, sub-interpreters or the ``_test*`` C modules; opening a path for writing, or
  creating, removing, renaming, linking, chmod-ing, chown-ing or truncating one, outside the sandbox
  directory (``/dev/null`` and friends aside); opening or listing a path for reading outside the sandbox
  directory, the standard library's directories and the time-zone database (so the real home, ``/root``,
  ``/etc``, ``/proc`` and other users' files are refused).  Paths are resolved with ``realpath``, so a
  symlink in the sandbox does not help;
- ``socket.socket`` refuses any family but ``AF_UNIX`` and ``socket.create_connection``,
  ``getaddrinfo``, ``gethostbyname`` (and the other resolvers) raise, so the usual ways fail early with
  a clear message; ``_posixsubprocess.fork_exec`` raises.

What it does **not** prevent:

- a determined solution forging a pass: it runs in the runner's process, so it can find the nonce or
  return objects whose ``__eq__`` is always true.  The sandbox contains the host from the answer; it does
  not make pass@1 robust to answers written to game it.
- without the per-run uid (root without the capability, a non-root harness without user namespaces,
  or an unmapped uid range), processes, files and signals are limited only by the audit hook and the
  user's own permissions, and as root ``RLIMIT_NPROC`` does nothing: a solution that gets past the hook
  runs with the harness's privileges.  :func:`isolation` shows what applies.
- without a network namespace, network access is refused only by the hook.
- paths relative to a ``dir_fd`` are checked as if relative to the cwd; ``os.stat`` is never refused
  (a solution can learn whether a file exists); world-readable files stay readable to the per-run uid if
  the hook is bypassed; disk use is bounded per file (``file_mb``) and by time, not in total.
- CPU time is limited per process and wall time per run; memory per process (``RLIMIT_AS``), not per
  group.  POSIX only (Linux for the namespaces).

``run_tests`` raises ``ValueError`` for bad limits or tests that do not compile (the golden-set loader
refuses such tests) and ``OSError`` (or ``SubprocessError``) when no child can be started at all: those
are the harness's problems, never the answer's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import resource
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

__all__ = ["SandboxResult", "isolation", "run_tests"]

log = logging.getLogger(__name__)

Outcome = Literal["passed", "failed", "syntax_error", "timeout", "killed", "crashed"]

_UID_BASE = 1 << 30  # far above any real account; one random uid per run
_UID_SPAN = 1 << 24
_NOFILE = 64
_CHANNEL_LIMIT = 1 << 20  # bytes of result lines kept; more is garbage from the solution
_GRACE_S = 1.0  # after the child exits, how long its pipes may stay open (held by a leftover process)

# linux/sched.h, linux/mount.h, linux/prctl.h
_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = 2, 4, 4096, 8192, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS = 1, 38


@dataclasses.dataclass(frozen=True)
class SandboxResult:
    """What running a solution against its tests came to (the module docstring defines the outcomes).

    ``stdout`` and ``stderr`` are the last ``output_bytes`` of each (``output_truncated`` when more was
    written), with the sandbox directory's random path shown as ``<sandbox>`` there and in ``reason``;
    ``seconds`` is the wall time; ``isolation`` names the containment that applied (:func:`isolation`).
    """

    outcome: Outcome
    reason: str
    tests_run: int = 0
    tests_passed: int = 0
    failed_tests: tuple[str, ...] = ()
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    seconds: float = 0.0
    isolation: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def run_tests(
    solution_source: str,
    tests_source: str,
    *,
    timeout_s: float = 10.0,
    cpu_s: int = 5,
    memory_mb: int = 512,
    max_processes: int = 16,
    file_mb: int = 16,
    output_bytes: int = 4096,
) -> SandboxResult:
    """Run ``tests_source``'s ``test_*`` functions against ``solution_source`` in the sandbox.

    >>> run_tests("def add(a, b):\\n    return a + b\\n",
    ...           "from solution import add\\ndef test_add():\\n    assert add(2, 3) == 5\\n").outcome
    'passed'
    """
    given = {"timeout_s": timeout_s, "cpu_s": cpu_s, "memory_mb": memory_mb, "max_processes": max_processes,
             "file_mb": file_mb, "output_bytes": output_bytes}  # fmt: skip
    for name, value in given.items():
        if not value > 0:
            raise ValueError(f"expected {name} > 0, got {value!r}")
    try:  # the tests are trusted input: compiling them here is safe, the solution only compiles in the child
        compile(tests_source, "test_solution.py", "exec")
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"tests_source does not compile: {exc}") from exc
    plan = _isolation_plan()
    limits = _Limits(cpu_s=math.ceil(cpu_s), memory_mb=math.ceil(memory_mb), max_processes=int(max_processes),
                     file_mb=math.ceil(file_mb))  # fmt: skip
    nonce = secrets.token_hex(16)
    started = time.monotonic()
    with _sandbox_dir(plan) as (root, work, uid):
        runner = os.path.join(root, "runner.py")
        _write(runner, _RUNNER)
        _write(os.path.join(work, "solution.py"), solution_source)
        _write(os.path.join(work, "test_solution.py"), tests_source)
        run = _contain(plan, uid, root, work, limits, ["-X", "utf8", runner], timeout_s=timeout_s,
                       output_bytes=output_bytes, nonce=nonce)  # fmt: skip
    result = _interpret(run, nonce, limits, timeout_s=timeout_s, seconds=time.monotonic() - started, plan=plan)
    return _masked(result, root)


def isolation() -> tuple[str, ...]:
    """The containment this machine gives a sandboxed child, e.g. ``("rlimits", "process_group",
    "audit_hook", "uid", "network_namespace")`` (probed once per process)."""
    return _isolation_plan().tags


# ---------------------------------------------------------------------------------------------- plans


@dataclasses.dataclass(frozen=True)
class _Plan:
    uid: bool = False  # run as a per-run uid (only as root)
    netns: bool = False
    userns: bool = False  # the unprivileged route to a network namespace
    hide: str | None = None  # a directory the uid cannot enter that holds the interpreter: covered by tmpfs

    @property
    def tags(self) -> tuple[str, ...]:
        tags = ["rlimits", "process_group", "audit_hook"]
        tags += ["uid"] if self.uid else []
        tags += ["user_namespace"] if self.userns else []
        tags += ["network_namespace"] if self.netns else []
        tags += ["mount_namespace"] if self.hide else []
        return tuple(tags)


@dataclasses.dataclass(frozen=True)
class _Limits:
    cpu_s: int
    memory_mb: int
    max_processes: int
    file_mb: int


def _interpreter() -> tuple[str, str]:
    """The real interpreter (not a venv's symlink: -S makes the venv moot) and its installation prefix."""
    exe = os.path.realpath(sys.executable)
    return exe, os.path.realpath(sys.base_prefix)


def _blocking_dir(path: str) -> str | None:
    """The outermost directory on ``path`` that other users cannot enter (None: all of it is open)."""
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        with contextlib.suppress(OSError):
            if not os.stat(current).st_mode & stat.S_IXOTH:
                return current
    return None


def _coverable(blocked: str, prefix: str) -> bool:
    """Whether a tmpfs over ``blocked`` can hold the interpreter's prefix (a closed home above it, not ``/``
    and not the directory the sandboxes are made in)."""
    tmp = os.path.realpath(tempfile.gettempdir())
    return blocked != "/" and prefix != blocked and _under(prefix, blocked) and not _under(tmp, blocked)


def _ids_mapped() -> bool:
    """Whether the per-run uid/gid range exists in this user namespace (a rootless container maps few)."""
    for name in ("uid_map", "gid_map"):
        try:
            with open(f"/proc/self/{name}") as f:
                rows = [tuple(map(int, line.split())) for line in f if line.strip()]
        except (OSError, ValueError):
            return False
        if not any(inside <= _UID_BASE and _UID_BASE + _UID_SPAN <= inside + count for inside, _, count in rows):
            return False
    return True


def _candidates() -> Iterator[_Plan]:
    """Plans to probe, strongest first; the last (limits, group and hook only) always applies."""
    if os.geteuid() == 0:
        exe, prefix = _interpreter()
        blocked = _blocking_dir(exe)
        hide = blocked if blocked is not None and _coverable(blocked, prefix) else None
        if _ids_mapped() and _libc() is not None and (blocked is None or hide is not None):
            yield _Plan(uid=True, netns=True, hide=hide)
        if _ids_mapped() and blocked is None:
            yield _Plan(uid=True)
        if _libc() is not None:
            yield _Plan(netns=True)
    elif _libc() is not None:
        yield _Plan(userns=True, netns=True)
    yield _Plan()


@functools.cache
def _isolation_plan() -> _Plan:
    """The strongest plan that starts a child here (probed with ``python -c pass``), cached per process."""
    for plan in _candidates():
        if _probe(plan):
            break
    if os.geteuid() == 0 and not plan.uid:
        log.warning("the code sandbox runs solutions as root (no per-run uid here): processes, files and "
                    "signals are limited only by its audit hook; isolation=%s", plan.tags)  # fmt: skip
    return plan


def _probe(plan: _Plan) -> bool:
    limits = _Limits(cpu_s=5, memory_mb=512, max_processes=16, file_mb=1)
    try:
        with _sandbox_dir(plan) as (root, work, uid):
            run = _contain(plan, uid, root, work, limits, ["-c", "pass"], timeout_s=10, output_bytes=1024, nonce="")
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("sandbox plan %s does not start here: %s", plan, exc)
        return False
    return run.returncode == 0 and not run.timed_out


@functools.cache
def _libc() -> Any:
    """libc through ctypes (for unshare, mount, prctl), or None where ctypes or libc is missing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare, libc.mount, libc.prctl  # noqa: B018 - resolve now: the child must not look them up
    except (ImportError, OSError, AttributeError):
        return None
    return libc


# ----------------------------------------------------------------------------------------- the child


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o644)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@contextlib.contextmanager
def _sandbox_dir(plan: _Plan) -> Iterator[tuple[str, str, int | None]]:
    """``root`` (the runner, the mount staging point) holding ``work`` (the child's cwd and HOME), the
    per-run uid (None without one); removed afterwards."""
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if plan.uid else None
    root = tempfile.mkdtemp(prefix="ragft-sandbox-")
    try:
        os.chmod(root, 0o711)  # the uid may enter, not list
        work = os.path.join(root, "work")
        os.mkdir(work, 0o700)
        if uid is not None:
            os.chown(work, uid, uid)
        if plan.hide:
            os.mkdir(os.path.join(root, "prefix"), 0o755)
        yield root, work, uid
    finally:
        _remove(root)


def _remove(root: str) -> None:
    shutil.rmtree(root, ignore_errors=True)
    if os.path.lexists(root):  # a solution may have made its directories unreadable to their owner
        for dirpath, dirnames, _ in os.walk(root):
            for name in dirnames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    with contextlib.suppress(OSError):
                        os.chmod(path, 0o700)
        shutil.rmtree(root, ignore_errors=True)
    if os.path.lexists(root):
        log.warning("could not remove the sandbox directory %s", root)


def _preexec(plan: _Plan, uid: int | None, root: str, limits: _Limits) -> Callable[[], None]:
    """What the child does between fork and exec, as root where it is root: namespaces, limits, the uid.

    Everything it needs is prepared here, in the parent: the child of a multithreaded parent must not
    take locks another thread may hold (imports, logging), so it only makes system calls.
    """
    libc = _libc()
    get_errno = sys.modules["ctypes"].get_errno if libc is not None else None
    flags = (_CLONE_NEWNET if plan.netns else 0) | (_CLONE_NEWUSER if plan.userns else 0)
    flags |= _CLONE_NEWNS if plan.hide else 0
    _, prefix = _interpreter()
    prefix_b, staging = prefix.encode(), os.path.join(root, "prefix").encode()
    hidden = plan.hide.encode() if plan.hide else b""
    mb = 1024 * 1024
    rlimits = [
        (resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 1),  # SIGXCPU at the soft limit, SIGKILL a second later
        (resource.RLIMIT_AS, limits.memory_mb * mb, limits.memory_mb * mb),
        (resource.RLIMIT_NPROC, limits.max_processes, limits.max_processes),
        (resource.RLIMIT_FSIZE, limits.file_mb * mb, limits.file_mb * mb),
        (resource.RLIMIT_NOFILE, _NOFILE, _NOFILE),
        (resource.RLIMIT_CORE, 0, 0),
    ]

    def _check(result: int, what: str) -> None:
        if result != 0:
            err = get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def child() -> None:
        if flags:
            _check(libc.unshare(flags), "unshare")
        if plan.hide:
            # private first, so nothing below propagates back to the host's mounts
            _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
            _check(libc.mount(prefix_b, staging, None, _MS_BIND | _MS_REC, None), "bind the prefix")
            tmpfs_flags = _MS_NOSUID | _MS_NODEV
            _check(libc.mount(b"tmpfs", hidden, b"tmpfs", tmpfs_flags, b"mode=0755,size=1m"), "cover the home")
            os.makedirs(prefix)
            _check(libc.mount(staging, prefix_b, None, _MS_MOVE, None), "move the prefix into place")
        for which, soft, hard in rlimits:
            resource.setrlimit(which, (soft, hard))
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        if libc is not None:
            libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binary gives privileges back
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it

    return child


@dataclasses.dataclass
class _Tail:
    """The last ``limit`` bytes of a stream and how many came in all."""

    limit: int
    data: bytearray
    total: int = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]


@dataclasses.dataclass(frozen=True)
class _Run:
    returncode: int
    timed_out: bool
    stdout: _Tail
    stderr: _Tail
    channel: bytes
    channel_overflow: bool


def _contain(
    plan: _Plan,
    uid: int | None,
    root: str,
    work: str,
    limits: _Limits,
    args: list[str],
    *,
    timeout_s: float,
    output_bytes: int,
    nonce: str,
) -> _Run:
    """Start ``python -I -S -B *args`` in ``work`` under ``plan``; collect its output until it ends or
    ``timeout_s`` passes; kill whatever is left of it either way."""
    exe, _ = _interpreter()
    env = {"HOME": work, "TMPDIR": work, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    read_end, write_end = os.pipe()
    try:
        deadline = time.monotonic() + timeout_s
        proc = subprocess.Popen(
            [exe, "-I", "-S", "-B", *args, str(write_end)],
            cwd=work, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(write_end,), start_new_session=True, preexec_fn=_preexec(plan, uid, root, limits),
        )  # fmt: skip
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(nonce.encode() + b"\n")
            proc.stdin.close()
        return _collect(proc, read_end, deadline, uid, output_bytes)
    except BaseException:
        _kill_all(proc, uid)
        raise
    finally:
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(OSError):
            os.close(read_end)


def _collect(proc: subprocess.Popen, channel_fd: int, deadline: float, uid: int | None, output_bytes: int) -> _Run:
    out, err = _Tail(output_bytes, bytearray()), _Tail(output_bytes, bytearray())
    channel = _Tail(_CHANNEL_LIMIT, bytearray())
    sinks = {proc.stdout.fileno(): out, proc.stderr.fileno(): err, channel_fd: channel}
    sel = selectors.DefaultSelector()
    for fd in sinks:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    timed_out, exited_at = False, None
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and _exited(proc.pid):
                exited_at = now
                _kill_all(proc, uid)  # leftovers holding the pipes die; what they wrote stays readable
            if exited_at is not None and (not sel.get_map() or now - exited_at > _GRACE_S):
                break  # past the grace, something outside the group holds the pipes open
            if now >= deadline:
                timed_out = True
                break
            if sel.get_map():
                for key, _ in sel.select(timeout=min(0.05, deadline - now)):
                    _drain(key.fd, sinks[key.fd], sel)
            else:  # the child closed its pipes but runs on
                time.sleep(min(0.02, deadline - now))
        if exited_at is None:
            _kill_all(proc, uid)
        for key in list(sel.get_map().values()):  # what was written before the kill
            _drain(key.fd, sinks[key.fd], sel, final=True)
    finally:
        sel.close()
    returncode = proc.wait()
    overflow = channel.total > len(channel.data)
    return _Run(returncode, timed_out, out, err, bytes(channel.data) if not overflow else b"", overflow)


def _drain(fd: int, sink: _Tail, sel: selectors.BaseSelector, *, final: bool = False) -> None:
    """Read what ``fd`` holds into ``sink``; unregister it at EOF (or, when ``final``, once it is empty)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            if not final:
                return
            chunk = b""
        except OSError:
            chunk = b""
        if not chunk:
            sel.unregister(fd)
            return
        sink.add(chunk)


def _exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (its pid stays the group's id until we kill)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_all(proc: subprocess.Popen, uid: int | None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if uid is not None:
        _kill_uid(uid)


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid``: one ``kill(-1)`` made as that uid, which the kernel does under one
    lock, so no fork outruns it; it reaches what left the process group too."""

    def as_uid() -> None:
        if os.getuid() != uid or os.geteuid() != uid:  # never kill(-1) as anyone else
            raise RuntimeError("not running as the sandbox uid")
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)  # Linux spares the caller

    try:
        subprocess.run([shutil.which("true") or "/bin/true"], user=uid, group=uid, extra_groups=[], env={},
                       preexec_fn=as_uid, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not kill the processes of sandbox uid %d: %s", uid, exc)


# ------------------------------------------------------------------------------------------- verdict


def _masked(result: SandboxResult, root: str) -> SandboxResult:
    """The result with the random sandbox path shown as ``<sandbox>``: the same answer gives the same text."""

    def mask(text: str) -> str:
        return text.replace(root, "<sandbox>")

    return dataclasses.replace(
        result, reason=mask(result.reason), stdout=mask(result.stdout), stderr=mask(result.stderr)
    )


def _events(run: _Run, nonce: str) -> list[dict[str, Any]]:
    """The runner's lines that carry the nonce (anything else on the pipe is the solution's)."""
    marker = b'{"nonce": "' + nonce.encode() + b'"'
    events = []
    for line in run.channel.split(b"\n"):
        at = line.find(marker)
        if at < 0:
            continue
        with contextlib.suppress(ValueError):
            event = json.loads(line[at:])
            if isinstance(event, dict) and event.get("nonce") == nonce:
                events.append(event)
    return events


def _signal_reason(sig: int, limits: _Limits) -> tuple[Outcome, str]:
    name = signal.Signals(sig).name if sig in signal.valid_signals() else f"signal {sig}"
    if sig == signal.SIGXCPU:
        return "killed", f"CPU time limit of {limits.cpu_s} s exceeded (SIGXCPU)"
    if sig == signal.SIGXFSZ:
        return "killed", f"file size limit of {limits.file_mb} MB exceeded (SIGXFSZ)"
    if sig == signal.SIGKILL:
        return "killed", "killed by SIGKILL (the CPU hard limit, or out of memory)"
    return "crashed", f"terminated by {name}"


def _interpret(
    run: _Run, nonce: str, limits: _Limits, *, timeout_s: float, seconds: float, plan: _Plan
) -> SandboxResult:
    events = _events(run, nonce)
    results = [e for e in events if e.get("event") == "test"]
    failed = [e for e in results if not e.get("ok")]
    started = [e.get("test") for e in events if e.get("event") == "start"]
    running = started[-1] if len(started) > len(results) else None
    first = {e.get("event"): e for e in reversed(events)}
    base = {
        "tests_run": len(results),
        "tests_passed": len(results) - len(failed),
        "failed_tests": tuple(str(e.get("test")) for e in failed),
        "stdout": run.stdout.data.decode("utf-8", "replace"),
        "stderr": run.stderr.data.decode("utf-8", "replace"),
        "output_truncated": run.stdout.total > len(run.stdout.data) or run.stderr.total > len(run.stderr.data),
        "seconds": round(seconds, 3),
        "isolation": plan.tags,
    }

    def result(outcome: Outcome, reason: str) -> SandboxResult:
        return SandboxResult(outcome=outcome, reason=reason, **base)

    if "syntax_error" in first:
        return result("syntax_error", str(first["syntax_error"].get("message")))
    if "import_error" in first:
        e = first["import_error"]
        return result("failed", f"importing {e.get('module')}.py raised {e.get('error')}")
    if "done" in first:
        total = len(results)
        if total == 0:
            return result("failed", "the tests define no test_* function")
        if failed:
            first_failure = f"{failed[0].get('test')}: {failed[0].get('error')}"
            return result("failed", f"{len(failed)} of {total} tests failed: {first_failure}")
        return result("passed", f"{total} of {total} tests passed")
    if running:
        where = f" in {running}"
    elif "collected" not in first:
        where = " while importing the solution or the tests"
    else:
        where = ""
    if run.timed_out:
        return result("timeout", f"timed out after {timeout_s:g} s{where}")
    if run.returncode < 0:
        outcome, reason = _signal_reason(-run.returncode, limits)
        return result(outcome, reason + where)
    if run.channel_overflow:
        return result("crashed", "the result pipe overflowed (the solution wrote to it)")
    tail = base["stderr"].strip().splitlines()[-1:] or ["no stderr"]
    return result("crashed", f"exited with code {run.returncode} before reporting{where} ({tail[0][:300]})")


# The runner (``_sandbox_runner.py``, a module of its own so that it is linted) is written into the
# sandbox as runner.py and run as ``python -I -S -B -X utf8 runner.py FD``.  It reads the nonce from stdin,
# fences the interpreter (network, processes, files), then imports and runs the tests.
_RUNNER = (Path(__file__).with_name("_sandbox_runner.py")).read_text(encoding="utf-8")
