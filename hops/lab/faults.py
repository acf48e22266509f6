"""Fault injection for rehearsing failures.

Faults live in `<lab>/faults.json`, shared by the daemon and every emulated tool process. They are added with
`doit lab_fault --add SPEC` / `python -m hops.lab.faults add SPEC`, or from HOPS_LAB_FAULTS when the lab starts.
SPEC is a comma-separated list of:

    fail:<tool> <subcommand>:<n>   the next n calls of e.g. `helm upgrade` fail (exit 1, "injected failure": a
                                   failure no tool prints, so hops treats it as permanent)
    fail:<tool> <subcommand>:<n>:transient   ... with the real tool's text for a transient failure (API
                                   unavailable, connection refused, a timeout): hops retries retry-safe calls
    fail:<tool> <subcommand>:<n>:permanent   ... with the real tool's text for a permanent failure (validation,
                                   bad credentials): hops fails at once
    hang:<tool> <subcommand>:<n>   the next n calls record their start (helm: the pending revision) and then block
                                   until killed, like a process interrupted mid-operation
    delay:<component>:<seconds>    the component (workload or release name) turns ready <seconds> later (simulated)
    block:<component>              the component never turns ready (its condition says why)
    notready:<node>                the node's kubelet reports NotReady
    unreachable:<node>             the node's Talos API stops answering
    notyet:<node>:<seconds>[:time] after each boot the node refuses `talosctl bootstrap` as not ready for <seconds>
                                   (simulated; `inf` = until cleared): its container runtime is not up ("bootstrap
                                   is not available yet"), or with `:time` its clock is not synced ("time is not
                                   in sync yet")
    api-errors:<rate>              that share of Kubernetes API requests answer 503 with Retry-After: 1 (as an
                                   overloaded kube-apiserver; client-go tools retry it, hops's client does not)
    api-timeouts:<rate>            that share of Kubernetes API requests hang until the client gives up or the
                                   apiserver's 60 s (lab time) pass, then answer its 504 Timeout
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hops.lab.layout import LabLayout

EMPTY: dict = {"tools": [], "components": {}, "nodes": {}, "notyet": {},
               "api": {"error_rate": 0.0, "timeout_rate": 0.0}}


class FaultSpecError(ValueError):
    """A fault specification that cannot be parsed; the message says which item and why."""


SEVERITY_SUFFIXES = (":transient", ":permanent")


class ToolFault:
    """One injected tool failure (a plain class: every emulated tool imports this module; see LabLayout)."""

    __slots__ = ("tool", "subcommand", "severity")

    def __init__(self, tool: str, subcommand: str, severity: str = "") -> None:
        self.tool, self.subcommand = tool, subcommand
        self.severity = severity  # of a `fail` fault: "transient"/"permanent" real error texts (tool_failures)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ToolFault) and (other.tool, other.subcommand, other.severity) == \
            (self.tool, self.subcommand, self.severity)

    def __hash__(self) -> int:
        return hash((self.tool, self.subcommand, self.severity))

    def __repr__(self) -> str:
        return f"ToolFault({self.tool!r}, {self.subcommand!r}, {self.severity!r})"


def parse(spec: str) -> dict:
    """Turn a compact SPEC into the faults.json structure (see module doc)."""
    faults = json.loads(json.dumps(EMPTY))
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kind, _, rest = item.partition(":")
        try:
            _parse_item(faults, kind, rest)
        except (ValueError, IndexError) as exc:
            raise FaultSpecError(f"fault {item!r}: {exc}; see `python -m hops.lab.faults --help`") from None
    return faults


def _parse_item(faults: dict, kind: str, rest: str) -> None:
    if kind == "fail":
        rest, _, severity = rest.rpartition(":") if rest.endswith(SEVERITY_SUFFIXES) else (rest, "", "")
        command, _, count = rest.rpartition(":")
        tool, _, sub = command.partition(" ")
        if not tool or not sub:
            raise ValueError("expected fail:<tool> <subcommand>:<count>[:transient|:permanent]")
        faults["tools"].append({"tool": tool, "subcommand": sub, "remaining": int(count), "severity": severity})
    elif kind == "hang":
        command, _, count = rest.rpartition(":")
        tool, _, sub = command.partition(" ")
        if not tool or not sub:
            raise ValueError("expected hang:<tool> <subcommand>:<count>")
        faults["tools"].append({"tool": tool, "subcommand": sub, "remaining": int(count), "action": "hang"})
    elif kind == "delay":
        name, _, seconds = rest.rpartition(":")
        faults["components"][name] = {"delay": float(seconds)}
    elif kind == "block":
        faults["components"][_required(rest)] = {"block": True}
    elif kind in ("notready", "unreachable"):
        faults["nodes"][_required(rest)] = kind
    elif kind == "notyet":
        faults["notyet"].update(_notyet(rest))
    elif kind in ("api-errors", "api-timeouts"):
        rate = float(rest)
        if not 0 <= rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        faults["api"]["error_rate" if kind == "api-errors" else "timeout_rate"] = rate
    else:
        raise ValueError(f"unknown kind {kind!r}")


def _notyet(rest: str) -> dict:
    node, _, tail = rest.partition(":")
    seconds, _, stage = tail.partition(":")
    if not node or not seconds or stage not in ("", "time"):
        raise ValueError("expected notyet:<node>:<seconds> or notyet:<node>:<seconds>:time")
    if not float(seconds) >= 0:
        raise ValueError("seconds must be 0 or more (inf: until cleared)")
    return {node: {"seconds": float(seconds), "stage": "time" if stage else "services"}}


def _required(value: str) -> str:
    if not value:
        raise ValueError("a name is required")
    return value


@contextmanager
def _locked(layout: LabLayout) -> Iterator[dict]:
    """Read-modify-write faults.json under an exclusive lock (tools run as concurrent processes)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.root / "faults.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read(layout)
        yield data
        tmp = layout.faults_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, layout.faults_file)


def read(layout: LabLayout) -> dict:
    """The faults in force (an empty set when none were added)."""
    try:
        data = json.loads(layout.faults_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return json.loads(json.dumps(EMPTY))
    for key, value in EMPTY.items():
        data.setdefault(key, json.loads(json.dumps(value)))
    return data


def add(layout: LabLayout, spec: str) -> dict:
    """Merge SPEC into the faults in force; returns the result."""
    new = parse(spec)
    with _locked(layout) as data:
        data["tools"].extend(new["tools"])
        data["components"].update(new["components"])
        data["nodes"].update(new["nodes"])
        data["notyet"].update(new["notyet"])
        data["api"].update({k: v for k, v in new["api"].items() if v})
    _tell_running_lab(layout)
    return data


def clear(layout: LabLayout) -> None:
    """Remove every fault; a running lab's nodes answer again when this returns."""
    with _locked(layout) as data:
        data.clear()
        data.update(json.loads(json.dumps(EMPTY)))
    _tell_running_lab(layout)


def _tell_running_lab(layout: LabLayout) -> None:
    """The daemon re-reads faults.json on its own clock; asking it to apply now makes add/clear synchronous
    (an `unreachable` node is down, or answers again, once the command returns)."""
    info = layout.read_info()
    if not info or "control_url" not in info:
        return
    from hops.lab import loopback_http

    try:
        loopback_http.request("POST", info["control_url"] + "/faults", timeout=10)
    except OSError:
        pass    # no lab answering: it applies faults.json when it starts


def take_tool_failure(layout: LabLayout, tool: str, argv: list[str], action: str = "fail") -> ToolFault | None:
    """Consume one pending failure (or, with action="hang", one hang) for `tool <subcommand>` if argv contains
    that subcommand."""
    if not layout.faults_file.exists():
        return None
    with _locked(layout) as data:
        for fault in data["tools"]:
            if fault["tool"] == tool and fault["remaining"] > 0 and fault["subcommand"] in argv \
                    and fault.get("action", "fail") == action:
                fault["remaining"] -= 1
                return ToolFault(tool, fault["subcommand"], fault.get("severity", ""))
    return None


def component_fault(data: dict, name: str) -> dict:
    """{'delay': seconds} or {'block': True} or {} for a component (workload or release) name."""
    return data["components"].get(name, {})


def node_fault(data: dict, name: str) -> str | None:
    """'notready', 'unreachable' or None."""
    return data["nodes"].get(name)


def notyet_fault(data: dict, name: str) -> tuple[float, str] | None:
    """(simulated seconds, "services" | "time") the node stays not ready for bootstrap after booting, or None."""
    held = (data.get("notyet") or {}).get(name)
    return (float(held["seconds"]), held["stage"]) if held else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    layout = LabLayout.from_env()
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        if args[0] == "add" and len(args) == 2:
            print(json.dumps(add(layout, args[1]), indent=1))
        elif args[0] == "clear":
            clear(layout)
        elif args[0] == "show":
            print(json.dumps(read(layout), indent=1))
        else:
            print("usage: python -m hops.lab.faults add SPEC | clear | show", file=sys.stderr)
            return 2
    except FaultSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
