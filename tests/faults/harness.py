"""The cluster under test: three redis-servers with AOF (`appendfsync always`, so a SIGKILL
loses nothing they acknowledged), a fault-proxy route in front of each, and `leaderless proxy`
processes that reach the backends only through those routes. Anti-entropy and the final
checks talk to the backends directly.

Every process is started from the thread that calls these methods, which must be the test's
main thread: a redis-server is killed by the kernel when the thread that forked it ends (see
proxy/app/local_nodes.py), so the nemesis runs there and the workload on other threads.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.anti_entropy.support import contents, run_once
from tests.integration.conftest import TIMEOUT_MS, ProxyProcess
from tests.support.fault_proxy import Route
from tests.support.processes import wait_for

AOF = ("--appendonly", "yes", "--appendfsync", "always")
RECOVERY_TIMEOUT_S = 20.0
FINAL_READ_BATCH = 100


@dataclass
class FaultCluster:
    nodes: list[LocalRedisNode]
    routes: list[Route]
    proxies: list[ProxyProcess] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)
    paused: set[int] = field(default_factory=set)

    def start_proxies(self, count: int) -> None:
        for index in range(count):
            self.proxies.append(self._proxy_process(index, "127.0.0.1:0"))

    def _proxy_process(self, index: int, listen: str) -> ProxyProcess:
        args = ["--listen", listen, "--n", str(len(self.nodes)), "--w", "2", "--r", "2"]
        args += ["--timeout-ms", str(TIMEOUT_MS), "--proxy-id", str(index + 1)]
        for route in self.routes:
            args += ["--node", route.url]
        proxy = ProxyProcess(args)
        proxy.start()
        return proxy

    @property
    def ports(self) -> list[int]:
        return [proxy.port for proxy in self.proxies]

    def kill_proxy(self, index: int) -> None:
        process = self.proxies[index].process
        process.kill()
        process.wait()

    def restart_proxy(self, index: int) -> None:
        """Start a killed proxy again on the same port."""
        old = self.proxies[index]
        self.proxies[index] = self._proxy_process(index, f"127.0.0.1:{old.port}")

    def kill_node(self, index: int) -> None:
        self.nodes[index].kill()
        self.killed.add(index)

    def restart_node(self, index: int, *, wipe: bool) -> None:
        self.nodes[index].restart(wipe=wipe)
        self.killed.discard(index)

    def pause_node(self, index: int) -> None:
        self.nodes[index].pause()
        self.paused.add(index)

    def resume_node(self, index: int) -> None:
        self.nodes[index].resume()
        self.paused.discard(index)

    def heal(self) -> None:
        """Remove every fault: routes forward again, nodes and proxies run again."""
        for route in self.routes:
            route.heal()
        for index in sorted(self.paused):
            self.resume_node(index)
        for index in sorted(self.killed):
            self.restart_node(index, wipe=False)
        for index, proxy in enumerate(self.proxies):
            if proxy.process.poll() is not None:
                self.restart_proxy(index)

    def all_replicas_up(self) -> bool:
        """Every proxy has a working connection to every backend."""
        for proxy in self.proxies:
            try:
                with proxy.client() as client:
                    info = client.info("leaderless")
            except redis.RedisError:
                return False
            states = [info[f"node{i}"] for i in range(len(self.nodes))]
            if not all(state.get("state") == "up" for state in states):
                return False
        return True

    def replica_states(self) -> list[object]:
        """Each proxy's view of the backends, for a report (an error text if it is down)."""
        views: list[object] = []
        for proxy in self.proxies:
            try:
                with proxy.client() as client:
                    info = client.info("leaderless")
                views.append([info[f"node{i}"] for i in range(len(self.nodes))])
            except redis.RedisError as error:
                views.append(str(error))
        return views

    def wait_recovered(self) -> bool:
        return wait_for(self.all_replicas_up, RECOVERY_TIMEOUT_S)

    def anti_entropy(self) -> subprocess.CompletedProcess[str]:
        """One `leaderless anti-entropy --once` round against the backends themselves."""
        return run_once(self.nodes)

    def replica_contents(self) -> list[dict[bytes, bytes]]:
        held = []
        for node in self.nodes:
            with node.client() as client:
                held.append(contents(client))
        return held

    def read_all(self, keys: list[str]) -> dict[str, bytes | None]:
        """Quorum reads of every key through the first proxy, retried until they all succeed
        or RECOVERY_TIMEOUT_S passes (a replica refilled by anti-entropy may take the proxy a
        moment to count toward reads again); the last error is raised then."""
        found: dict[str, bytes | None] = {}
        failure: list[redis.RedisError] = []

        def read_rest() -> bool:
            try:
                with self.proxies[0].client() as client:
                    for start in range(len(found), len(keys), FINAL_READ_BATCH):
                        batch = keys[start : start + FINAL_READ_BATCH]
                        found.update(zip(batch, client.mget(batch), strict=True))
            except redis.RedisError as error:
                failure[:] = [error]
                return False
            return True

        if not wait_for(read_rest, RECOVERY_TIMEOUT_S):
            raise failure[0]
        return found

    def output_tail(self, lines: int = 15) -> str:
        tails = []
        for index, proxy in enumerate(self.proxies):
            text = proxy.output.text().splitlines()[-lines:]
            tails.append(f"proxy {index} (port {proxy.port}):\n    " + "\n    ".join(text))
        return "\n".join(tails)

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.stop()
