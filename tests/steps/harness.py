"""In-process step tests: a step's action or live check run with the real Context API, where the tools answer
from a script and the Kubernetes API is the lab's API server in this process (real HTTP on 127.0.0.1, no
controllers: the test decides what the cluster holds).

    world = World(tmp_path)                      # the example project, loopback addresses
    world.runner.answer("helm", "upgrade", stdout="Release ... has been upgraded")
    world.kube_objects(deployment(...), ...)     # what the cluster holds
    networking.deploy_cilium(world.ctx)
    assert world.runner.mutating_calls() == [...]; assert world.api_writes == [...]

Like k0sctl's mock runner (commands in, scripted outputs out) and pyinfra's operation tests (facts in, commands
out, nothing done twice): a test of a step says which commands it runs on a fresh cluster and that it runs none
that change anything on a converged one."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from hops.context import Context
from hops.errors import ToolFailed
from hops.lab.apiserver import ApiServer, Store
from hops.runlog import RunLog
from hops.runner import Result
from tests.projects import REPO, write_config

TOKEN = "step-test-token"
READ_ONLY_VERBS = {  # subcommands that only read (anything else counts as mutating)
    "talosctl": {"version", "etcd members", "get", "validate", "health", "services", "dmesg", "logs"},
    "helm": {"status", "history", "list", "get", "version", "search", "show", "template"},
    "flux": {"check", "get", "logs", "version", "--version", "stats", "tree", "events", "export"},
    "cilium": {"status", "version", "connectivity"},
    "op": {"whoami", "read", "item get", "vault get", "document get", "--version", "account list", "item list"},
    "talhelper": {"--version", "validate"},
    "mise": {"--version", "ls", "current", "which"},
    "kubectl": {"version", "get"},
}


@dataclass
class Call:
    """One command a step ran through the fake runner."""

    tool: str
    args: list[str]
    input: str | None
    env: dict[str, str]
    result: Result | None = None  # what it answered (like ToolRunner.calls, which the diagnostics bundle reads)

    @property
    def argv(self) -> list[str]:
        return [self.tool, *self.args]

    @property
    def code(self) -> int:
        return self.result.code if self.result else 0

    @property
    def stderr(self) -> str:
        return self.result.stderr if self.result else ""

    @property
    def duration_s(self) -> float:
        return 0.0

    @property
    def line(self) -> str:
        """`tool arg arg …` (what a test compares)."""
        return " ".join([self.tool, *self.args])

    def mutating(self) -> bool:
        """False for the known read-only subcommands of each tool (READ_ONLY_VERBS)."""
        verbs = READ_ONLY_VERBS.get(self.tool, set())
        words = [a for a in self.args if not a.startswith("-")]
        first, two = (words[0] if words else ""), " ".join(words[:2])
        return not ({first, two, self.args[0] if self.args else ""} & verbs)


@dataclass
class Answer:
    prefix: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    times: int | None  # None: every matching call
    effect: "Callable[[Call], None] | None" = None  # what the tool would have done (e.g. write its files)


class FakeRunner:
    """Stands in for hops.runner.ToolRunner: scripted answers by (tool, leading args), every call recorded.
    A call nobody scripted fails the test (a step must not run commands its test does not expect)."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.calls: list[Call] = []
        self.missing: set[str] = set()
        self._lock = threading.Lock()  # steps call tools from several threads (hops.parallel)

    def answer(self, tool: str, *prefix: str, code: int = 0, stdout: str = "", stderr: str = "",
               times: int | None = None, effect: "Callable[[Call], None] | None" = None) -> "FakeRunner":
        """Calls of `tool` whose args start with `prefix` answer this (the last matching script wins; `times`
        limits how often it answers before older scripts apply again). `effect(call)` runs before the answer
        is returned: the tool's side effect the step relies on (a file it writes), which the fake cannot know."""
        self.answers.append(Answer((tool, *prefix), code, stdout, stderr, times, effect))
        return self

    def which(self, tool: str) -> str | None:
        return None if tool in self.missing else f"/usr/local/bin/{tool}"

    def require(self, tool: str) -> None:
        from hops.errors import ToolMissing

        if tool in self.missing:
            raise ToolMissing(f"`{tool}` is not installed or not on PATH")

    def run(self, tool: str, args: list[str], *, input: str | None = None, env: dict[str, str] | None = None,
            check: bool = True, **_: Any) -> Result:
        """Record the call and answer it from the script (ToolFailed for a non-zero answer with check)."""
        self.require(tool)
        call = Call(tool, list(args), input, dict(env or {}))
        with self._lock:  # the effect runs outside it: concurrent calls may overlap there
            self.calls.append(call)
            answer = self._match(tool, list(args))
        if answer.effect is not None:
            answer.effect(call)
        result = Result([tool, *args], answer.code, answer.stdout, answer.stderr, 0.0)
        call.result = result
        if check and answer.code != 0:
            raise ToolFailed(result.argv, answer.code, answer.stdout, answer.stderr)
        return result

    def retrying(self, tool: str, args: list[str], attempt: Any, *, secret_output: bool = False,
                 attempts: int = 3) -> Result:
        """ToolRunner.retrying's policy without its back-off: attempt() again while the failure is transient
        (hops.failures), at most `attempts` tries; returns the last Result."""
        from hops import failures

        for _ in range(attempts - 1):
            result = attempt()
            verdict = failures.classify(tool, args, result.code, "" if secret_output else result.stdout,
                                        result.stderr)
            if result.code == 0 or not verdict.transient:
                return result
        return attempt()

    def _match(self, tool: str, args: list[str]) -> Answer:
        for answer in reversed(self.answers):
            prefix = answer.prefix[1:]
            if answer.prefix[0] == tool and args[:len(prefix)] == list(prefix) and answer.times != 0:
                if answer.times is not None:
                    answer.times -= 1
                return answer
        raise AssertionError(f"unexpected command (no scripted answer): {tool} {' '.join(args)}")

    def lines(self) -> list[str]:
        """Every call as `tool args…`, in order."""
        return [c.line for c in self.calls]

    def mutating_calls(self) -> list[str]:
        """The calls that may change something (see READ_ONLY_VERBS)."""
        return [c.line for c in self.calls if c.mutating()]


@dataclass
class FakeEndpoints:
    """Stands in for hops.endpoints.Endpoints: generated files under the test's folder, every Talos API on a
    loopback port that refuses connections unless a test opens it."""

    root: Path
    kubeconfig: Path
    talosconfig: Path
    secrets_file: Path
    cluster_dir: Path
    api: tuple[str, int]
    talos_ports: dict[str, int] = field(default_factory=dict)
    lab: bool = False

    def talos_api(self, node_name: str) -> tuple[str, int]:
        return "127.0.0.1", self.talos_ports.get(node_name, 9)  # port 9 (discard): refused on loopback

    def kubernetes_api(self) -> tuple[str, int] | None:
        return self.api if self.kubeconfig.exists() else None

    def chart_repository(self, url: str) -> str:
        return url  # not lab mode: the HelmRepository's own URL, as for a real cluster

    @property
    def tool_env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin", "KUBECONFIG": str(self.kubeconfig), "TALOSCONFIG": str(self.talosconfig)}


class World:
    """One test's world: the example project (loopback addresses), a Context whose runner is a FakeRunner and
    whose Kubernetes API is an in-process lab API server, and a record of every API write."""

    def __init__(self, tmp: Path, env: dict[str, str] | None = None, timeouts: dict[str, int] | None = None) -> None:
        self.root = tmp / "project"
        write_config(self.root)
        for folder in ("infrastructure",):
            shutil.copytree(REPO / folder, self.root / folder)
        if timeouts:
            self._set_timeouts(timeouts)
        self.store = Store(crd_establish_delay=0.0)
        self.server = ApiServer(self.store).start()
        self.api_writes: list[tuple[str, str, str]] = []
        self.store.subscribe(self._record)
        self.runner = FakeRunner()
        cluster = tmp / "clusterconfig"
        cluster.mkdir()
        self.endpoints = FakeEndpoints(self.root, cluster / "kubeconfig", cluster / "talosconfig",
                                       cluster / "secrets.yaml", cluster, self._api_address())
        full_env = {"HOPS_STATE_DIR": str(tmp / "state"), **(env or {})}
        self.ctx = Context(self.root, full_env, {})
        self.ctx.__dict__.update(runner=self.runner, endpoints=self.endpoints,
                                 log=RunLog(tmp / "state" / "logs"))

    def _set_timeouts(self, timeouts: dict[str, int]) -> None:
        path = self.root / "bootstrap-config.yaml"
        data = yaml.safe_load(path.read_text())
        data["bootstrap"]["timeouts"].update(timeouts)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def _api_address(self) -> tuple[str, int]:
        host, _, port = self.server.url.rpartition(":")
        return host.split("//")[-1], int(port)

    def _record(self, event: str, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        name = f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
        self.api_writes.append((event, obj.get("kind", ""), name))

    # --- the cluster ----------------------------------------------------------------------------------------------
    def cluster_exists(self) -> "World":
        """Write the kubeconfig hops would have fetched (pointing at the in-process API server)."""
        self.endpoints.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "admin@home-ops",
            "clusters": [{"name": "home-ops", "cluster": {"server": self.server.url}}],
            "contexts": [{"name": "admin@home-ops", "context": {"cluster": "home-ops", "user": "admin"}}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}]}))
        return self

    def holds(self, *objects: dict) -> "World":
        """Put objects into the cluster as they are (status included), then forget them as writes. Their fields
        are owned by the field manager "hops", as after hops applied them (a converged cluster): applying them
        again is then a no-op, as on a real apiserver."""
        for obj in objects:
            self.store.apply(obj)
            self.store.server_side_apply({k: v for k, v in obj.items() if k != "status"}, "hops")
        self.api_writes.clear()
        self.ctx.kube.invalidate()
        return self

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """An object as the cluster holds it now."""
        return self.store.get(api_version, kind, name, namespace)

    def close(self) -> None:
        """Stop the API server, then the store, in the background: the server's accept loop sees a stop only at
        its next 0.1 s poll, which would otherwise add that to every test (nothing of this test uses it now)."""
        import threading

        def stop() -> None:
            self.server.stop()
            self.store.close()

        threading.Thread(target=stop, name="world-close", daemon=True).start()


def deadline_in(seconds: float) -> float:
    """A monotonic deadline `seconds` from now."""
    return time.monotonic() + seconds


def names(objects: Iterable[dict]) -> list[str]:
    """metadata.name of each object."""
    return [o["metadata"]["name"] for o in objects]
