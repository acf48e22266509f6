"""The wrapper the lab puts on PATH as `helm` when the real Helm 3 is used (hops.lab.real_helm installs and finds
it): helm's cache/config/data under the lab folder, each call recorded in calls.jsonl like the emulated tools,
the lab's injected helm faults applied (hang: hops.lab.real_helm_hang), chart repositories off loopback mirrored
to the lab's own and anything else off loopback sent to a dead loopback proxy.

It runs before every helm call, so it imports only what a plain call needs (a real helm is a Go binary that
starts in a few milliseconds; each import here would be the lab's cost, not hops's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

# Go's HTTP client never proxies loopback: everything else the binary might try goes to the discard port
DEAD_PROXY = "http://127.0.0.1:9"
WRITERS = ("install", "upgrade", "rollback")   # the subcommands that record a pending-* revision first (hang:)


def _helm_homes(base: Path) -> dict[str, str]:
    return {"HELM_CACHE_HOME": str(base / "cache"), "HELM_CONFIG_HOME": str(base / "config"),
            "HELM_DATA_HOME": str(base / "data")}


def _off_loopback(part: str, schemes: tuple[str, ...]) -> bool:
    url = urlparse(part)
    return url.scheme in schemes and url.hostname is not None and \
        not (url.hostname.startswith("127.") or url.hostname == "localhost")


def loopback_only(argv: list[str]) -> str | None:
    """The first URL argument whose host is not on 127.0.0.0/8 (or localhost), else None."""
    for arg in argv:
        for part in arg.split("=", 1)[-1:] if arg.startswith("--") else [arg]:
            if _off_loopback(part, ("http", "https", "oci")):
                return part
    return None


def mirrored(argv: list[str], chart_repo_url: str | None) -> list[str]:
    """argv with each http(s) chart repository URL off loopback (`helm repo add x https://helm.cilium.io`,
    `--repo https://...`) replaced by the running lab's repository serving it, as hops.endpoints maps hops's
    own calls; a client written for real hosts then works unchanged. Without a running lab: argv as it is."""
    if not chart_repo_url:
        return argv
    out = []
    for arg in argv:
        flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if (eq or not flag) and _off_loopback(value, ("http", "https")):
            from hops.lab.chart_repo import local_url  # only now: it brings the chart server (~70 ms a call)

            arg = f"{flag}{eq}{local_url(chart_repo_url, value)}"
        out.append(arg)
    return out


def wrap(binary: str, argv: list[str]) -> int:
    """Run the real helm with the lab's helm homes, record the call like an emulated tool; injected tool
    failures (hops.lab.faults) apply as to the emulated helm: `fail:` answers instead of helm, `hang:` lets helm
    write its pending record and then keeps it from returning until it is killed (hops.lab.real_helm_hang)."""
    from hops.lab import faults
    from hops.lab.tools.common import _record, layout

    where = layout()
    fault = faults.take_tool_failure(where, "helm", argv)
    info = where.read_info() or {}
    sent = mirrored(argv, info.get("chart_repo_url"))
    outside = loopback_only(sent)
    hang = None if fault or outside else faults.take_tool_failure(where, "helm", argv, action="hang")
    if fault is not None:
        from hops.lab import tool_failures

        print(tool_failures.message("helm", fault.subcommand, fault.severity, argv), file=sys.stderr)
        code = 1
    elif outside is not None:
        print(f"Error: the hops lab refuses {outside}: only 127.0.0.0/8 is reachable from the lab "
              "(chart repositories resolve to the lab's own, see hops.endpoints.Endpoints.chart_repository)",
              file=sys.stderr)
        code = 1
    elif hang is not None and hang.subcommand not in WRITERS:
        print(f"Error: the hops lab cannot make `helm {hang.subcommand}` hang: only "
              f"{', '.join(WRITERS)} record a pending release", file=sys.stderr)
        code = 1
    else:
        code = _run(binary, sent, where.root / "helm", hang.subcommand if hang else None)
    _record(where, "helm", argv, code)
    return code


def _run(binary: str, argv: list[str], homes: Path, hang: str | None = None) -> int:
    env = {**os.environ, **_helm_homes(homes), "HTTPS_PROXY": DEAD_PROXY, "HTTP_PROXY": DEAD_PROXY,
           "https_proxy": DEAD_PROXY, "http_proxy": DEAD_PROXY, "NO_PROXY": "", "no_proxy": ""}
    if hang is not None:
        from hops.lab import real_helm_hang

        try:
            return real_helm_hang.run_hung(binary, argv, env, homes / "hang", hang)
        except real_helm_hang.HangError as exc:
            print(f"Error: the hops lab cannot make helm {hang} hang: {exc}", file=sys.stderr)
            return 1
    child = subprocess.Popen([binary, *argv], env=env)

    def forward(signum: int, _frame: object) -> None:  # hops stops its tools with SIGTERM/SIGINT
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    code = child.wait()
    return code if code >= 0 else 128 - code
