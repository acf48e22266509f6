"""Emulated talosctl: the real command-line syntax, talking to the lab's loopback node endpoints.

A configured address given with --nodes/--endpoints is translated through lab.json; an address the lab does not
know fails like an unreachable host, without any connection attempt. Nothing ever dials a configured address.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hops.lab import loopback_http, pki
from hops.lab.tools import yaml_files
from hops.lab.tools.common import ToolExit, lab_info, run_tool
from hops.lab.tools.flags import Flag, Parsed, parse, table

GLOBAL = [Flag("talosconfig"), Flag("nodes", "n", "list"), Flag("endpoints", "e", "list"), Flag("context"),
          Flag("cluster"), Flag("help", "h", "bool")]
DEFAULT_TALOS = "1.8.3"
CLIENT_SHA = "6494aced"
TALOS_PORT = 50000


def _unavailable(desc: str) -> str:
    return f'rpc error: code = Unavailable desc = connection error: desc = "{desc}"'


# --- talosconfig ---------------------------------------------------------------------------------------------

def talosconfig_path(flags: Parsed) -> Path:
    explicit = flags.get("talosconfig") or os.environ.get("TALOSCONFIG")
    return Path(str(explicit)) if explicit else Path.home() / ".talos" / "config"


def load_talosconfig(path: Path) -> dict:
    try:
        data = yaml_files.load(path) or {}  # every call reads it: parsed once per content
    except FileNotFoundError:
        return {}
    except yaml_files.YamlFileError as exc:
        raise ToolExit(f"error constructing client: failed to parse config: {str(exc).splitlines()[0]}") from None
    return data if isinstance(data, dict) else {}


def current_context(flags: Parsed, config: dict) -> tuple[str, dict]:
    name = str(flags.get("context") or config.get("context") or "")
    contexts = config.get("contexts") or {}
    if name and name not in contexts:
        raise ToolExit(f'error constructing client: context "{name}" not found')
    return name, contexts.get(name) or {}


# --- connection ----------------------------------------------------------------------------------------------

class Target:
    """A node as asked for (its address) and where the lab serves it."""

    __slots__ = ("address", "endpoint")

    def __init__(self, address: str, endpoint: str | None) -> None:
        self.address = address
        self.endpoint = endpoint  # loopback host:port, or None when the lab does not know the address


class Client:
    """Talks to node endpoints; `insecure` mirrors --insecure (no client certificate, maintenance mode)."""

    def __init__(self, flags: Parsed, insecure: bool = False, need_nodes: bool = True) -> None:
        self.flags, self.insecure = flags, insecure
        self.info = lab_info() or {}
        self.creds: dict[str, str] = {}
        nodes = flags.items("nodes")
        endpoints = flags.items("endpoints")
        if not insecure:
            _, ctx = current_context(flags, load_talosconfig(talosconfig_path(flags)))
            nodes = nodes or list(ctx.get("nodes") or [])
            endpoints = endpoints or list(ctx.get("endpoints") or [])
            if not endpoints:
                raise ToolExit("error constructing client: failed to determine endpoints")
            self.creds = {k: _decode(ctx.get(k)) for k in ("ca", "crt", "key")}
        elif not nodes:
            nodes = endpoints
        if need_nodes and not nodes:
            raise ToolExit("nodes are not set for the command: please use `--nodes` flag or configuration file "
                           "to set the nodes to run the command against")
        self.endpoints = endpoints or nodes
        self.targets = [self._target(n) for n in nodes]

    def _target(self, address: str) -> Target:
        for name, node in (self.info.get("nodes") or {}).items():
            if address in (node["address"], name):
                if not str(node["endpoint"]).startswith("127."):    # never dial anything but loopback
                    raise ToolExit(f"error: lab.json names a non-loopback endpoint for {name}; refusing")
                return Target(node["address"], node["endpoint"])
        return Target(address, None)

    def call(self, target: Target, rpc: str, body: dict | None = None, timeout: float = 30.0) -> dict:
        """One RPC over loopback; raises RuntimeError carrying the gRPC-style text talosctl prints."""
        unknown = next((e for e in self.endpoints if self._target(e).endpoint is None
                        and not self._is_vip_up(e)), None)
        if unknown is not None and not self.insecure:
            raise RuntimeError(_unavailable(f"transport: Error while dialing: dial tcp {unknown}:{TALOS_PORT}: "
                                            "connect: no route to host"))
        if target.endpoint is None:
            raise RuntimeError(_unavailable(f"transport: Error while dialing: dial tcp {target.address}:"
                                            f"{TALOS_PORT}: connect: no route to host"))
        payload = {"insecure": self.insecure, **self.creds, **(body or {})}
        try:
            answer = loopback_http.request("POST", f"http://{target.endpoint}/rpc/{rpc}", payload, timeout)
        except OSError:
            # a node the lab made unreachable looks like a host that is down; otherwise the port is closed
            down = _node_fault(target.address) == "unreachable"
            why = "no route to host" if down else "connection refused"
            raise RuntimeError(_unavailable(f"transport: Error while dialing: dial tcp {target.address}:"
                                            f"{TALOS_PORT}: connect: {why}")) from None
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["result"]

    def _is_vip_up(self, address: str) -> bool:
        """The cluster VIP answers only once etcd runs (Talos moves it onto a healthy control-plane node)."""
        host = re.sub(r"^https://|:\d+$", "", str(self.info.get("cluster_endpoint", "")))
        if address != host:
            return False
        try:
            return loopback_http.request("GET", self.info["control_url"] + "/status", timeout=5).get("etcd") == "healthy"
        except (OSError, KeyError, ValueError, AttributeError):
            return False

    def each(self, rpc: str, verb: str, body: dict | None = None, timeout: float = 30.0,
             on_result: Callable[[Target, dict], object] = lambda t, r: None) -> None:
        """Call every target; collect errors like talosctl's multierror and exit 1 if any failed."""
        errors = []
        for target in self.targets:
            try:
                on_result(target, self.call(target, rpc, body, timeout))
            except RuntimeError as exc:
                errors.append((target.address, str(exc)))
        if not errors:
            return
        if len(self.targets) == 1:
            raise ToolExit(f"error {verb}: {errors[0][1]}")
        listed = "".join(f"\t* {addr}: {text}\n" for addr, text in errors)
        raise ToolExit(f"error {verb}: {len(errors)} error{'s' if len(errors) > 1 else ''} occurred:\n{listed}")


def _decode(value: Any) -> str:
    try:
        return pki.unb64(str(value or ""))
    except pki.PkiError:
        return ""


# --- commands ------------------------------------------------------------------------------------------------

def client_version(info: dict | None) -> str:
    version = ((info or {}).get("tool_versions") or {}).get("talosctl") or DEFAULT_TALOS
    return version if version.startswith("v") else "v" + version


def cmd_version(flags: Parsed, args: list[str]) -> int:
    extra = parse(args, [Flag("client", kind="bool"), Flag("short", kind="bool"), Flag("insecure", kind="bool")],
                  "talosctl")
    tag = client_version(lab_info(required=False))
    if extra.get("short"):
        print(f"Client:\nTalos {tag}")
    else:
        print(f"Client:\n\tTag:         {tag}\n\tSHA:         {CLIENT_SHA}\n\tBuilt:       \n"
              f"\tGo version:  go1.22.9\n\tOS/Arch:     linux/amd64")
    if extra.get("client"):
        return 0
    client = Client(flags, insecure=bool(extra.get("insecure")))

    def show(target: Target, result: dict) -> None:
        print(f"Server:\n\tNODE:        {target.address}\n\tTag:         {result['tag']}")
        if not extra.get("short"):
            print(f"\tSHA:         {CLIENT_SHA}\n\tBuilt:       \n\tGo version:  go1.22.9\n"
                  f"\tOS/Arch:     linux/amd64")
        print("\tEnabled:     RBAC" if not result.get("maintenance") else "\tEnabled:     maintenance")

    client.each("version", "getting version", on_result=show)
    return 0


MODES = ("auto", "interactive", "no-reboot", "reboot", "staged", "try")


def cmd_apply_config(flags: Parsed, args: list[str]) -> int:
    extra = parse(args, [Flag("file", "f"), Flag("insecure", "i", "bool"), Flag("mode", "m", default="auto"),
                         Flag("dry-run", kind="bool"), Flag("config-patch", "p", "list"),
                         Flag("timeout"), Flag("cert-fingerprint", kind="list")], "talosctl")
    mode = str(extra.get("mode"))
    if mode not in MODES:
        raise ToolExit(f'Error: invalid argument "{mode}" for "-m, --mode" flag: possible options are: '
                       + ", ".join(MODES))
    path = extra.get("file")
    if not path:
        raise ToolExit("error applying new configuration: no filename supplied for configuration")
    try:
        config = Path(str(path)).read_text()
    except OSError as exc:
        raise ToolExit(f"error applying new configuration: open {path}: {_reason(exc)}") from None
    client = Client(flags, insecure=bool(extra.get("insecure")))

    def show(target: Target, result: dict) -> None:
        if result.get("message"):
            print(result["message"])

    client.each("apply_config", "applying new configuration",
                {"config": config, "mode": mode, "dry_run": bool(extra.get("dry-run"))}, on_result=show)
    return 0


def _reason(exc: OSError) -> str:
    """The OS's reason in Go's lower-case wording ("no such file or directory")."""
    return (exc.strerror or str(exc)).lower()


def cmd_validate(flags: Parsed, args: list[str]) -> int:
    from hops.lab.machine_config import validate_machine_config
    extra = parse(args, [Flag("config", "c"), Flag("mode", "m"), Flag("strict", kind="bool")], "talosctl")
    path, mode = extra.get("config"), str(extra.get("mode") or "")
    if not path or not mode:
        raise ToolExit('Error: required flag(s) "config", "mode" not set')
    if mode not in ("metal", "cloud", "container"):
        raise ToolExit(f'Error: unknown mode "{mode}"')
    try:
        text = Path(str(path)).read_text()
    except OSError as exc:
        raise ToolExit(f"open {path}: {_reason(exc)}") from None
    _, problems = validate_machine_config(text, mode)
    if problems:
        listed = "".join(f"\t* {p}\n" for p in problems)
        noun = "error" if len(problems) == 1 else "errors"
        raise ToolExit(f"{len(problems)} {noun} occurred:\n{listed}")
    print(f"{path} is valid for {mode} mode")
    return 0


def cmd_bootstrap(flags: Parsed, args: list[str]) -> int:
    parse(args, [Flag("recover-from"), Flag("recover-skip-hash-check", kind="bool")], "talosctl")
    client = Client(flags)
    if len(client.targets) > 1:
        raise ToolExit("error executing bootstrap: bootstrap is only supported on a single node")
    client.each("bootstrap", "executing bootstrap")
    return 0


def cmd_etcd(flags: Parsed, args: list[str]) -> int:
    sub = args[0] if args else ""
    if sub == "members":
        return _etcd_members(Client(flags))
    if sub == "status":
        return _etcd_status(Client(flags))
    raise ToolExit(f'Error: unknown command "{sub}" for "talosctl etcd"' if sub else
                   "Error: talosctl etcd requires a subcommand (members, status, ...)")


def _etcd_members(client: Client) -> int:
    """Like talosctl v1.8: a node that answers with an error (e.g. etcd not running yet) is a WARNING and exit 0
    (apid aggregates per-node errors into the reply); only a failed connection is an error (exit 1)."""
    rows = [["NODE", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"]]
    node_errors: list[tuple[str, str]] = []
    for target in client.targets:
        try:
            result = client.call(target, "etcd_members")
        except RuntimeError as exc:
            if str(exc).startswith("rpc error: code = Unavailable desc = connection error"):
                raise ToolExit(f"error getting members: {exc}") from None
            node_errors.append((target.address, str(exc)))
            continue
        rows.extend([target.address, m["id"], m["hostname"], ",".join(m["peer_urls"]), ",".join(m["client_urls"]),
                     str(m["learner"]).lower()] for m in result["members"])
    if node_errors:
        listed = "".join(f"\t* {addr}: {text}\n" for addr, text in node_errors)
        noun = "error" if len(node_errors) == 1 else "errors"
        print(f"WARNING: {len(node_errors)} {noun} occurred:\n{listed}", file=sys.stderr)
    if len(rows) > 1:
        sys.stdout.write(table(rows))
    return 0


def _etcd_status(client: Client) -> int:
    rows = [["NODE", "MEMBER", "DB SIZE", "IN USE", "LEADER", "RAFT INDEX", "RAFT TERM", "RAFT APPLIED INDEX",
             "LEARNER", "ERRORS"]]

    def add(target: Target, r: dict) -> None:
        share = 100.0 * r["in_use"] / r["db_size"]
        rows.append([target.address, r["member_id"], _size(r["db_size"]), f"{_size(r['in_use'])} ({share:.2f}%)",
                     r["leader"], str(r["raft_index"]), str(r["raft_term"]), str(r["raft_applied_index"]), "false",
                     ", ".join(r["errors"])])

    try:
        client.each("etcd_status", "getting status", on_result=add)
    finally:
        if len(rows) > 1:
            sys.stdout.write(table(rows))
    return 0


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} kB"


def cmd_kubeconfig(flags: Parsed, args: list[str]) -> int:
    extra = parse(args, [Flag("force", "f", "bool"), Flag("merge", "m", "bool", True),
                         Flag("force-context-name")], "talosctl")
    client = Client(flags)
    if len(client.targets) > 1:
        raise ToolExit("error getting kubeconfig: kubeconfig can only be fetched from a single node")
    result: dict = {}
    client.each("kubeconfig", "copying", on_result=lambda t, r: result.update(r))
    dest = _kubeconfig_dest(extra.positionals)
    _write_kubeconfig(dest, result["kubeconfig"], bool(extra.get("merge")), bool(extra.get("force")))
    return 0


def _kubeconfig_dest(positionals: list[str]) -> Path:
    if not positionals:
        return Path.home() / ".kube" / "config"
    dest = Path(positionals[0])
    return dest / "kubeconfig" if dest.is_dir() else dest


def _write_kubeconfig(dest: Path, text: str, merge: bool, force: bool) -> None:
    import yaml  # only here: most calls never need PyYAML (hops.lab.tools.yaml_files)

    if dest.exists() and merge:
        text = _merged(yaml.safe_load(dest.read_text()) or {}, yaml.safe_load(text), force)
    elif dest.exists() and not force:
        raise ToolExit(f"error copying: kubeconfig file already exists, use --force to overwrite: {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(dest, 0o600)


def _merged(existing: dict, new: dict, force: bool) -> str:
    """Merge like talosctl: same-named entries are replaced with --force, otherwise renamed `<name>-1`."""
    import yaml  # only here: most calls never need PyYAML (hops.lab.tools.yaml_files)

    suffix = "" if force else _free_suffix(existing, new)
    for section in ("clusters", "contexts", "users"):
        entries = [dict(e, name=e["name"] + suffix) for e in new.get(section, [])]
        names = {e["name"] for e in entries}
        existing[section] = [e for e in existing.get(section) or [] if e["name"] not in names] + entries
    for ctx in existing["contexts"][-len(new.get("contexts", [])):]:
        ctx["context"] = dict(ctx["context"], cluster=ctx["context"]["cluster"] + suffix,
                              user=ctx["context"]["user"] + suffix)
    existing["current-context"] = new["current-context"] + suffix
    return yaml.safe_dump(existing, sort_keys=False)


def _free_suffix(existing: dict, new: dict) -> str:
    taken = {e["name"] for e in existing.get("contexts") or []}
    wanted = new["current-context"]
    n = 0
    while (wanted + (f"-{n}" if n else "")) in taken:
        n += 1
    return f"-{n}" if n else ""


def cmd_health(flags: Parsed, args: list[str]) -> int:
    extra = parse(args, [Flag("wait-timeout", default="20m"), Flag("control-plane-nodes", kind="list"),
                         Flag("worker-nodes", kind="list"), Flag("init-node"), Flag("server", kind="bool", default=True),
                         Flag("k8s-endpoint"), Flag("run-e2e", kind="bool")], "talosctl")
    timeout = parse_duration(str(extra.get("wait-timeout")))
    client = Client(flags)
    target = client.targets[0]
    if not extra.get("control-plane-nodes"):
        nodes = [n["address"] for n in (client.info.get("nodes") or {}).values()]
        print("discovered nodes: [" + " ".join(f'"{a}"' for a in nodes) + "]")
    try:
        result = client.call(target, "health", {"wait_timeout": timeout, "server": bool(extra.get("server"))},
                             timeout=timeout + 30)
    except RuntimeError as exc:
        raise ToolExit(f"healthcheck error: {exc}") from None
    for line in result["lines"]:
        print(line)
    if result.get("error"):
        raise ToolExit(f"healthcheck error: {result['error']}")
    return 0


def parse_duration(text: str) -> float:
    """Go duration syntax: 30s, 5m, 1h30m, 1m30.5s."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ToolExit(f'Error: invalid argument "{text}" for "--wait-timeout" flag: time: invalid duration "{text}"')
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


RESOURCES = {"machinestatus": "machinestatus", "machinestatuses": "machinestatus", "disks": "disks",
             "disk": "disks", "members": "members", "member": "members", "services": "services",
             "service": "services"}


def cmd_get(flags: Parsed, args: list[str]) -> int:
    extra = parse(args, [Flag("output", "o", default="table"), Flag("insecure", "i", "bool"),
                         Flag("namespace"), Flag("watch", "w", "bool")], "talosctl")
    if not extra.positionals:
        raise ToolExit("Error: requires at least 1 arg(s), only received 0")
    kind = RESOURCES.get(extra.positionals[0].lower())
    if kind is None:
        raise ToolExit(f'error getting resources: resource "{extra.positionals[0]}" is not known '
                       "to the hops lab (supported: machinestatus, disks, members, services)")
    output = str(extra.get("output"))
    if output not in ("table", "json", "yaml"):
        raise ToolExit(f'error getting resources: output format "{output}" is not supported')
    client = Client(flags, insecure=bool(extra.get("insecure")))
    resources: list[dict] = []
    client.each("disks" if kind == "disks" else kind, "getting resources",
                on_result=lambda t, r: resources.extend(_resources(kind, t.address, r)))
    _print_resources(resources, output)
    return 0


def _resources(kind: str, node: str, result: dict) -> list[dict]:
    def res(namespace: str, rtype: str, rid: str, spec: dict) -> dict:
        return {"node": node, "metadata": {"namespace": namespace, "type": rtype, "id": rid, "version": 1,
                                           "owner": "", "phase": "running"}, "spec": spec}

    if kind == "machinestatus":
        spec = {"stage": result["stage"], "status": {"ready": result["ready"],
                                                     "unmetConditions": result["unmetConditions"]}}
        return [res("runtime", "MachineStatuses.runtime.talos.dev", "machine", spec)]
    if kind == "disks":
        return [res("runtime", "Disks.block.talos.dev", d["dev_path"].removeprefix("/dev/"),
                    {"dev_path": d["dev_path"], "size": d["size"], "pretty_size": f"{d['size'] / 1e9:.0f} GB",
                     "model": d["model"], "serial": d["serial"], "transport": "virtio", "rotational": False,
                     "readonly": False}) for d in result["disks"]]
    if kind == "services":      # the machined service list as v1alpha1 Service resources
        return [res("v1alpha1", "Services.v1alpha1.talos.dev", s["id"],
                    {"running": s["state"] == "Running", "healthy": s["health"] == "OK",
                     "unknown": s["health"] == "?"}) for s in result["services"]]
    return [res("cluster", "Members.cluster.talos.dev", m["id"], {"hostname": m["hostname"],
                "machineType": m["machine_type"], "operatingSystem": m["os"], "addresses": m["addresses"]})
            for m in result["members"]]


def _print_resources(resources: list[dict], output: str) -> None:
    import yaml  # only here: most calls never need PyYAML (hops.lab.tools.yaml_files)

    if output == "json":
        for item in resources:
            print(json.dumps(item, indent=4))
        return
    if output == "yaml":
        print("\n---\n".join(yaml.safe_dump(r, sort_keys=False).rstrip() for r in resources))
        return
    if not resources:
        return
    rtype = resources[0]["metadata"]["type"]
    extra_cols = _table_columns(rtype)
    rows = [["NODE", "NAMESPACE", "TYPE", "ID", "VERSION", *[c for c, _ in extra_cols]]]
    for r in resources:
        m = r["metadata"]
        rows.append([r["node"], m["namespace"], SHORT_TYPES[m["type"]], m["id"], str(m["version"]),
                     *[fn(r["spec"]) for _, fn in extra_cols]])
    sys.stdout.write(table(rows))


SHORT_TYPES = {"MachineStatuses.runtime.talos.dev": "MachineStatus", "Disks.block.talos.dev": "Disk",
               "Members.cluster.talos.dev": "Member", "Services.v1alpha1.talos.dev": "Service"}


def _table_columns(rtype: str) -> list[tuple[str, Callable[[dict], str]]]:
    if rtype.startswith("MachineStatus"):
        return [("STAGE", lambda s: s["stage"]), ("READY", lambda s: str(s["status"]["ready"]).lower())]
    if rtype.startswith("Services"):
        return [("RUNNING", lambda s: str(s["running"]).lower()), ("HEALTHY", lambda s: str(s["healthy"]).lower()),
                ("HEALTH UNKNOWN", lambda s: str(s["unknown"]).lower())]
    if rtype.startswith("Disks"):
        return [("SIZE", lambda s: s["pretty_size"]), ("READ ONLY", lambda s: str(s["readonly"]).lower()),
                ("TRANSPORT", lambda s: s["transport"]), ("ROTATIONAL", lambda s: str(s["rotational"]).lower()),
                ("WWID", lambda s: ""), ("MODEL", lambda s: s["model"]), ("SERIAL", lambda s: s["serial"])]
    return [("HOSTNAME", lambda s: s["hostname"]), ("MACHINE TYPE", lambda s: s["machineType"]),
            ("OS", lambda s: s["operatingSystem"]), ("ADDRESSES", lambda s: json.dumps(s["addresses"]))]


def cmd_reset(flags: Parsed, args: list[str]) -> int:
    extra = parse(args, [Flag("graceful", kind="bool", default=True), Flag("reboot", kind="bool"),
                         Flag("wipe-mode", default="all"), Flag("wait", kind="bool", default=True),
                         Flag("system-labels-to-wipe", kind="list"), Flag("insecure", kind="bool"),
                         Flag("timeout")], "talosctl")
    if extra.get("wipe-mode") not in ("all", "system-disk", "user-disks"):
        raise ToolExit(f'Error: invalid argument "{extra.get("wipe-mode")}" for "--wipe-mode" flag')
    client = Client(flags)
    client.each("reset", "executing reset", {"graceful": bool(extra.get("graceful")),
                                              "reboot": bool(extra.get("reboot"))})
    return 0


def cmd_dmesg(flags: Parsed, args: list[str]) -> int:
    parse(args, [Flag("follow", "f", "bool"), Flag("tail", kind="bool")], "talosctl")
    Client(flags).each("dmesg", "getting dmesg", on_result=lambda t, r: sys.stdout.write(r["text"]))
    return 0


def cmd_logs(flags: Parsed, args: list[str]) -> int:
    extra = parse(args, [Flag("follow", "f", "bool"), Flag("tail"), Flag("kubernetes", "k", "bool")], "talosctl")
    if not extra.positionals:
        raise ToolExit("Error: accepts 1 arg(s), received 0")
    Client(flags).each("logs", "fetching logs", {"service": extra.positionals[0]},
                       on_result=lambda t, r: sys.stdout.write(r["text"]))
    return 0


def cmd_config(flags: Parsed, args: list[str]) -> int:
    import yaml  # only here: most calls never need PyYAML (hops.lab.tools.yaml_files)

    sub, rest = (args[0], args[1:]) if args else ("", [])
    path = talosconfig_path(flags)
    config = load_talosconfig(path)
    name, ctx = current_context(flags, config)
    if sub in ("endpoint", "endpoints", "node", "nodes"):
        if not name:
            raise ToolExit("error setting endpoints: context is not set" if sub.startswith("endpoint")
                           else "error setting nodes: context is not set")
        ctx["endpoints" if sub.startswith("endpoint") else "nodes"] = rest
        config["contexts"][name] = ctx
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return 0
    if sub == "info":
        print(f"Current context:     {name}\nNodes:               {', '.join(ctx.get('nodes') or []) or 'not defined'}"
              f"\nEndpoints:           {', '.join(ctx.get('endpoints') or []) or 'not defined'}\n"
              f"Roles:               os:admin\nCertificate expires: 1 year from now (hops lab)")
        return 0
    if sub == "contexts":
        rows = [["CURRENT", "NAME", "ENDPOINTS", "NODES"]] + [
            ["*" if n == name else "", n, ",".join(c.get("endpoints") or []), ",".join(c.get("nodes") or [])]
            for n, c in (config.get("contexts") or {}).items()]
        sys.stdout.write(table(rows))
        return 0
    raise ToolExit(f'Error: unknown command "{sub}" for "talosctl config"')


SERVICE_COLUMNS = ["NODE", "SERVICE", "STATE", "HEALTH", "LAST CHANGE", "LAST EVENT"]


def cmd_services(flags: Parsed, args: list[str]) -> int:
    """`talosctl services`: each node's service table; `talosctl services <id>`: one service's details."""
    opts = parse(args, [], "talosctl")
    wanted = opts.positionals[0] if opts.positionals else None
    found: list[tuple[str, dict]] = []
    Client(flags).each("services", "listing services", on_result=lambda t, r: found.extend(
        (t.address, s) for s in r["services"] if wanted in (None, s["id"])))
    if wanted is None:
        sys.stdout.write(table([SERVICE_COLUMNS] + [[node, s["id"], s["state"], s["health"], s["last_change"],
                                                     s["event"]] for node, s in found]))
        return 0
    if not found:
        raise ToolExit(f'error listing services: rpc error: code = Unknown desc = service "{wanted}" not found')
    for node, s in found:
        sys.stdout.write(table([["NODE", node], ["ID", s["id"]], ["STATE", s["state"]], ["HEALTH", s["health"]],
                                ["EVENTS", f"[{s['state']}]: {s['event']} ({s['last_change']})"]]))
    return 0


def cmd_gen(flags: Parsed, args: list[str]) -> int:
    from hops.lab.tools import talos_gen  # only here: it brings talhelper's generator, which no other command needs

    return talos_gen.cmd_gen(flags, args)


COMMANDS: dict[str, Callable[[Parsed, list[str]], int]] = {
    "version": cmd_version, "apply-config": cmd_apply_config, "apply": cmd_apply_config, "validate": cmd_validate,
    "bootstrap": cmd_bootstrap, "etcd": cmd_etcd, "kubeconfig": cmd_kubeconfig, "health": cmd_health,
    "get": cmd_get, "reset": cmd_reset, "dmesg": cmd_dmesg, "logs": cmd_logs, "config": cmd_config,
    "gen": cmd_gen, "services": cmd_services, "service": cmd_services,
}


def _split_globals(argv: list[str]) -> tuple[Parsed, list[str]]:
    """Pull the persistent (global) flags out of argv wherever they are; the rest belongs to the command."""
    known = {f"--{f.name}" for f in GLOBAL} | {f"-{f.short}" for f in GLOBAL if f.short}
    globals_, rest, i = [], [], 0
    while i < len(argv):
        head = argv[i].split("=", 1)[0]
        if head in known:
            globals_.append(argv[i])
            if "=" not in argv[i] and head not in ("--help", "-h") and i + 1 < len(argv):
                globals_.append(argv[i + 1])
                i += 1
        else:
            rest.append(argv[i])
        i += 1
    return parse(globals_, GLOBAL, "talosctl"), rest


def handle(argv: list[str]) -> int:
    flags, rest = _split_globals(argv)
    if not rest or flags.get("help"):
        print("A CLI for out-of-band management of Kubernetes nodes created by Talos (hops lab emulation)\n\n"
              "Available Commands: " + ", ".join(sorted(COMMANDS)))
        return 0
    command = COMMANDS.get(rest[0])
    if command is None:
        raise ToolExit(f'Error: unknown command "{rest[0]}" for "talosctl"\nRun \'talosctl --help\' for usage.')
    return command(flags, rest[1:])


def main(argv: list[str] | None = None) -> int:
    return run_tool("talosctl", handle, argv)


if __name__ == "__main__":
    raise SystemExit(main())


def _node_fault(address: str) -> str | None:
    from hops.lab import faults
    from hops.lab.tools.common import lab_info, layout

    info = lab_info(required=False) or {}
    name = next((n for n, node in info.get("nodes", {}).items() if node.get("address") == address), None)
    return faults.node_fault(faults.read(layout()), name) if name else None
