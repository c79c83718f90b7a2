"""A real Milvus standalone server for the tests, shut in a loopback-only network namespace.

The server (the `milvus` package's `milvus-server`) listens on every interface, so it runs under
`unshare --net --pid`: its own network with only `lo` up, its own process tree. Its 127.0.0.1 is
not the host's, so a small forwarder process listens on the host's 127.0.0.1 and carries each
connection into the server's namespace: it opens its listening sockets first, then joins the
namespace (sockets keep the namespace they were made in), and new outgoing connections are made
there. Stopping kills both process groups: SIGTERM, then SIGKILL.

Run by hand: `python -m tests.milvus_server DIR` serves until Ctrl+C and prints its address.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

GRPC_PORT = 19530
HEALTH_PORT = 9091
# Shutdown hangs once a collection is loaded unless the graceful stop is bounded; a short etcd
# session lets a restarted server take over at once instead of waiting for the old one to expire.
# The query coordinator checks loads and pulls the nodes' state every 100 ms instead of every
# 1000/500 ms, and the proxy ticks every 50 ms instead of 200: a new collection serves, and a
# restarted server's collections serve again, seconds sooner, and a Strong read (or one that
# waits for a generation's timestamp) waits a quarter as long. Nothing else changes.
EXTRA_CONFIG = {
    "common.gracefulStopTimeout": "3",
    "common.session.ttl": "5",
    "queryCoord.checkInterval": "100",
    "queryCoord.distPullInterval": "100",
    "proxy.timeTickInterval": "50",
}


# `ip link set lo up`, as a Python one-liner: ioctl SIOCSIFFLAGS with IFF_UP.
_LOOPBACK_UP = (
    "import fcntl, socket, struct; "
    "fcntl.ioctl(socket.socket(), 0x8914, struct.pack('16sH22x', b'lo', 1))"
)


class MilvusServer:
    """One milvus-server on a data folder, reachable at 127.0.0.1:port through a forwarder."""

    def __init__(self, data: Path, port: int = 0, binaries: Path | None = None):
        """binaries: the bin folder of another server's data, whose programs (unpacked from the
        package's .lzma files on a first start, seconds of work) are linked instead."""
        self.data = Path(data)
        self.binaries = binaries
        self.port = port  # 0: any free port, chosen when started
        self.health_port = 0
        self.server: subprocess.Popen | None = None
        self.forwarder: subprocess.Popen | None = None
        self.log = self.data / "server.log"

    @property
    def url(self) -> str:
        """The store setting that reaches this server."""
        return f"milvus://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60, wait: bool = True) -> None:
        """Start the server and its forwarder; raise when it is not serving within timeout.
        With wait=False return once the forwarder is up; wait_ready then waits for the server
        (other work can be done while it starts)."""
        # The one installed beside this Python (the virtualenv's), else the one on PATH.
        executable = Path(sys.executable).with_name("milvus-server")
        if not executable.is_file():
            executable = Path(shutil.which("milvus-server") or "milvus-server")
        assert executable.is_file(), "milvus-server is missing: pip install milvus==2.3.5"
        assert shutil.which("unshare"), "unshare (util-linux) is needed"
        self.data.mkdir(parents=True, exist_ok=True)
        unpacked = self.data / "milvus" / "bin"
        if self.binaries is not None and not unpacked.exists():
            # With their .md5 files beside them, milvus-server finds them unpacked already.
            shutil.copytree(self.binaries, unpacked, copy_function=os.link)
        extra = " ".join(f"--extra-config {k}={v}" for k, v in EXTRA_CONFIG.items())
        # Inside the new namespace: bring lo up (without needing iproute2), then become the server.
        script = (
            f"{shlex.quote(sys.executable)} -c {shlex.quote(_LOOPBACK_UP)} && "
            f"exec {shlex.quote(str(executable))} --data {shlex.quote(str(self.data / 'milvus'))} "
            f"{extra}"
        )
        user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
        with open(self.log, "ab") as log:
            self.server = subprocess.Popen(
                ["unshare", *user, "--net", "--pid", "--fork", "--kill-child", "sh", "-c", script],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            self._start_forwarder()
        except BaseException:
            self.stop()
            raise
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait for a started server to serve; stop it and raise when it does not in time."""
        try:
            self._wait(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise

    def _start_forwarder(self) -> None:
        # The namespace exists once unshare has made it; its /proc entry says so.
        deadline = time.monotonic() + 10
        own = os.readlink("/proc/self/ns/net")
        while os.readlink(f"/proc/{self.server.pid}/ns/net") == own:
            assert self.server.poll() is None, f"unshare failed: {self._log_tail()}"
            assert time.monotonic() < deadline, "unshare made no network namespace"
            time.sleep(0.01)
        self.forwarder = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.milvus_server",
                "--forward",
                str(self.server.pid),
                str(self.port),
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[1],
            start_new_session=True,
        )
        line = self.forwarder.stdout.readline().decode().split()
        assert len(line) == 2, "the forwarder did not start"
        self.port, self.health_port = int(line[0]), int(line[1])

    def _wait(self, deadline: float) -> None:
        """Wait for /healthz to say OK and the gRPC port to accept, both before the deadline."""
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(f"milvus-server exited early: {self._log_tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as reply:
                if b"OK" in reply.read():
                    with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                        return
            if time.monotonic() > deadline:
                raise TimeoutError(f"milvus-server was not ready in time: {self._log_tail()}")
            time.sleep(0.2)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return "(no log)"

    def _children(self, pid: int) -> list[int]:
        with contextlib.suppress(OSError):
            return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return []

    def milvus_pid(self) -> int | None:
        """The Milvus process itself (a grandchild of unshare), as the host numbers it."""
        if self.server is None:
            return None
        for wrapper in self._children(self.server.pid):
            for child in self._children(wrapper):
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{child}/comm").read_text().strip() == "milvus":
                        return child
        return None

    def stop(self, graceful: bool = True) -> None:
        """Stop the server (Milvus first, so it may close cleanly) and the forwarder.

        The namespace's first process (milvus-server's wrapper) is stopped before unshare, so that
        unshare reaps it: killed the other way round, it would be left a zombie.
        """
        if self.server is not None:
            milvus = self.milvus_pid() if graceful else None
            if milvus is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(milvus, signal.SIGTERM)
                _wait_gone(milvus, 10)
            for wrapper in self._children(self.server.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(wrapper, signal.SIGKILL)  # its namespace's other processes go with it
            _kill_group(self.server)
            self.server = None
        if self.forwarder is not None:
            _kill_group(self.forwarder)
            self.forwarder.stdout.close()
            self.forwarder = None

    def restart(self, timeout: float = 60) -> None:
        """Stop and start again on the same data and the same port."""
        self.stop()
        self.start(timeout)

    def __enter__(self) -> MilvusServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _wait_gone(pid: int, seconds: float) -> None:
    """Wait until pid has exited (gone, or a zombie its parent has not reaped yet)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)


def _kill_group(process: subprocess.Popen) -> None:
    """SIGTERM the process's group, SIGKILL it if it has not gone in five seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # What the group still holds (a child that outlived its parent) goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def forward(namespace_pid: int, port: int) -> None:
    """Listen on the host's 127.0.0.1 (port, and any port for health), then carry connections
    to the same services on 127.0.0.1 inside the network namespace of namespace_pid."""
    listeners = {}
    for wanted, target in ((port, GRPC_PORT), (0, HEALTH_PORT)):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", wanted))
        listener.listen(64)
        listener.setblocking(False)
        listeners[listener] = target
    namespace = os.open(f"/proc/{namespace_pid}/ns/net", os.O_RDONLY)
    _setns(namespace)
    os.close(namespace)
    print(*(s.getsockname()[1] for s in listeners), flush=True)
    _relay(listeners)


def _setns(fd: int) -> None:
    """Join the network namespace open at fd (os.setns is Python 3.12+)."""
    if hasattr(os, "setns"):
        os.setns(fd, os.CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def _relay(listeners: dict[socket.socket, int]) -> None:
    """Carry bytes both ways between each accepted connection and its upstream, in one thread,
    until the parent process goes away."""
    parent = os.getppid()
    selector = selectors.DefaultSelector()
    for listener in listeners:
        selector.register(listener, selectors.EVENT_READ)
    peers: dict[socket.socket, socket.socket] = {}
    outgoing: dict[socket.socket, bytearray] = {}

    def watch(sock: socket.socket) -> None:
        # Read while the peer's backlog is small; write while there is something to write.
        events = selectors.EVENT_READ if len(outgoing[peers[sock]]) < 1 << 20 else 0
        events |= selectors.EVENT_WRITE if outgoing[sock] else 0
        registered = sock in selector.get_map()
        if events and registered:
            selector.modify(sock, events)
        elif events:
            selector.register(sock, events)
        elif registered:
            selector.unregister(sock)

    def drop(sock: socket.socket) -> None:
        other = peers.pop(sock, None)
        for one in (sock, other):
            if one is None:
                continue
            if one in selector.get_map():
                selector.unregister(one)
            peers.pop(one, None)
            outgoing.pop(one, None)
            one.close()

    while os.getppid() == parent:
        for key, events in selector.select(timeout=1):
            sock = key.fileobj
            if sock in listeners:
                with contextlib.suppress(BlockingIOError):
                    client, _ = sock.accept()
                    try:
                        upstream = socket.create_connection(("127.0.0.1", listeners[sock]), 5)
                    except OSError:
                        client.close()
                        continue
                    for one, other in ((client, upstream), (upstream, client)):
                        one.setblocking(False)
                        peers[one] = other
                        outgoing[one] = bytearray()
                    watch(client)
                    watch(upstream)
                continue
            if sock not in peers:
                continue  # dropped earlier in this round
            other = peers[sock]
            try:
                if events & selectors.EVENT_WRITE:
                    sent = sock.send(outgoing[sock])
                    del outgoing[sock][:sent]
                if events & selectors.EVENT_READ:
                    data = sock.recv(1 << 16)
                    if not data:
                        drop(sock)
                        continue
                    outgoing[other] += data
            except BlockingIOError:
                pass
            except OSError:
                drop(sock)
                continue
            watch(sock)
            watch(other)


def main() -> None:
    if sys.argv[1:2] == ["--forward"]:
        forward(int(sys.argv[2]), int(sys.argv[3]))
        return
    server = MilvusServer(Path(sys.argv[1]))
    server.start()
    # Blocked only now: the server's processes must not inherit a mask that ignores SIGTERM.
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)  # delivered to sigwait, not a handler
    print(f"serving at {server.url}; Ctrl+C stops it", flush=True)
    try:
        signal.sigwait(stops)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
