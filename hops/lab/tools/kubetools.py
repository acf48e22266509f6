"""What the Kubernetes-facing emulated tools (helm, flux, cilium) share: flag parsing in the cobra style, the API
client from --kubeconfig / KUBECONFIG, configured tool versions, scaled waiting, and tab-aligned tables."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hops.lab.tools.common import ToolExit, lab_info

if TYPE_CHECKING:  # the API client (urllib, ssl) is imported when a command needs the cluster
    from hops.lab.tools.kubeapi import KubeClient


class Parsed:
    """Positionals and flags by canonical name (a plain class: `dataclasses` costs every tool process ~14 ms)."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.flags: dict[str, Any] = {}

    def get(self, name: str, default: Any = None) -> Any:
        return self.flags.get(name, default)


def parse(argv: list[str], values: dict[str, str], switches: dict[str, str], repeated: tuple[str, ...] = ()) -> Parsed:
    """cobra-like parsing. `values`/`switches` map every accepted spelling (-n, --namespace) to a canonical name."""
    out = Parsed()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.args.extend(argv[i + 1:])
            break
        if arg.startswith("-") and arg != "-":
            flag, eq, inline = arg.partition("=")
            if flag in switches:
                out.flags[switches[flag]] = inline.lower() != "false" if eq else True
            elif flag in values:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise ToolExit(f"Error: flag needs an argument: {flag}")
                    inline = argv[i]
                name = values[flag]
                if name in repeated:
                    out.flags.setdefault(name, []).append(inline)
                else:
                    out.flags[name] = inline
            else:
                kind = "unknown shorthand flag" if not flag.startswith("--") else "unknown flag"
                shown = f"'{flag[1:2]}' in {flag}" if kind == "unknown shorthand flag" else flag
                raise ToolExit(f"Error: {kind}: {shown}")
        else:
            out.args.append(arg)
        i += 1
    return out


def client(kubeconfig: str | None = None, context: str | None = None) -> KubeClient:
    from hops.lab.tools.kubeapi import KubeClient, KubeError

    try:
        return KubeClient(kubeconfig, context)
    except KubeError as exc:
        raise ToolExit(f"Error: Kubernetes cluster unreachable: {exc.message}") from None


def tool_version(tool: str, default: str) -> str:
    """The configured tools.required version: from the running lab, else ./bootstrap-config.yaml."""
    info = lab_info(required=False) or {}
    versions = info.get("tool_versions") or {}
    if tool not in versions:
        from hops.clusters import ClusterError, current

        try:  # the selected cluster's file (HOPS_CLUSTER: hops.clusters)
            config = yaml.safe_load(current(Path.cwd()).config_file("bootstrap-config.yaml").read_text()) or {}
            versions = ((config.get("tools") or {}).get("required") or {})
        except (FileNotFoundError, yaml.YAMLError, ClusterError):
            versions = {}
    return str(versions.get(tool, default)).lstrip("v")


def speed() -> float:
    """The lab's speed: tool timeouts are simulated durations, like every other duration in the lab."""
    info = lab_info(required=False) or {}
    try:
        return float(info.get("speed") or 0) or _env_speed()
    except (TypeError, ValueError):
        return _env_speed()


def _env_speed() -> float:
    from hops.lab import clock
    return clock.speed()


def wait_until(check: Callable[[], tuple[bool, Any]], watch: Callable[[float], Any], timeout: float) -> tuple[bool, Any]:
    """Re-check after every watch event until check() is true or `timeout` wall seconds pass.

    `watch(seconds)` yields events of the watched kind; a closed stream is simply reopened."""
    deadline = time.monotonic() + timeout
    ok, detail = check()
    while not ok:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, detail
        for _event in watch(min(left, 30.0)):
            ok, detail = check()
            if ok or time.monotonic() >= deadline:
                break
        else:
            ok, detail = check()
    return ok, detail


def table(headers: list[str], rows: list[list[str]], sep: str = "\t") -> str:
    """Columns padded to the widest cell and separated by a tab, the way helm and flux print them."""
    cols = [headers, *rows]
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(headers))]
    lines = [sep.join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in cols]
    return "\n".join(lines)
