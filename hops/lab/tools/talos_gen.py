"""talosctl's offline generators: `gen secrets` and `gen config <cluster> <endpoint>`, plus `services`.

The files are shaped like the real ones (secrets.yaml; controlplane.yaml, worker.yaml, talosconfig) and made from
the same secrets bundle and machine-config builder as the lab's talhelper, so the lab's nodes accept them and
trust the talosconfig's client certificate. Like the real talosctl, a generated talosconfig points at 127.0.0.1
with no nodes: the user sets endpoints and nodes with `talosctl config endpoint/node` (or --talosconfig edits).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import yaml

from hops.lab.tools import talhelper
from hops.lab.tools.common import ToolExit
from hops.lab.tools.flags import Flag, Parsed, parse

OUTPUT_TYPES = ("controlplane", "worker", "talosconfig")
GEN_CONFIG_FLAGS = [
    Flag("output", "o"), Flag("output-types", "t", "list"), Flag("with-secrets"),     # -t replaces the default
    Flag("install-disk", default="/dev/sda"), Flag("install-image"), Flag("kubernetes-version"),
    Flag("talos-version"), Flag("config-patch", kind="list"), Flag("config-patch-control-plane", kind="list"),
    Flag("config-patch-worker", kind="list"), Flag("additional-sans", kind="list"), Flag("dns-domain"),
    Flag("force", "f", "bool"), Flag("with-docs", kind="bool", default=True),
    Flag("with-examples", kind="bool", default=True), Flag("with-cluster-discovery", kind="bool", default=True),
    Flag("with-kubespan", kind="bool"), Flag("persist", "p", "bool", True), Flag("registry-mirror", kind="list"),
]


def _write(path: Path, data: dict, force: bool) -> None:
    if path.exists() and not force:
        raise ToolExit(f"{path} already exists, use --force to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(data, out, sort_keys=False)


def cmd_gen(flags: Parsed, args: list[str]) -> int:
    """`talosctl gen secrets|config`; other generators (ca, key, crt, csr, keypair) are not emulated."""
    sub = args[0] if args else ""
    if sub == "secrets":
        return _gen_secrets(args[1:])
    if sub == "config":
        return _gen_config(args[1:])
    if not sub:
        raise ToolExit("Error: talosctl gen requires a subcommand: config, secrets")
    raise ToolExit(f'Error: unknown command "{sub}" for "talosctl gen"\nRun \'talosctl gen --help\' for usage.')


def _gen_secrets(args: list[str]) -> int:
    opts = parse(args, [Flag("output-file", "o", default="secrets.yaml"), Flag("force", "f", "bool"),
                        Flag("from-controlplane-config"), Flag("from-kubernetes-pki", "p"),
                        Flag("kubernetes-bootstrap-token", "t"), Flag("talos-version")], "talosctl")
    if opts.positionals:
        raise ToolExit(f'Error: unknown command "{opts.positionals[0]}" for "talosctl gen secrets"')
    _write(Path(str(opts.get("output-file"))), talhelper.new_secrets(), bool(opts.get("force")))
    return 0


def _gen_config(args: list[str]) -> int:
    opts = parse(args, GEN_CONFIG_FLAGS, "talosctl")
    if len(opts.positionals) != 2:
        raise ToolExit(f"Error: accepts 2 arg(s), received {len(opts.positionals)}")
    cluster, endpoint = opts.positionals
    if not re.match(r"^https://[^/\s]+(:\d+)?/?$", endpoint):
        raise ToolExit(f'Error: failed to generate config bundle: invalid endpoint URL "{endpoint}": '
                       'the endpoint must be an https:// URL, e.g. https://192.168.0.10:6443')
    types = opts.items("output-types") or list(OUTPUT_TYPES)
    unknown = [t for t in types if t not in OUTPUT_TYPES]
    if unknown:
        raise ToolExit(f'Error: unknown output type: "{unknown[0]}"')
    secrets_file = opts.text("with-secrets")
    bundle = talhelper.load_secrets(Path(secrets_file)) if secrets_file else None
    if secrets_file is None:
        print("generating PKI and tokens", file=sys.stderr)
        bundle = talhelper.new_secrets()
    assert bundle is not None
    out = Path(opts.text("output") or ".")
    single = len(types) == 1 and opts.text("output") not in (None, "") and not out.is_dir()
    for kind in types:
        doc = _document(kind, cluster, endpoint, bundle, opts)
        if single and str(out) == "-":
            sys.stdout.write(yaml.safe_dump(doc, sort_keys=False))
            continue
        path = out if single else out / (kind if kind == "talosconfig" else f"{kind}.yaml")
        _write(path, doc, bool(opts.get("force")))
        print(f"Created {path}", file=sys.stderr)
    return 0


def _document(kind: str, cluster: str, endpoint: str, bundle: dict, opts: Parsed) -> dict:
    if kind == "talosconfig":
        made = talhelper.talosconfig({"clusterName": cluster, "nodes": []}, bundle)
        made["contexts"][cluster]["endpoints"] = ["127.0.0.1"]
        del made["contexts"][cluster]["nodes"]
        return made
    tal = {"clusterName": cluster, "endpoint": endpoint, "talosVersion": opts.text("talos-version"),
           "kubernetesVersion": opts.text("kubernetes-version"), "domain": opts.text("dns-domain"),
           "additionalApiServerCertSans": opts.items("additional-sans")}
    node = {"hostname": "", "controlPlane": kind == "controlplane", "installDisk": opts.text("install-disk")}
    doc = talhelper.machine_config(tal, node, bundle)
    del doc["machine"]["network"]["hostname"]          # gen config leaves the hostname to DHCP / the user
    if opts.text("install-image"):
        doc["machine"]["install"]["image"] = opts.text("install-image")
    patches = opts.items("config-patch") + opts.items(
        "config-patch-control-plane" if kind == "controlplane" else "config-patch-worker")
    for entry in patches:
        patch = talhelper.read_patch(entry, Path.cwd())
        doc = talhelper.json_patch(doc, patch) if isinstance(patch, list) else talhelper.merge(doc, patch or {})
    return doc


