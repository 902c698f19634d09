"""A throw-away PostgreSQL cluster for the tests: ``initdb`` into a temporary folder, then
``pg_ctl start`` on a free loopback port, with password (SCRAM) authentication over TCP.

Debian installs the server binaries in ``/usr/lib/postgresql/<version>/bin`` (not on PATH).
PostgreSQL refuses to run as root, so as root the cluster belongs to, and runs as, the
``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

USER = "tuner"
PASSWORD = "Pg-pass-7f3a"  # the throw-away cluster's superuser password


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def find_bindir() -> Path | None:
    """The newest folder holding ``initdb`` and ``pg_ctl``, or None."""

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    prefix: list[str]  # runs a command as the cluster's owner

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        auth = f"{USER}:{password}" if password is not None else USER
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; its name."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=PASSWORD,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a server program as the cluster's owner."""
        if self.prefix[:1] == ["su"]:  # su takes one shell command line
            args = (" ".join(shlex.quote(a) for a in args),)
        return subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(max_connections: int = 60) -> PgServer:
    """Create and start a cluster; raises :class:`Unavailable` with the reason if it cannot."""
    bindir = find_bindir()
    if bindir is None:
        raise Unavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on "
            "PATH; install Debian's postgresql package"
        )
    root = Path(tempfile.mkdtemp(prefix="tuner-pg-"))
    (root / "pwfile").write_text(PASSWORD + "\n")
    prefix: list[str] = []
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise Unavailable(
                "running as root and there is no 'postgres' user to run the server as "
                "(PostgreSQL refuses root)"
            ) from None
        runuser = shutil.which("runuser")
        prefix = (
            [runuser, "-u", "postgres", "--"]
            if runuser
            else ["su", "postgres", "-s", "/bin/sh", "-c"]
        )
        for path in (root, root / "pwfile"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    server = PgServer(bindir, root, 0, prefix)
    run = server.run
    init = run(
        str(bindir / "initdb"),
        "-D",
        str(server.data),
        "-U",
        USER,
        f"--pwfile={root / 'pwfile'}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--no-sync",
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
    for _ in range(3):  # a port picked as free may be taken before the server binds it
        server.port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root} -F -c "
            f"synchronous_commit=off -c max_connections={max_connections}"
        )
        started = run(
            str(bindir / "pg_ctl"),
            "-D",
            str(server.data),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if started.returncode == 0:
            return server
    log = (root / "server.log").read_text() if (root / "server.log").exists() else started.stderr
    server.stop()
    raise RuntimeError(f"pg_ctl start failed: {log.strip()[-500:]}")
