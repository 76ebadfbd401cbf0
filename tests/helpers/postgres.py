"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temp dir, a free port.

One cluster serves the whole test session (tests/conftest.py `postgres_cluster`); each test
gets its own database cloned from a template (`postgres_url`). The cluster is built for
speed, not safety: fsync, synchronous commit and full-page writes are off, and it trusts
every local connection. `initdb` refuses to run as root, so as root the server's programs
run as the `postgres` system user (`runuser`), which must own the data directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
}
START_TIMEOUT_S = 30


class PostgresUnavailable(RuntimeError):
    """The machine lacks what a throwaway cluster needs (binaries, the postgres user)."""


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb, or initdb's dir on PATH."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if candidates:
        newest = max(candidates, key=lambda path: int(Path(path).parent.parent.name))
        return Path(newest).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresUnavailable(
        "PostgreSQL's server binaries are not installed (no /usr/lib/postgresql/*/bin/initdb); "
        "install them with: apt-get install postgresql"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """A PostgreSQL server in `root` (data, socket and log), listening on 127.0.0.1:`port`."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.data_dir = root / "data"
        self.socket_dir = root / "socket"
        self.log_file = root / "server.log"
        self.port = free_port()
        self.running = False

    @classmethod
    def create(cls) -> PostgresCluster:
        """initdb a new cluster in a fresh temp dir and start it."""
        bin_dir = find_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="journeydesk-pg-"))
        cluster = cls(root, bin_dir)
        try:
            cluster._init()
            cluster.start()
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def url(self, dbname: str = "postgres") -> str:
        """The connection URL of one database of this cluster (as [database] url takes it)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        """Start the server (again, after stop()) and wait until it takes connections."""
        self._pg_ctl("start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(self.log_file))
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode "immediate" stands for a crash (no shutdown checkpoint)."""
        if self.running:
            self._pg_ctl("stop", "-w", "-m", mode)
            self.running = False

    def destroy(self) -> None:
        """Stop the server and remove every file of the cluster."""
        try:
            self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """CREATE DATABASE `name` (a copy of `template` when given); returns its URL."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            # FILE_COPY copies the template's files: faster than PostgreSQL 15's default
            # (WAL_LOG) for a small template when fsync is off (~35 ms against ~55 ms).
            statement += sql.SQL(" TEMPLATE {} STRATEGY FILE_COPY").format(sql.Identifier(template))
        self._admin(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE `name`, ending any session still connected to it; the store's
        idle connections to it in this process are closed first (the pool's own close),
        rather than kept, dead, until the session ends."""
        from plugin.store import close_pool

        close_pool(self.url(name))
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def server_log(self) -> str:
        """The server's log so far (shown when the server would not start)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def _admin(self, statement: sql.Composable) -> None:
        # CREATE/DROP DATABASE cannot run inside a transaction block: autocommit.
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement)

    def _init(self) -> None:
        self.socket_dir.mkdir()
        self.log_file.touch()
        if os.geteuid() == 0:
            _give_to_postgres_user(self.root, self.socket_dir, self.log_file)
        self._run(
            self.bin_dir / "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        settings = {
            **SERVER_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# journeydesk test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl(self, *args: str) -> None:
        try:
            self._run(self.bin_dir / "pg_ctl", "-D", str(self.data_dir), *args)
        except subprocess.CalledProcessError as error:
            raise RuntimeError(
                f"pg_ctl {args[0]} failed for the test cluster in {self.root}:\n"
                f"{error.stdout}\n{self.server_log()}"
            ) from error

    def _run(self, program: Path, *args: str) -> None:
        command = [str(program), *args]
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        subprocess.run(
            command,
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.root,
        )


def _give_to_postgres_user(*paths: Path) -> None:
    """chown to the postgres system user, whom initdb and the server run as under root."""
    import pwd

    try:
        account = pwd.getpwnam(SUPERUSER)
    except KeyError as missing:
        raise PostgresUnavailable(
            "running as root, but there is no 'postgres' system user to run PostgreSQL as "
            "(it comes with: apt-get install postgresql)"
        ) from missing
    for path in paths:
        os.chown(path, account.pw_uid, account.pw_gid)


def cluster_or_skip() -> PostgresCluster:
    """A new cluster for a fixture to yield (and destroy); without PostgreSQL's binaries
    the test fails in CI and is skipped, loudly, elsewhere."""
    import pytest

    try:
        return PostgresCluster.create()
    except PostgresUnavailable as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {missing}")
        print(f"\n*** NO POSTGRESQL: PostgreSQL tests are SKIPPED ({missing}) ***")
        pytest.skip(f"no PostgreSQL: {missing}")
