"""Servers: a real RabbitMQ and a real Redis, started and stopped by the course itself.

Chapter 09 and the live tests talk to real brokers. This module starts them on this machine,
bound to ``127.0.0.1`` only, each in a temporary directory of its own and on free ports, waits
until it answers, and stops it by its process id afterwards. Nothing is installed as a service,
nothing listens outside the machine, and nothing is left behind.

>>> from brokerlab.servers import missing
>>> missing("no-such-server") is None
False

- :func:`start_rabbitmq` -> :class:`RabbitMQServer` (one node; ``.url`` is an AMQP URL);
- :func:`start_redis` -> :class:`RedisServer` (``.url`` is a ``redis://`` URL);
- :func:`start_rabbitmq_cluster` -> :class:`RabbitMQCluster` (three nodes by default, joined
  into one cluster, on loopback);
- :func:`missing` says how to install a server that is not there.

Each server is a context manager; ``.kill()`` sends SIGKILL (a crash: no clean shutdown, nothing
flushed), ``.restart()`` starts it again on the same data directory and ports (so what was on
disk comes back), ``.stop()`` shuts it down and deletes its directory.

How RabbitMQ is started
-----------------------
Debian's ``/usr/sbin/rabbitmq-server`` is a wrapper that switches to the ``rabbitmq`` user when
run as root; the script it wraps, ``/usr/lib/rabbitmq/bin/rabbitmq-server``, runs as whoever
calls it, so that is the one used. Everything a node needs is set through RabbitMQ's own
environment variables (``RABBITMQ_NODENAME``, ``RABBITMQ_NODE_PORT``, ``RABBITMQ_DIST_PORT``,
``RABBITMQ_MNESIA_BASE``, ``RABBITMQ_LOG_BASE``, ``RABBITMQ_CONFIG_FILE``,
``RABBITMQ_ENABLED_PLUGINS_FILE``) and a small ``rabbitmq.conf``; ``HOME`` points into the
temporary directory, where the Erlang cookie lives. Erlang nodes find each other through
``epmd``, the port mapper: this module starts one of its own on a free port
(``ERL_EPMD_PORT``), so it never touches a system epmd, and stops it with its nodes.

The script is started in a new process group, and the node (the ``beam.smp`` process and its
helpers) is stopped by signalling that group: SIGTERM for a clean stop, SIGKILL for a crash.

A cluster's nodes boot in parallel as single nodes; then the second and later nodes join the
first (``rabbitmqctl stop_app``, ``join_cluster``, ``start_app``), as the RabbitMQ clustering
guide describes. :meth:`RabbitMQCluster.leader` asks a node which one leads a quorum queue
(``rabbitmq-queues quorum_status``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import BrokerError

__all__ = [
    "INSTALL",
    "RabbitMQCluster",
    "RabbitMQServer",
    "RedisServer",
    "ServerError",
    "free_port",
    "missing",
    "start_rabbitmq",
    "start_rabbitmq_cluster",
    "start_redis",
    "stop",
    "try_start",
]

#: How to install each server (Debian's packages).
INSTALL = {
    "rabbitmq-server": "apt-get install -y rabbitmq-server",
    "redis-server": "apt-get install -y redis-server",
}
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
#: Seconds to wait for a server to answer before giving up.
BOOT_TIMEOUT = 120.0
#: The AMQP 0-9-1 protocol header a client sends first (the broker answers Connection.Start).
_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


class ServerError(BrokerError, RuntimeError):
    """A server could not be started, did not answer, or is not installed."""


def _program(program: str) -> str | None:
    """The path of the server program to run, or None if it is not installed."""
    if program == "rabbitmq-server":
        path = RABBITMQ_BIN / "rabbitmq-server"
        return str(path) if path.exists() else None
    if program == "epmd":
        return shutil.which("epmd") or (
            "/usr/lib/erlang/bin/epmd" if Path("/usr/lib/erlang/bin/epmd").exists() else None
        )
    return shutil.which(program) or next(
        (str(Path(d, program)) for d in ("/usr/bin", "/usr/sbin") if Path(d, program).exists()),
        None,
    )


def missing(program: str) -> str | None:
    """None if ``program`` (``"rabbitmq-server"`` or ``"redis-server"``) is installed; else
    the command that installs it, e.g. ``"apt-get install -y redis-server"``."""
    if _program(program) is not None and (program != "rabbitmq-server" or _program("epmd")):
        return None
    return INSTALL.get(program, f"apt-get install -y {program}")


def _require(program: str) -> str:
    install = missing(program)
    if install is not None:
        raise ServerError(f"{program} is not installed here. Install it with: {install}")
    return _program(program)  # type: ignore[return-value]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(answers: Any, proc: subprocess.Popen, what: str, log: Path, timeout: float) -> None:
    """Poll ``answers()`` until it is true; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers():
            return
        if proc.poll() is not None:
            raise ServerError(f"{what} exited with code {proc.returncode}.{_tail(log)}")
        time.sleep(0.2)
    raise ServerError(f"{what} did not answer within {timeout:g} s.{_tail(log)}")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return "\nIts log ends with:\n" + "\n".join(text) if text else ""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: have the kernel SIGKILL this process when the process that started it dies, so a
    notebook kernel or test run that is killed leaves no server behind (prctl PR_SET_PDEATHSIG;
    it survives exec)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _signal_group(proc: subprocess.Popen | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:  # pragma: no cover - it died on its own meanwhile
        pass


def _stop_process(proc: subprocess.Popen | None, timeout: float = 30.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL what is left."""
    if proc is None:
        return
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
    # the group's other members (beam's helpers) go with SIGKILL if any remain
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_process(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    _signal_group(proc, signal.SIGKILL)
    proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Server:
    """What every server has: a process, a directory, start/kill/restart/stop."""

    name = "server"

    def __init__(self, tmpdir: str | os.PathLike | None) -> None:
        self._own_dir = tmpdir is None
        self.dir = Path(
            tempfile.mkdtemp(prefix=f"brokerlab-{self.name}-") if tmpdir is None else tmpdir
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._log_file: Any = None

    @property
    def pid(self) -> int | None:
        """The process id of the running server (its process group), or None."""
        return None if self.proc is None or self.proc.poll() is not None else self.proc.pid

    @property
    def running(self) -> bool:
        return self.pid is not None

    def _popen(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in _closed()
        return subprocess.Popen(
            argv,
            env=env,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one
            preexec_fn=_die_with_parent,
        )

    def _closed(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def start(self) -> _Server:  # pragma: no cover - abstract
        raise NotImplementedError

    def kill(self) -> None:
        """SIGKILL: the server dies at once, as in a power cut of its process."""
        _kill_process(self.proc)
        self._closed()

    def restart(self, timeout: float = BOOT_TIMEOUT) -> _Server:
        """Start it again (after :meth:`kill` or :meth:`stop_process`), same data, same ports."""
        if self.running:
            self.kill()
        return self.start(timeout)  # type: ignore[call-arg]

    def stop_process(self) -> None:
        """Shut the server down cleanly, keeping its data directory."""
        _stop_process(self.proc)
        self._closed()

    def stop(self) -> None:
        """Shut the server down and delete its temporary directory."""
        self.stop_process()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "not running"
        return f"{type(self).__name__}({self.url}, {state})"

    @property
    def url(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


# --- Redis ---------------------------------------------------------------------------------------


class RedisServer(_Server):
    """A ``redis-server`` on 127.0.0.1, with no persistence (``save ""``, no AOF) unless asked.

    ``appendonly=True`` turns the append-only file on (``appendfsync everysec``, Redis's
    default), for experiments on what survives a SIGKILL.
    """

    name = "redis"

    def __init__(self, tmpdir: str | os.PathLike | None = None, *, appendonly: bool = False):
        super().__init__(tmpdir)
        self.appendonly = appendonly

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self, timeout: float = BOOT_TIMEOUT) -> RedisServer:
        """Start the server and wait until it answers PING."""
        argv = [
            _require("redis-server"),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        log = self.dir / "redis.log"
        self.proc = self._popen(argv, dict(os.environ), log)
        _wait(self._answers, self.proc, "redis-server", log, timeout)
        return self


def start_redis(
    tmpdir: str | os.PathLike | None = None, *, appendonly: bool = False
) -> RedisServer:
    """Start a Redis server on 127.0.0.1 and a free port; returns it once it answers."""
    return RedisServer(tmpdir, appendonly=appendonly).start()


# --- RabbitMQ ------------------------------------------------------------------------------------


class _Epmd:
    """Erlang's port mapper, on a free port of its own, for this module's nodes only."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.log = folder / "epmd.log"
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [_program("epmd") or "epmd", "-port", str(self.port),
             "-address", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )  # fmt: skip

        def answers() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False

        _wait(answers, self.proc, "epmd", self.log, 20)

    def stop(self) -> None:
        _kill_process(self.proc)
        self._log_file.close()


def _write_cookie(home: Path, cookie: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    path = home / ".erlang.cookie"
    if not path.exists():
        path.write_text(cookie)
        path.chmod(0o400)


class RabbitMQServer(_Server):
    """One RabbitMQ node on 127.0.0.1 (see the module docstring for how it is started).

    ``.url`` is ``amqp://guest:guest@127.0.0.1:<port>/%2F`` (the guest user may log in from
    loopback only, which is all this server listens on); ``.node`` is the Erlang node name.
    """

    name = "rabbitmq"

    def __init__(
        self,
        tmpdir: str | os.PathLike | None = None,
        *,
        node: str = "brokerlab1@localhost",
        epmd: _Epmd | None = None,
        home: Path | None = None,
        config: str = "",
    ) -> None:
        super().__init__(tmpdir)
        self.node = node
        self.dist_port = free_port()
        self._own_epmd = epmd is None
        self._epmd = epmd
        self.home = home or self.dir / "home"
        _write_cookie(self.home, "BROKERLABCOOKIE")
        self.config = config
        self.log = self.dir / "console.log"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/%2F"

    @property
    def epmd_port(self) -> int | None:
        return None if self._epmd is None else self._epmd.port

    def env(self) -> dict[str, str]:
        """The environment every rabbitmq script (server, rabbitmqctl) needs for this node."""
        env = dict(os.environ)
        env.update(
            HOME=str(self.home),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS=self.host,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.dir / "log"),
            RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(self.dir / "rabbitmq.pid"),
            # one scheduler thread, few async threads: a small node on a small machine; and
            # the inter-node (distribution) listener on loopback only
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=(
                "-noinput +S 1:1 +A 4 +sbwt none +sbwtdcpu none +sbwtdio none "
                "-kernel inet_dist_use_interface {127,0,0,1}"
            ),
            ERL_EPMD_ADDRESS="127.0.0.1",
            # the script then execs erl in place (no wrapper shell in between), so the node is
            # the process started here, and dies with its parent (see _die_with_parent)
            RABBITMQ_ALLOW_INPUT="1",
        )
        if self._epmd is not None:
            env["ERL_EPMD_PORT"] = str(self._epmd.port)
        return env

    def _write_config(self) -> None:
        (self.dir / "enabled_plugins").write_text("[].\n")
        conf = [
            f"listeners.tcp.1 = {self.host}:{self.port}",
            "loopback_users.guest = true",
            "log.console = false",
            "log.file.level = warning",
            self.config,
        ]
        (self.dir / "rabbitmq.conf").write_text("\n".join(c for c in conf if c) + "\n")

    def _answers(self) -> bool:
        """True when the AMQP listener answers the protocol header with Connection.Start."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.sendall(_AMQP_HEADER)
                return s.recv(1)[:1] == b"\x01"  # a METHOD frame
        except OSError:
            return False

    def start(self, timeout: float = BOOT_TIMEOUT) -> RabbitMQServer:
        """Start the node and wait until its AMQP listener answers."""
        self.launch()
        self.wait(timeout)
        return self

    def launch(self) -> None:
        """Start the node without waiting (see :meth:`wait`): nodes of a cluster boot at once."""
        program = _require("rabbitmq-server")
        if self._epmd is None:
            self._epmd = _Epmd(self.dir)
        self._write_config()
        self.proc = self._popen([program], self.env(), self.log)

    def wait(self, timeout: float = BOOT_TIMEOUT) -> None:
        _wait(self._answers, self.proc, f"rabbitmq-server ({self.node})", self.log, timeout)  # type: ignore[arg-type]

    def ctl(self, *args: str, tool: str = "rabbitmqctl", timeout: float = 60) -> str:
        """Run ``rabbitmqctl`` (or another tool: ``rabbitmq-queues``...) against this node."""
        argv = [str(RABBITMQ_BIN / tool), "-n", self.node, *args]
        done = subprocess.run(
            argv, env=self.env(), capture_output=True, text=True, timeout=timeout, cwd=self.dir
        )
        if done.returncode != 0:
            raise ServerError(
                f"{tool} {' '.join(args)} failed on {self.node} (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-800:]}"
            )
        return done.stdout

    def stop(self) -> None:
        super().stop_process()
        if self._own_epmd and self._epmd is not None:
            self._epmd.stop()
            self._epmd = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def start_rabbitmq(tmpdir: str | os.PathLike | None = None, **options: Any) -> RabbitMQServer:
    """Start one RabbitMQ node on 127.0.0.1 and free ports; returns it once AMQP answers.

    ``config=`` adds lines to its ``rabbitmq.conf``.
    """
    server = RabbitMQServer(tmpdir, **options)
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


class RabbitMQCluster:
    """``nodes`` RabbitMQ nodes on loopback, joined into one cluster.

    ``.nodes`` are :class:`RabbitMQServer` objects (node names ``brokerlab1@localhost``...);
    ``.kill(i)`` SIGKILLs node ``i``, ``.restart(i)`` brings it back (it rejoins the cluster
    on its own: its data directory remembers it), ``.stop()`` stops them all.
    """

    def __init__(self, nodes: int = 3, tmpdir: str | os.PathLike | None = None) -> None:
        if not isinstance(nodes, int) or isinstance(nodes, bool) or not 1 <= nodes <= 7:
            raise ServerError(f"nodes={nodes!r}: a cluster here has 1 to 7 nodes, e.g. nodes=3.")
        self._own_dir = tmpdir is None
        self.dir = Path(tempfile.mkdtemp(prefix="brokerlab-cluster-") if tmpdir is None else tmpdir)
        self._epmd = _Epmd(self.dir)
        home = self.dir / "home"
        self.nodes = [
            RabbitMQServer(
                self.dir / f"node{i}", node=f"brokerlab{i}@localhost", epmd=self._epmd, home=home
            )
            for i in range(1, nodes + 1)
        ]

    def start(self, timeout: float = BOOT_TIMEOUT) -> RabbitMQCluster:
        for n in self.nodes:
            n.launch()
        for n in self.nodes:
            n.wait(timeout)
        for n in self.nodes[1:]:
            self._join(n)
            n.wait(timeout)
        return self

    def _join(self, n: RabbitMQServer) -> None:
        """Join node ``n`` to the first node's cluster, one node at a time.

        Nodes join one after the other, never together: two nodes changing the cluster's
        Mnesia schema at once can fail (seen here: ``start_app`` ended in ``{mnesia_app,
        start}`` on RabbitMQ 3.10), which is why RabbitMQ's peer discovery takes a lock or a
        randomised delay before a node joins (rabbitmq-server PR #3075). A join that fails
        anyway is tried once more from a reset node.
        """
        first = self.nodes[0].node
        for attempt in (1, 2):
            try:
                n.ctl("stop_app")
                if attempt == 2:
                    n.ctl("reset")
                n.ctl("join_cluster", first)
                n.ctl("start_app")
                return
            except ServerError:
                if attempt == 2:
                    raise

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def kill(self, i: int) -> None:
        """SIGKILL node ``i`` (0-based)."""
        self.nodes[i].kill()

    def restart(self, i: int, timeout: float = BOOT_TIMEOUT) -> RabbitMQServer:
        """Start node ``i`` again; it comes back as a member of the cluster."""
        return self.nodes[i].restart(timeout)

    def running(self) -> list[int]:
        return [i for i, n in enumerate(self.nodes) if n.running]

    def leader(self, queue: str, vhost: str = "/") -> int:
        """The index of the node that leads the quorum queue ``queue``.

        Asked of a running node with ``rabbitmq-queues quorum_status``, whose table marks the
        leader's row ``leader``.
        """
        node = self.nodes[self.running()[0]]
        # rabbitmq-queues starts an Erlang VM of its own: a second or two
        out = node.ctl(
            "quorum_status", queue, "--vhost", vhost, "--formatter", "json", tool="rabbitmq-queues"
        )
        import json

        for row in json.loads(out):
            state = str(row.get("Raft State", row.get("raft_state", "")))
            if state == "leader":
                name = row.get("Node Name", row.get("node"))
                for i, n in enumerate(self.nodes):
                    if n.node == name:
                        return i
        raise ServerError(f"no node leads quorum queue {queue!r} right now: {out.strip()[:300]}")

    def stop(self) -> None:
        for n in self.nodes:
            n.stop_process()
        self._epmd.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RabbitMQCluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        up = ", ".join(f"{n.node}:{n.port}{'' if n.running else ' (down)'}" for n in self.nodes)
        return f"RabbitMQCluster({up})"


def start_rabbitmq_cluster(
    nodes: int = 3, tmpdir: str | os.PathLike | None = None
) -> RabbitMQCluster:
    """Start ``nodes`` RabbitMQ nodes on loopback and join them into one cluster."""
    cluster = RabbitMQCluster(nodes, tmpdir)
    try:
        return cluster.start()
    except BaseException:
        cluster.stop()
        raise


_STARTERS = {
    "rabbitmq": ("rabbitmq-server", start_rabbitmq),
    "redis": ("redis-server", start_redis),
    "cluster": ("rabbitmq-server", start_rabbitmq_cluster),
}


def try_start(what: str, **options: Any) -> Any:
    """Start ``"rabbitmq"``, ``"redis"`` or ``"cluster"`` (3 RabbitMQ nodes); on failure
    print one line saying why (and how to install it) and return None, so a notebook goes on
    without it."""
    if what not in _STARTERS:
        raise ServerError(f"what={what!r}: pass 'rabbitmq', 'redis' or 'cluster'.")
    program, start = _STARTERS[what]
    install = missing(program)
    if install is not None:
        print(f"{what}: not started, {program} is not installed here ({install}).")
        return None
    try:
        return start(**options)
    except Exception as exc:  # noqa: BLE001 - said in one line; the notebook carries on
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{what}: could not start ({first}).")
        return None


def stop(*servers: Any) -> None:
    """Stop every server or cluster given (None is skipped)."""
    for s in servers:
        if s is not None:
            s.stop()
