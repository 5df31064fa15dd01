"""A lab of hosts on one machine: network namespaces (`ip netns`) joined by veth pairs to a bridge.

Each host is a namespace with one interface, `eth0`, on a private /24 the lab picks among 10.231.x.0/24 (one
not in use on this machine); the bridge lives in the root namespace with the subnet's .1, which is where the
test itself (the people's browsers and the LLM endpoint) sits. No host gets a default route and nothing is
NATed or forwarded: a host reaches the lab's addresses and nothing else. `Lab` is a context manager: on exit —
also after a failure or Ctrl+C — it stops every process it started (its process group, SIGINT then SIGKILL),
deletes the namespaces (which deletes their veth ends and so the bridge ports) and the bridge. What a test
run killed outright (SIGKILL, no trap runs) left behind is removed by the next lab: names carry the pid of the
process that built them, and a lab whose process is gone is stopped and deleted.

Needs root and iproute2. Run by tests/multihost/test_multihost.py; usable from a shell for a look around:
`.venv/bin/python -m tests.multihost.lab` builds two hosts, pings between them and tears down.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

STOP_GRACE_S = 15.0


class LabError(RuntimeError):
    """The lab could not be built (no root, no iproute2, no free subnet) or a host command failed."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def netns_problem() -> str:
    """Why this machine cannot build a lab ('' when it can): not root, no iproute2, or `ip netns` refused."""
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("ip"):
        return "no `ip` (iproute2)"
    probe = f"t2jprobe{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` refused: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return ""


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.231.x.0/24 that overlaps no address or route of this machine (another lab's included)."""
    used = []
    for line in ip("-o", "-4", "addr").stdout.splitlines() + ip("-4", "route").stdout.splitlines():
        for word in line.split():
            try:
                used.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                continue
    start = os.getpid() % 200
    for offset in range(250):
        candidate = ipaddress.ip_network(f"10.231.{(start + offset) % 250 + 1}.0/24")
        if not any(candidate.overlaps(net) for net in used if net.prefixlen > 0):
            return candidate
    raise LabError("no free 10.231.x.0/24 subnet")


def _remove_stale_labs() -> None:
    """Stop the processes in, and delete, the namespaces and bridges of labs whose building process is gone."""
    for line in ip("netns", "list").stdout.splitlines():
        netns = line.split()[0]
        found = re.fullmatch(r"t2j(\d+)-[\w-]+", netns)
        if found and not _alive(int(found.group(1))):
            for pid in ip("netns", "pids", netns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            ip("netns", "del", netns, check=False)
    for bridge in re.findall(r"^\d+: (t2j(\d+)br):", ip("-o", "link").stdout, re.M):
        if not _alive(int(bridge[1])):
            ip("link", "del", bridge[0], check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Host:
    name: str  # its role in the lab: db, web, worker-a, ...
    netns: str
    address: str


@dataclass
class Lab:
    """Hosts on a bridge; processes started in them. Use as `with Lab() as lab:`."""

    tag: str = field(default_factory=lambda: f"t2j{os.getpid()}")
    hosts: dict[str, Host] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)
    subnet: ipaddress.IPv4Network | None = None

    @property
    def bridge(self) -> str:
        return f"{self.tag}br"[:15]

    @property
    def gateway(self) -> str:
        """The root namespace's address on the bridge: where the test (and its LLM endpoint) is reached."""
        return str(self.subnet.network_address + 1)

    def __enter__(self) -> Lab:
        problem = netns_problem()
        if problem:
            raise LabError(f"cannot build a network namespace lab: {problem}")
        _remove_stale_labs()
        try:
            self.subnet = _free_subnet()
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def add_host(self, name: str) -> Host:
        index = len(self.hosts)
        netns, outside = f"{self.tag}-{name}", f"{self.tag}v{index}"[:15]
        address = str(self.subnet.network_address + 10 + index)
        ip("netns", "add", netns)
        host = self.hosts[name] = Host(name, netns, address)  # from here on, close() removes it
        ip("link", "add", outside, "type", "veth", "peer", "name", f"{outside}p")
        ip("link", "set", f"{outside}p", "netns", netns)
        ip("link", "set", outside, "master", self.bridge, "up")
        ip("-n", netns, "link", "set", f"{outside}p", "name", "eth0")
        ip("-n", netns, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        ip("-n", netns, "link", "set", "lo", "up")
        return host

    def routes(self, name: str) -> list[str]:
        return ip("-n", self.hosts[name].netns, "route", "show", "table", "all").stdout.splitlines()

    def spawn(self, name: str, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
        """Start `argv` in host `name` (its own process group, output to `log`); stopped when the lab closes."""
        with open(log, "ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.hosts[name].netns, *argv],  # ip execs argv: the pid is the program's
                env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def run(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, timeout_s: float = 300) -> str:
        """Run `argv` in host `name` to its end; its output. Raises LabError when it fails."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.hosts[name].netns, *argv],
            env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
        if done.returncode != 0:
            raise LabError(f"{' '.join(argv)} on {name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def close(self) -> None:
        """Stop the processes, remove the namespaces and the bridge; never raises, tries everything."""
        for process in self.processes:
            _stop(process)
        for host in self.hosts.values():
            ip("netns", "del", host.netns, check=False)
        self.hosts.clear()
        ip("link", "del", self.bridge, check=False)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGINT)  # a clean stop: gunicorn, the workers, postgres, the runner's pools
        process.wait(timeout=STOP_GRACE_S)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # what is left of its group (gunicorn's workers, sandboxes)
    except ProcessLookupError:
        pass
    process.wait(timeout=STOP_GRACE_S)


if __name__ == "__main__":
    import sys

    with Lab() as lab:
        a, b = lab.add_host("a"), lab.add_host("b")
        env, here = {"PATH": os.environ["PATH"]}, Path.cwd()
        server = lab.spawn("b", [sys.executable, "-m", "http.server", "--bind", b.address, "8080"], env=env,
                           log=Path(os.devnull), cwd=here)  # fmt: skip
        time.sleep(1)
        fetch = f"import urllib.request; print(urllib.request.urlopen('http://{b.address}:8080/').status)"
        print("a fetches from b:", lab.run("a", [sys.executable, "-c", fetch], env=env, cwd=here).strip())
        print("routes of a:", lab.routes("a"))
    print("namespaces left:", [line for line in ip("netns", "list").stdout.splitlines() if lab.tag in line])
