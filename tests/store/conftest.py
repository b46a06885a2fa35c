"""Store fixtures: every store test runs against SQLite and against a real PostgreSQL server.

The server is ``RAGFT_TEST_PG_URL`` when set (a database the tests may create schemas in), else a throw-away
cluster made once per session with ``initdb`` in a temporary folder, listening only on 127.0.0.1 on a free
port, run as an unprivileged user (PostgreSQL refuses root, and CI runs as root), with a scram password
read from a ``.pgpass`` file, and stopped at the end of the session, also when tests fail.  Each test gets
a schema of its own (``?options=-csearch_path%3D...``), dropped afterwards.  Where neither the server
binaries (Debian's ``postgresql`` package, which ``.ci/run`` installs) nor the URL is there, the
PostgreSQL half skips with the reason.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

BACKENDS = ["sqlite", "postgresql"]
PG_USER = "ragft"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """Whom to run the server as: ourselves unless root; as root, Debian's postgres user (or nobody)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("PostgreSQL refuses to run as root and there is no postgres or nobody user to run it as")


def _wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL (no password) of a database the tests may create schemas in."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'ragft-eval[postgres]')")
    if url := os.environ.get("RAGFT_TEST_PG_URL"):
        yield url
        return
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql) and no RAGFT_TEST_PG_URL")
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="ragft-pg-"))
    data, log = root / "data", root / "server.log"
    password = uuid.uuid4().hex
    (root / "pwfile").write_text(password + "\n")
    as_user = {}
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
        os.chown(root / "pwfile", user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    port = _free_port()
    # the password reaches libpq through a .pgpass file, as a runner's would: never through a URL
    pgpass = Path(tempfile.mkdtemp(prefix="ragft-pgpass-")) / "pgpass"
    pgpass.write_text(f"127.0.0.1:{port}:*:{PG_USER}:{password}\n")
    pgpass.chmod(0o600)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, "--pwfile", str(root / "pwfile"),
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
                   check=True, capture_output=True, cwd=root, env=env, **as_user)  # fmt: skip
    # fsync off: a throw-away cluster whose durability nothing needs (the two-writer numbers say so)
    with log.open("w") as out:
        proc = subprocess.Popen([str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
                                 "-c", "fsync=off", "-c", "max_connections=50"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root, env=env,
                                **as_user)  # fmt: skip
    saved = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(pgpass)
    try:
        admin = f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres"
        _wait_ready(admin, proc, log)
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE ragft_test")
        yield f"postgresql://{PG_USER}@127.0.0.1:{port}/ragft_test"
    finally:
        proc.send_signal(2)  # SIGINT: PostgreSQL's fast shutdown (disconnects clients, then stops)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if saved is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = saved
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pgpass.parent, ignore_errors=True)


@pytest.fixture
def pg_schemas(pg_server: str) -> Iterator[Callable[[], str]]:
    """Make PostgreSQL store URLs, each in a fresh schema of its own; all dropped after the test."""
    import psycopg

    made: list[str] = []

    def new() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        made.append(schema)
        sep = "&" if "?" in pg_server else "?"
        return f"{pg_server}{sep}options={quote(f'-csearch_path={schema}')}"

    yield new
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for schema in made:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_url(pg_schemas: Callable[[], str]) -> str:
    return pg_schemas()


@pytest.fixture(params=BACKENDS)
def new_store_url(request, tmp_path) -> Callable[[], str]:
    """Make URLs of fresh, empty stores of one backend (the test runs once per backend)."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_schemas")
    count = itertools.count()
    return lambda: f"sqlite:///{tmp_path / f'store{next(count)}.sqlite'}"


@pytest.fixture
def store_url(new_store_url: Callable[[], str]) -> str:
    return new_store_url()


@pytest.fixture
def store(store_url: str):
    from ragft_eval.store import open_store

    with open_store(store_url) as db:
        yield db
