"""Emulated talhelper: genconfig / gensecret / validate talconfig / --version.

genconfig turns talconfig.yaml + a secrets bundle into real-shaped Talos v1alpha1 machine configs, one per node
(`<out>/<clusterName>-<hostname>.yaml`), plus `<out>/talosconfig` whose client certificate is issued by the
bundle's OS CA (the lab's nodes check exactly that), and `<out>/.gitignore`.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml

from hops.lab import pki
from hops.lab.tools.common import ToolExit, lab_info, run_tool
from hops.lab.tools.flags import Flag, parse

DEFAULT_VERSION = "3.0.12"
FAKE = pki.FAKE_MARK
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


# --- secrets -------------------------------------------------------------------------------------------------

def _ca(subject: str) -> dict[str, str]:
    ca = pki.new_ca(subject)
    return {"crt": pki.b64(ca["crt"]), "key": pki.b64(ca["key"])}


def new_secrets() -> dict:
    """A secrets bundle shaped like `talhelper gensecret` / `talosctl gen secrets` output, with fake values."""
    import secrets  # only here: `secrets` brings `random`, which no other talhelper command needs

    token = secrets.token_hex
    return {"cluster": {"id": f"{FAKE}-{token(16)}", "secret": f"{FAKE}-{token(16)}"},
            "secrets": {"bootstraptoken": f"{token(3)}.{token(8)}",
                        "secretboxencryptionsecret": f"{FAKE}-{token(16)}"},
            "trustdinfo": {"token": f"{token(3)}.{token(8)}"},
            "certs": {"etcd": _ca("etcd"), "k8s": _ca("kubernetes"), "k8saggregator": _ca("front-proxy"),
                      "k8sserviceaccount": {"key": pki.b64(pki.new_ca("service-account")["key"])},
                      "os": _ca("talos")}}


def load_secrets(path: Path) -> dict:
    """A secrets bundle file (talhelper gensecret / talosctl gen secrets); ToolExit naming the file if it is not one."""
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ToolExit(f"failed to load secrets bundle: open {path}: no such file or directory") from None
    except yaml.YAMLError as exc:
        raise ToolExit(f"failed to load secrets bundle: {str(exc).splitlines()[0]}") from None
    try:
        pki.read_cert(pki.unb64(data["certs"]["os"]["crt"]))
        data["trustdinfo"]["token"], data["secrets"]["bootstraptoken"]
    except (KeyError, TypeError, pki.PkiError):
        raise ToolExit(f"failed to load secrets bundle: {path} is not a talos secrets bundle "
                       "(expected cluster, secrets, trustdinfo and certs.os made by talhelper gensecret)") from None
    return data


# --- talconfig -----------------------------------------------------------------------------------------------

def substitute(text: str, env: dict[str, str]) -> str:
    """envsubst as talhelper runs it: ${VAR}, ${VAR:-default} (empty counts as unset), ${VAR-default};
    an unset variable without default becomes empty (talhelper's validation then names the empty field)."""
    def value(m: re.Match[str]) -> str:
        name, op, default = m.group(1), m.group(2), m.group(3) or ""
        if op == ":-" and not env.get(name):
            return default
        return env.get(name, default if op else "")

    return VAR.sub(value, text)


def load_talconfig(path: Path, env: dict[str, str]) -> dict:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ToolExit(f"failed to read config file: open {path}: no such file or directory") from None
    try:
        data = yaml.safe_load(substitute(text, env))
    except yaml.YAMLError as exc:
        raise ToolExit(f"failed to unmarshal config file: {str(exc).splitlines()[0]}") from None
    problems = talconfig_problems(data)
    if problems:
        raise ToolExit("There are issues with your talhelper config file:\n" + "\n".join(problems))
    return data


def talconfig_problems(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["- the file is not a YAML mapping"]
    problems = [f"- field: '{key}'\n  * ERROR: {key} is required" for key in ("clusterName", "endpoint")
                if not data.get(key)]
    nodes = data.get("nodes") or []
    if not nodes:
        problems.append("- field: 'nodes'\n  * ERROR: at least one node is required")
    for i, node in enumerate(nodes):
        for key in ("hostname", "ipAddress"):
            if not (node or {}).get(key):
                problems.append(f"- field: 'nodes[{i}].{key}'\n  * ERROR: {key} is required")
        if (node or {}).get("installDisk") and (node or {}).get("installDiskSelector"):
            problems.append(f"- field: 'nodes[{i}].installDiskSelector'\n  * ERROR: installDiskSelector and "
                            "installDisk cannot be used together")
    return problems


def _env(env_file: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if env_file:
        try:
            extra = yaml.safe_load(Path(env_file).read_text()) or {}
        except FileNotFoundError:
            raise ToolExit(f"failed to load env file: open {env_file}: no such file or directory") from None
        env.update({str(k): str(v) for k, v in extra.items()})
    return env


# --- machine configs -----------------------------------------------------------------------------------------

def _version(value: Any, default: str) -> str:
    text = str(value or default)
    return text if text.startswith("v") else "v" + text


def machine_config(tal: dict, node: dict, bundle: dict) -> dict:
    control_plane = bool(node.get("controlPlane"))
    certs = bundle["certs"]
    talos_v, k8s_v = _version(tal.get("talosVersion"), "v1.8.3"), _version(tal.get("kubernetesVersion"), "v1.31.4")
    machine = {
        "type": "controlplane" if control_plane else "worker",
        "token": bundle["trustdinfo"]["token"],
        "ca": {"crt": certs["os"]["crt"], "key": certs["os"]["key"] if control_plane else ""},
        "certSANs": [],
        "kubelet": {"image": f"ghcr.io/siderolabs/kubelet:{k8s_v}", "defaultRuntimeSeccompProfileEnabled": True,
                    "disableManifestsDirectory": True},
        "network": {"hostname": node["hostname"], "interfaces": node.get("networkInterfaces") or []},
        "install": {"disk": node.get("installDisk") or "", "image": f"ghcr.io/siderolabs/installer:{talos_v}",
                    "wipe": False},
        "features": {"rbac": True, "stableHostname": True, "apidCheckExtKeyUsage": True,
                     "diskQuotaSupport": True, "kubePrism": {"enabled": True, "port": 7445}},
    }
    cluster = {
        "id": bundle["cluster"]["id"], "secret": bundle["cluster"]["secret"],
        "controlPlane": {"endpoint": tal["endpoint"]}, "clusterName": tal["clusterName"],
        "network": {"dnsDomain": tal.get("domain") or "cluster.local",
                    "podSubnets": tal.get("clusterPodNets") or ["10.244.0.0/16"],
                    "serviceSubnets": tal.get("clusterSvcNets") or ["10.96.0.0/12"]},
        "token": bundle["secrets"]["bootstraptoken"],
        "ca": {"crt": certs["k8s"]["crt"], "key": certs["k8s"]["key"] if control_plane else ""},
        "discovery": {"enabled": True},
    }
    _node_fields(machine, tal, node)
    if (tal.get("cniConfig") or {}).get("name"):
        cluster["network"]["cni"] = {"name": tal["cniConfig"]["name"]}
    if control_plane:
        cluster.update({
            "secretboxEncryptionSecret": bundle["secrets"]["secretboxencryptionsecret"],
            "aggregatorCA": certs["k8saggregator"], "serviceAccount": certs["k8sserviceaccount"],
            "apiServer": {"image": f"registry.k8s.io/kube-apiserver:{k8s_v}",
                          "certSANs": [_host(tal["endpoint"]), *(tal.get("additionalApiServerCertSans") or [])]},
            "controllerManager": {"image": f"registry.k8s.io/kube-controller-manager:{k8s_v}"},
            "scheduler": {"image": f"registry.k8s.io/kube-scheduler:{k8s_v}"},
            "etcd": {"ca": certs["etcd"]},
            "allowSchedulingOnControlPlanes": bool(tal.get("allowSchedulingOnControlPlanes")),
        })
    return {"version": "v1alpha1", "debug": False, "persist": True, "machine": machine, "cluster": cluster}


# talconfig node field -> where talhelper puts it in the machine config (machine.<path>)
NODE_FIELDS = {"installDiskSelector": ("install", "diskSelector"), "nameservers": ("network", "nameservers"),
               "disableSearchDomain": ("network", "disableSearchDomain"), "machineDisks": ("disks",),
               "nodeLabels": ("nodeLabels",), "nodeAnnotations": ("nodeAnnotations",), "nodeTaints": ("nodeTaints",),
               "talosImageURL": ("install", "image")}


def _node_fields(machine: dict, tal: dict, node: dict) -> None:
    """Copy the documented node fields into the machine config where talhelper puts them."""
    for key, path in NODE_FIELDS.items():
        if node.get(key) in (None, "", [], {}):
            continue
        parent = machine
        for part in path[:-1]:
            parent = parent.setdefault(part, {})
        value = node[key]
        parent[path[-1]] = f"{value}:{_version(tal.get('talosVersion'), 'v1.8.3')}" if key == "talosImageURL" \
            else copy.deepcopy(value)
    if node.get("installDiskSelector"):
        machine["install"].pop("disk", None)
    modules = node.get("kernelModules") or []
    if modules:
        machine.setdefault("kernel", {})["modules"] = copy.deepcopy(modules)
    sans = [*(tal.get("additionalMachineCertSans") or []), *(node.get("certSANs") or [])]
    machine["certSANs"] = list(dict.fromkeys(map(str, sans)))


def _host(endpoint: str) -> str:
    return re.sub(r"^https?://|:\d+$", "", endpoint)


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge as Talos does for config patches: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(patch)


def json_patch(doc: dict, ops: list[dict]) -> dict:
    """RFC 6902 add/replace/remove, the other patch form talhelper accepts."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op.get("path", "")).split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        if op.get("op") == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), op.get("value"))
        else:
            parent[last] = op.get("value")
    return doc


def _patch_sources(tal: dict, node: dict) -> list[Any]:
    role = "controlPlane" if node.get("controlPlane") else "worker"
    return [*(tal.get("patches") or []), *((tal.get(role) or {}).get("patches") or []), *(node.get("patches") or [])]


def read_patch(entry: Any, base_dir: Path) -> Any:
    """One patch entry: inline YAML/mapping, or `@file` relative to the cwd or the config's folder."""
    if isinstance(entry, str) and entry.startswith("@"):
        path = Path(entry[1:])
        for candidate in (path, base_dir / path):
            if candidate.exists():
                return yaml.safe_load(candidate.read_text())
        raise ToolExit(f"failed to apply patches: open {path}: no such file or directory")
    return yaml.safe_load(entry) if isinstance(entry, str) else entry


def apply_patches(doc: dict, tal: dict, node: dict, base_dir: Path) -> dict:
    for entry in _patch_sources(tal, node):
        patch = read_patch(entry, base_dir)
        doc = json_patch(doc, patch) if isinstance(patch, list) else merge(doc, patch or {})
    return doc


def talosconfig(tal: dict, bundle: dict) -> dict:
    os_ca = {"crt": pki.unb64(bundle["certs"]["os"]["crt"]), "key": pki.unb64(bundle["certs"]["os"]["key"])}
    client = pki.issue(os_ca, "admin", ["os:admin"])
    addresses = [str(n["ipAddress"]) for n in tal["nodes"]]
    return {"context": tal["clusterName"],
            "contexts": {tal["clusterName"]: {"endpoints": addresses, "nodes": addresses,
                                              "ca": bundle["certs"]["os"]["crt"], "crt": pki.b64(client["crt"]),
                                              "key": pki.b64(client["key"])}}}


def _dump(path: Path, data: dict, private: bool = True) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(data, out, sort_keys=False)


def cmd_genconfig(args: list[str]) -> int:
    opts = parse(args, [Flag("config-file", "c", default="talconfig.yaml"),
                        Flag("secret-file", "s", kind="list", default=["talsecret.yaml"]),
                        Flag("out-dir", "o", default="./clusterconfig"), Flag("env-file", "e", kind="list"),
                        Flag("no-gitignore", kind="bool"), Flag("dry-run", "n", kind="bool"),
                        Flag("offline-mode", kind="bool"), Flag("talos-mode", "m", default="metal")], "talhelper")
    config_path = Path(str(opts.get("config-file")))
    env_files = opts.items("env-file")
    tal = load_talconfig(config_path, _env(env_files[-1] if env_files else None))
    secret_files = opts.items("secret-file") or ["talsecret.yaml"]
    bundle = load_secrets(Path(secret_files[-1])) if Path(secret_files[-1]).exists() or \
        opts.values["secret-file"] != ["talsecret.yaml"] else new_secrets()
    out = str(opts.get("out-dir")).rstrip("/")
    Path(out).mkdir(parents=True, exist_ok=True)
    written = []
    for node in tal["nodes"]:
        doc = apply_patches(machine_config(tal, node, bundle), tal, node, config_path.parent)
        name = f"{tal['clusterName']}-{node['hostname']}.yaml"
        _dump(Path(out) / name, doc)
        written.append(name)
        print(f"generated config for {node['hostname']} in {out}/{name}")
    _dump(Path(out) / "talosconfig", talosconfig(tal, bundle))
    written.append("talosconfig")
    print(f"generated client config in {out}/talosconfig")
    if not opts.get("no-gitignore"):
        (Path(out) / ".gitignore").write_text("".join(f"{name}\n" for name in written))
        print(f"generated .gitignore file in {out}/.gitignore")
    return 0


def cmd_gensecret(args: list[str]) -> int:
    parse(args, [Flag("from-configfile", "f"), Flag("patch-configfile", "p", "bool")], "talhelper")
    print(yaml.safe_dump(new_secrets(), sort_keys=False), end="")
    return 0


def cmd_validate(args: list[str]) -> int:
    if not args or args[0] not in ("talconfig", "tc", "nodeconfig", "nc"):
        raise ToolExit('Error: requires a subcommand: talconfig [file]')
    if args[0] in ("nodeconfig", "nc"):
        raise ToolExit("Error: `validate nodeconfig` is not emulated by the hops lab; use `talosctl validate`")
    opts = parse(args[1:], [Flag("env-file", "e", kind="list")], "talhelper")
    path = Path(opts.positionals[0] if opts.positionals else "talconfig.yaml")
    env_files = opts.items("env-file")
    load_talconfig(path, _env(env_files[-1] if env_files else None))
    print("Your talhelper config file is looking great!")
    return 0


def version() -> str:
    return ((lab_info(required=False) or {}).get("tool_versions") or {}).get("talhelper") or DEFAULT_VERSION


def handle(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("A tool to help create Talos cluster (hops lab emulation)\n\nAvailable Commands:\n"
              "  genconfig   Generate Talos cluster config YAML files\n  gensecret   Generate Talos cluster secrets\n"
              "  validate    Validate the correctness of talconfig or talos node config")
        return 0
    if argv[0] in ("--version", "-v", "version"):
        print(f"talhelper version {version()}")
        return 0
    commands = {"genconfig": cmd_genconfig, "gensecret": cmd_gensecret, "validate": cmd_validate}
    command = commands.get(argv[0])
    if command is None:
        raise ToolExit(f'Error: unknown command "{argv[0]}" for "talhelper"\nRun \'talhelper --help\' for usage.')
    return command(argv[1:])


def main(argv: list[str] | None = None) -> int:
    return run_tool("talhelper", handle, argv)


if __name__ == "__main__":
    raise SystemExit(main())
