"""ragft-eval sandbox runner: runs test_solution.py's test_* functions against solution.py."""
import os
import sys


def main():
    channel = int(sys.argv[1])
    nonce = os.read(0, 256).decode().strip()
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)

    import _posixsubprocess
    import errno
    import importlib
    import json
    import socket
    import traceback
    import types

    work = os.path.realpath(os.getcwd())

    def report(**event):
        data = (json.dumps({"nonce": nonce, **event}) + "\n").encode()
        while data:
            data = data[os.write(channel, data):]

    def refuse(what):
        raise PermissionError(errno.EACCES, f"refused by the sandbox: {what}")

    # Python-level network block: the usual entry points fail early with a clear message.
    def no_network(*args, **kwargs):
        refuse("network access")

    class SandboxSocket(socket.socket):  # a class, so ssl and asyncio can still subclass it
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if family != socket.AF_UNIX:
                no_network()
            super().__init__(family, type, proto, fileno)

    socket.socket = SandboxSocket
    for name in ("create_connection", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
                 "gethostbyaddr", "getnameinfo", "getfqdn", "fromfd"):
        setattr(socket, name, no_network)

    def no_processes(*args, **kwargs):
        refuse("starting a process")

    _posixsubprocess.fork_exec = no_processes

    # The audit hook: see the module docstring of ragft_eval.metrics.sandbox for what it refuses.
    real = os.path.realpath
    read_roots = [work]
    for entry in [*sys.path, os.path.dirname(os.__file__), "/usr/share/zoneinfo", "/usr/lib/zoneinfo",
                  "/usr/share/lib/zoneinfo", "/etc/zoneinfo", "/etc/localtime"]:
        path = real(entry)
        if path != "/" and os.path.exists(path):
            read_roots.append(path)
    devices = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}
    process_events = {"subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
                      "os.forkpty", "os.kill", "os.killpg", "pty.spawn", "os.startfile", "webbrowser.open",
                      "resource.setrlimit", "resource.prlimit", "sys.remote_exec"}
    network_prefixes = ("socket.", "urllib.Request", "http.client.", "ftplib.", "smtplib.", "imaplib.",
                        "poplib.", "nntplib.", "telnetlib.")
    blocked_imports = {"ctypes", "_ctypes", "cffi", "_cffi_backend", "_xxsubinterpreters", "_xxinterpchannels",
                       "_interpreters", "_interpchannels", "_interpqueues", "_testcapi", "_testinternalcapi",
                       "_testmultiphase", "_testsinglephase", "_testimportmultiple", "_testbuffer", "_testclinic"}
    # event -> which arguments are paths the event writes (creates, removes, renames, changes)
    write_events = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
                    "os.chflags": (0,), "os.lchflags": (0,), "os.truncate": (0,), "os.utime": (0,),
                    "os.setxattr": (0,), "os.removexattr": (0,), "os.rename": (0, 1), "os.link": (0, 1),
                    "os.symlink": (1,), "shutil.rmtree": (0,), "os.mkfifo": (0,), "os.mknod": (0,)}
    read_events = {"os.listdir", "os.scandir", "os.getxattr", "os.listxattr"}
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def inside(path, roots):
        return any(path == r or path.startswith(r + "/") for r in roots)

    def check(path, writing):
        if path is None or isinstance(path, int):  # an open descriptor was checked when it was opened
            return
        try:
            resolved = real(os.fsdecode(path))
        except Exception:
            refuse(f"a path it cannot check: {path!r}")
        if resolved in devices or inside(resolved, (work,)):
            return
        if writing:
            refuse(f"writing {path!r} outside the sandbox directory")
        if not inside(resolved, read_roots):
            refuse(f"reading {path!r} outside the sandbox directory and the standard library")

    def hook(event, args):
        if event in process_events:
            refuse(f"{event} (no processes or signals)")
        if event.startswith(network_prefixes):
            if event == "socket.__new__" and args[1] == socket.AF_UNIX:
                return  # socketpair(): asyncio's self-pipe; connect/bind/sendto stay refused
            refuse(f"{event} (no network)")
        if event.startswith("ctypes."):
            refuse(event)
        if event == "import":
            if str(args[0]).partition(".")[0] in blocked_imports:
                refuse(f"import {args[0]}")
        elif event == "open":
            mode, flags = args[1], args[2]
            check(args[0], bool(mode and set(str(mode)) & set("wax+")) or bool((flags or 0) & write_flags))
        elif event in write_events:
            for i in write_events[event]:
                if i < len(args):
                    check(args[i], True)
        elif event in read_events:
            check(args[0] if args else ".", False)

    sys.addaudithook(hook)
    sys.path.insert(0, work)

    def text(exc):
        try:
            message = str(exc)
        except Exception:
            message = "<unprintable>"
        return (f"{type(exc).__name__}: {message}" if message else type(exc).__name__)[:500]

    def describe(exc):
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.dirname(f.filename) == work]
        where = ""
        tests = [f for f in frames if f.filename.endswith("test_solution.py")]
        if tests:
            where = f" (test_solution.py:{tests[-1].lineno}: {(tests[-1].line or '').strip()[:200]})"
        if frames and frames[-1].filename.endswith("/solution.py"):
            where += f" (raised at solution.py:{frames[-1].lineno})"
        return text(exc) + where

    try:
        with open("solution.py", encoding="utf-8") as f:
            compile(f.read(), "solution.py", "exec")
    except (SyntaxError, ValueError) as exc:
        line = f", line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        report(event="syntax_error", message=f"{type(exc).__name__}: {getattr(exc, 'msg', exc)} (solution.py{line})")
        return
    for module in ("solution", "test_solution"):
        try:
            imported = importlib.import_module(module)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt are the solution's too
            report(event="import_error", module=module, error=describe(exc))
            return
    tests = [(name, fn) for name, fn in list(vars(imported).items())
             if name.startswith("test_") and callable(fn) and getattr(fn, "__module__", None) == "test_solution"]
    report(event="collected", tests=[name for name, _ in tests])
    for name, fn in tests:
        report(event="start", test=name)
        try:
            result = fn()
            if isinstance(result, types.CoroutineType):
                import asyncio

                asyncio.run(result)
        except BaseException as exc:
            report(event="test", test=name, ok=False, error=describe(exc))
        else:
            report(event="test", test=name, ok=True)
    report(event="done")


if __name__ == "__main__":  # run as runner.py in the sandbox, never on import
    try:
        main()
        code = 0
    except BaseException:  # the runner's own failure: its traceback goes to stderr, the parent says crashed
        import traceback

        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)  # skip the solution's atexit handlers and non-daemon threads
