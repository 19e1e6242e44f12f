"""The embedded PostgreSQL of `up` and `demo` (contract section 13): Debian's binaries, a private server.

`ensure_initialised(data)` runs `initdb` once into `<data>/postgres` (mode 0700) with a generated
password kept in `<data>/postgres.password` (0600); `postgres_argv(port, data)` is the server in
the foreground for a supervisor (SIGTERM stops it), on 127.0.0.1 only, its unix socket in
`<data>/postgres.run`, every login by password (scram-sha-256). PostgreSQL refuses to run as root:
under root, initdb and the server run as the unprivileged `postgres` user (Debian's package makes it),
which owns the cluster; `setpriv` gives that user back the right to pass through the root-owned,
owner-only directories above the cluster (CAP_DAC_READ_SEARCH) and nothing else of root's.
CENTINELA_POSTGRES (a libpq URL) names a running server instead.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from vocabulary.errors import Unavailable

ENV = "CENTINELA_POSTGRES"
DEFAULT_PORT = 5433
LOOPBACK = "127.0.0.1"
USER = "centinela"
DATABASE = "centinela"
RUN_AS = "postgres"  # the unprivileged user the server runs as when we are root
VERSIONS = ("17", "16", "15")  # Debian's /usr/lib/postgresql/<version>/bin, newest first


class PostgresError(Unavailable):
    """The embedded server cannot be set up or reached."""


def binary(name: str) -> str:
    for version in VERSIONS:
        candidate = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise PostgresError(f"PostgreSQL's {name} is not installed: apt-get install -y postgresql (make setup does it)")
    return found


def cluster_dir(data: Path) -> Path:
    return data / "postgres"


def socket_dir(data: Path) -> Path:
    return data / "postgres.run"


def password_file(data: Path) -> Path:
    return data / "postgres.password"


def _as_root() -> bool:
    return os.geteuid() == 0


def _run_as() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        raise PostgresError(f"running as root, PostgreSQL needs an unprivileged user {RUN_AS!r} "
                            "(Debian's postgresql package creates it), or set CENTINELA_POSTGRES") from None


def _unprivileged(argv: list[str]) -> list[str]:
    """`argv` as it must run: as is for a normal user; under root, as the `postgres` user."""
    if not _as_root():
        return argv
    user = _run_as()
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", "--pdeathsig=keep", "--", *argv]


def _give_to_server(path: Path) -> None:
    if _as_root():
        user = _run_as()
        os.chown(path, user.pw_uid, user.pw_gid)


def password(data: Path) -> str:
    """The server's password, generated at the first start: written whole or not at all (temp file, rename)."""
    path = password_file(data)
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="ascii").strip()
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = data / f".postgres.password.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(secrets.token_hex(24) + "\n")
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(temporary, path)  # never replaces a password another start wrote first
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text(encoding="ascii").strip()


def ensure_initialised(data: Path) -> None:
    """`<data>/postgres` holds a cluster with the `centinela` role and database; made once, atomically
    (initdb into a temporary directory renamed into place, so a start killed half-way leaves nothing)."""
    data = data.resolve()
    cluster = cluster_dir(data)
    sockets = socket_dir(data)
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    sockets.mkdir(mode=0o700, exist_ok=True)
    _give_to_server(sockets)
    if (cluster / "PG_VERSION").exists():
        return
    secret = password(data)
    staging = data / f".postgres.init-{secrets.token_hex(4)}"
    staging.mkdir(mode=0o700)
    pwfile = data / f".postgres.pw-{secrets.token_hex(4)}"
    try:
        _give_to_server(staging)
        descriptor = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(secret + "\n")
        _give_to_server(pwfile)
        _run([binary("initdb"), "-D", str(staging), "-U", USER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
              "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"], "initdb")
        _run([binary("postgres"), "--single", "-D", str(staging), "-c", "listen_addresses=",
              "-c", f"unix_socket_directories={sockets}", "postgres"], "creating the database",
             stdin=f"CREATE DATABASE {DATABASE} OWNER {USER};\n")
        try:
            staging.rename(cluster)
        except OSError:
            if not (cluster / "PG_VERSION").exists():  # else another start made it first: keep theirs
                raise
    finally:
        pwfile.unlink(missing_ok=True)
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _run(argv: list[str], what: str, stdin: str | None = None) -> None:
    done = subprocess.run(_unprivileged(argv), input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PostgresError(f"PostgreSQL {what} failed (exit {done.returncode}): {' | '.join(tail)}")


def postgres_argv(port: int, data: Path) -> list[str]:
    """The server in the foreground: SIGTERM (smart shutdown) or SIGINT (fast) stop it."""
    data = data.resolve()
    return _unprivileged([
        binary("postgres"), "-D", str(cluster_dir(data)), "-p", str(port),
        "-c", f"listen_addresses={LOOPBACK}", "-c", f"unix_socket_directories={socket_dir(data)}",
        "-c", "unix_socket_permissions=0700", "-c", "password_encryption=scram-sha-256",
    ])


def postgres_url(port: int, data: Path) -> str:
    """The libpq URL of the embedded server of `data` (with its password: never log it unredacted)."""
    return f"postgresql://{USER}:{quote(password(data.resolve()), safe='')}@{LOOPBACK}:{port}/{DATABASE}"


def store_url(data: Path, port: int = DEFAULT_PORT) -> str:
    """CENTINELA_POSTGRES when set, else the embedded server of `data` (which `up` runs)."""
    given = os.environ.get(ENV)
    if given:
        return given
    if not password_file(data.resolve()).exists():
        raise PostgresError(f"no PostgreSQL for {data}: `centinela up --data {data}` starts one, or set {ENV}")
    return postgres_url(port, data)


def answers(url: str) -> bool:
    """True once the server accepts a login (not merely a TCP connection: it may still be recovering)."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def wait_until_answers(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not answers(url):
        if time.monotonic() > deadline:
            raise PostgresError(f"PostgreSQL did not accept a login within {timeout_s:.0f} s")
        time.sleep(0.1)
