"""Network namespaces, veth links and netem delays (iproute2's `ip` and `tc`), each recorded in
the registry before it exists so that a harness killed hard leaves nothing the next start
cannot remove (`bench.load.leftovers`).

Links are created with both ends already inside their namespaces and their qdiscs live on
those ends: removing the namespaces removes the links and the qdiscs with them, and nothing is
ever added to the harness's own namespace. No namespace gets a default route: traffic only
reaches the addresses of the links the harness made.

`entered(name)` moves the calling thread (only it: Linux keeps a network namespace per thread)
into a namespace for the duration of a block: a process forked there, or a socket created
there, belongs to it for good.
"""

import contextlib
import ctypes
import os
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from bench.errors import BenchError
from bench.load import registry
from bench.plan.topology import NAMESPACE_PREFIX, Link, Namespace, Topology

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
IP_TIMEOUT_S = 10.0
RTT_PROBES = 21  # TCP handshakes timed per link; the median is the link's round trip
_libc = ctypes.CDLL(None, use_errno=True)


def missing() -> str | None:
    """Why namespaces cannot be made here (not root, no `ip` or `tc`), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (net = namespaces); run as root or use net = loopback"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return (
                f"`{tool}` is not on PATH (net = namespaces needs iproute2): "
                "apt-get install iproute2, or use net = loopback"
            )
    return None


def netem_missing() -> str | None:
    """Why an added round trip cannot be made here (this kernel has no netem qdisc), or None:
    tried on a throwaway namespace's loopback device."""
    name = f"{NAMESPACE_PREFIX}{os.getpid()}-probe"
    with made(name):
        _run("ip", "-n", name, "link", "set", "lo", "up")
        try:
            _run("tc", "-n", name, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms")
        except BenchError:
            return (
                "this kernel has no netem qdisc (tc: unknown qdisc kind): an added round trip "
                "needs CONFIG_NET_SCH_NETEM (modprobe sch_netem)"
            )
    return None


def _run(*cmd: str) -> str:
    """Run an `ip` or `tc` command; a failure is a BenchError with its message."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{' '.join(cmd)}: {exc}") from None
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def exists(name: str) -> bool:
    """Whether namespace `name` exists."""
    return (NETNS_DIR / name).exists()


def add(name: str) -> None:
    """Make namespace `name` (recorded first), its loopback up."""
    if not name.startswith(NAMESPACE_PREFIX):
        raise BenchError(f"namespace {name!r}: the harness makes only {NAMESPACE_PREFIX}* ones")
    registry.add_netns(name)
    _run("ip", "netns", "add", name)
    _run("ip", "-n", name, "link", "set", "lo", "up")


def delete(name: str) -> bool:
    """Remove namespace `name` (with its links and qdiscs) if it exists; forget it."""
    found = exists(name)
    if found:
        _run("ip", "netns", "delete", name)
    registry.remove_netns(name)
    return found


@contextlib.contextmanager
def made(*names: str) -> Iterator[None]:
    """Namespaces that exist for the block, removed after it however it ends."""
    try:
        for name in names:
            add(name)
        yield
    finally:
        for name in reversed(names):
            with contextlib.suppress(BenchError):
                delete(name)


def connect(link: Link) -> None:
    """Create the veth pair of `link`, its ends already in their namespaces, addressed and up."""
    a, b = _end(link, link.a), _end(link, link.b)
    _run("ip", "link", "add", a, "netns", link.a.name, "type", "veth",
         "peer", "name", b, "netns", link.b.name)  # fmt: skip
    for end, place in ((a, link.a), (b, link.b)):
        _run("ip", "-n", place.name, "addr", "add", f"{place.address}/30", "dev", end)
        _run("ip", "-n", place.name, "link", "set", end, "up")


def _end(link: Link, place: Namespace) -> str:
    """The name of `link`'s end in `place`: the link and the role at the other end."""
    other = link.b if place is link.a else link.a
    return f"{link.name}-{other.name.rsplit('-', 1)[1]}"[:15]


def delay(link: Link) -> None:
    """Set `link`'s added round trip: netem with half of it on each end, none at zero."""
    for place in (link.a, link.b):
        dev = _end(link, place)
        if link.rtt_ms > 0:
            netem = ["netem", "delay", f"{link.one_way_ms * 1000:.0f}us", "limit", "100000"]
            _run("tc", "-n", place.name, "qdisc", "replace", "dev", dev, "root", *netem)
        elif "netem" in _run("tc", "-n", place.name, "qdisc", "show", "dev", dev):
            _run("tc", "-n", place.name, "qdisc", "del", "dev", dev, "root")


def default_route(name: str) -> str:
    """The default route of namespace `name` as `ip route` prints it ("" when there is none)."""
    return _run("ip", "-n", name, "route", "show", "default").strip()


@contextlib.contextmanager
def built(topology: Topology) -> Iterator[Topology]:
    """The topology's namespaces and links, for the block; removed after it however it ends."""
    names = list(dict.fromkeys(p.name for p in topology.namespaces))
    with made(*names):
        for link in topology.links:
            connect(link)
        for name in names:
            if route := default_route(name):
                raise BenchError(f"namespace {name} has a default route ({route}); refusing")
        yield topology


@contextlib.contextmanager
def entered(name: str | None) -> Iterator[None]:
    """The calling thread inside namespace `name` for the block (None: stay where it is)."""
    if name is None:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(str(NETNS_DIR / name))
        try:
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the harness's namespace")
    finally:
        os.close(home)


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path})")
    finally:
        os.close(fd)


def round_trip_ms(link: Link, probes: int = RTT_PROBES) -> float:
    """The link's round trip as measured from inside: the median time of `probes` TCP
    handshakes from its `a` end to a listener on its `b` end (the kernel answers a SYN
    itself: no program's time is in it)."""
    with entered(link.b.name):
        listener = socket.create_server((link.b.address, 0), backlog=probes)
    times = []
    with listener:
        port = listener.getsockname()[1]
        for _ in range(probes):
            with entered(link.a.name):
                client = socket.socket()
            with client:
                client.settimeout(5.0)
                start = time.perf_counter()
                client.connect((link.b.address, port))
                times.append(time.perf_counter() - start)
            accepted, _ = listener.accept()
            accepted.close()
    return statistics.median(times) * 1000
