"""The two files `doit bootstrap_init` writes, as text: bootstrap-config.yaml and talconfig.yaml.

They follow the committed example's layout and comments. talconfig.yaml keeps the example's `${VAR:-default}`
substitutions (hops passes its resolved overrides to talhelper), so `doit bootstrap_phased NODE_1_IP=…` and the
other overrides keep changing both files consistently. Settings bootstrap_init does not ask about (versions, item
names, timeouts, tools …) come from the existing configuration when it is valid, else from hops's defaults.
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from pathlib import Path

    from hops.config.model import BootstrapConfig
    from hops.init_answers import Answers

PATCH = "cluster.yaml"  # the example's cluster-wide patch under talos.patches_dir


def scalar(value: Any) -> str:
    """A YAML scalar that reads back as exactly `value` (quoted only where YAML would change it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    text = str(value)
    plain = text and text == text.strip() and not text.startswith(("@", "`", "*", "&", "!", "%", "{", "[", "'", '"'))
    try:
        if plain and yaml.safe_load(text) == text and "#" not in text and ": " not in text:
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def merged_config(answers: Answers, base: dict[str, Any]) -> BootstrapConfig:
    """The whole configuration: `base` (the existing file's mapping, or {}) with every answer written in."""
    from hops.config.model import BootstrapConfig

    data = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
    data["cluster"] = {**data.get("cluster", {}), "name": answers.cluster, "endpoint": answers.endpoint}
    network = {**data.get("network", {}), "nodes": [
        {"name": n.name, "address": n.address, "role": n.role} for n in answers.nodes]}
    network.pop("vip", None)
    if answers.vip:
        network["vip"] = answers.vip
    data["network"] = network
    data["onepassword"] = {**data.get("onepassword", {}), "account": answers.op_account, "vault": answers.op_vault}
    data["gitops"] = {**data.get("gitops", {}), "owner": answers.owner, "repository": answers.repository,
                      "branch": answers.branch, "path": answers.path}
    return BootstrapConfig.model_validate(data)


def bootstrap_config(config: BootstrapConfig) -> str:
    """bootstrap-config.yaml for `config`: the example's layout, plus every setting the layout does not name (hooks,
    checks, newer fields), so nothing of an existing configuration is dropped. If the text does not read back as
    exactly `config`, a plain dump of it is written instead (no comments, nothing lost)."""
    from hops.config.model import BootstrapConfig

    text = _with_unlisted(_layout(config), config)
    if BootstrapConfig.model_validate(yaml.safe_load(text)) == config:
        return text
    return HEADER + yaml.safe_dump(config.model_dump(mode="json", exclude_defaults=True), sort_keys=False)


HEADER = ("# hops bootstrap configuration (validated by hops.config; see README \"Configuration\").\n"
          "# Written by `doit bootstrap_init`; edit freely (`python -m hops.config check` validates it).\n")


def _with_unlisted(text: str, config: BootstrapConfig) -> str:
    """`text` with the non-default settings it does not contain: new sections at the end, new keys of a section
    right under its header."""
    written = yaml.safe_load(text)
    for section, value in config.model_dump(mode="json", exclude_defaults=True).items():
        if section not in written:
            text += "\n" + yaml.safe_dump({section: value}, sort_keys=False)
        elif isinstance(value, dict):
            missing = {key: item for key, item in value.items() if key not in (written[section] or {})}
            if missing:
                block = "".join(f"  {line}\n" for line in yaml.safe_dump(missing, sort_keys=False).splitlines())
                text = text.replace(f"\n{section}:\n", f"\n{section}:\n{block}", 1)
    return text


def _layout(config: BootstrapConfig) -> str:
    """The example's layout and comments, filled in from `config`."""
    c, net, op, tal, boot = config.cluster, config.network, config.onepassword, config.talos, config.bootstrap
    nodes = "".join(f"    - name: {scalar(n.name)}\n      address: {scalar(n.address)}\n      role: {n.role}\n"
                    for n in net.nodes)
    vip = f"  vip: {scalar(net.vip)}\n" if net.vip else "  # vip: none (the endpoint is the first control plane)\n"
    timeouts = "".join(f"    {name}: {scalar(getattr(boot.timeouts, name))}\n"
                       for name in type(boot.timeouts).model_fields)
    required = "".join(f"    {name}: {json.dumps(version)}\n" for name, version in config.tools.required.items())
    g = config.gitops
    return f"""\
# hops bootstrap configuration (validated by hops.config; see README "Configuration").
# Written by `doit bootstrap_init`; edit freely (`python -m hops.config check` validates it).
# Precedence: doit command-line variables > environment variables > this file > defaults.
cluster:
  name: {scalar(c.name)}
  endpoint: {scalar(c.endpoint)}
  domain: {scalar(c.domain)}

network:
{vip}  pod_cidr: {net.pod_cidr}
  service_cidr: {net.service_cidr}
  nodes:
{nodes}
onepassword:
  account: {scalar(op.account)}
  vault: {scalar(op.vault)}
  items:
    talos_secrets: {scalar(op.items.talos_secrets)}                        # field "secrets": the talhelper secrets bundle (YAML)
    connect_credentials: {scalar(op.items.connect_credentials)}  # field "credentials": 1password-credentials.json (version 2)
    connect_token: {scalar(op.items.connect_token)}                # field "token"
    github_token: {scalar(op.items.github_token)}                          # field "token": used by flux bootstrap

talos:
  version: {scalar(tal.version)}
  kubernetes_version: {scalar(tal.kubernetes_version)}
  config_dir: {scalar(tal.config_dir)}          # talhelper genconfig output (git-ignored)
  talosconfig: {scalar(tal.talosconfig)}
  kubeconfig: {scalar(tal.kubeconfig)}
  secrets_file: {scalar(tal.secrets_file)}   # local copy of the secrets bundle, mode 0600, git-ignored
  patches_dir: {scalar(tal.patches_dir)}

networking:
  cilium_values: {scalar(config.networking.cilium_values)}
  kube_proxy_replacement: {scalar(config.networking.kube_proxy_replacement)}

gitops:
  owner: {scalar(g.owner)}
  repository: {scalar(g.repository)}
  branch: {scalar(g.branch)}
  path: {scalar(g.path)}
  namespace: {scalar(g.namespace)}
  personal: {scalar(g.personal)}

bootstrap:
  timeouts:            # seconds per phase, each wait inside a phase also ends at its phase's deadline
{timeouts}  retry:              # transient failures (API unavailable, timeouts, connection refused) of retry-safe calls
    attempts: {boot.retry.attempts}        # tries outside a bootstrap step (status, operations); inside one: until the phase deadline
    delay: {scalar(boot.retry.delay)}           # seconds before a command's first retry; doubles each time, up to 30
  check_interval: {scalar(boot.check_interval)}    # at most this many seconds between re-checks where no watch exists
  command_timeout: {scalar(boot.command_timeout)} # seconds for one external command
  log_dir: {scalar(boot.log_dir)}        # inside the state dir

tools:
  use_mise: {scalar(config.tools.use_mise)}       # run every tool as `mise exec -- <tool> ...`
  required:            # Phase 1 requires these tools at exactly these versions
{required}"""


def talconfig(config: BootstrapConfig, root: Path) -> str:
    """talconfig.yaml for `config` (talhelper's format), with the example's ${VAR:-default} substitutions."""
    c, net = config.cluster, config.network
    patch = config.talos.patches_dir / PATCH
    patches = f'patches:\n  - "@./{patch.as_posix()}"\n' if (root / patch).is_file() else \
        f"patches: []   # no {patch.as_posix()} in this project; list talhelper patches here\n"
    workers = any(not n.is_control_plane for n in net.nodes)
    nodes = "".join(_tal_node(number, node, net.vip) for number, node in enumerate(net.nodes, start=1))
    return f"""\
# talhelper configuration (https://budimanjojo.github.io/talhelper/): `talhelper genconfig` turns it into
# per-node Talos machine configs. Cross-checked by hops against bootstrap-config.yaml.
# ${{VAR:-default}} is talhelper's environment substitution: hops passes its overrides (CLUSTER_NAME=…,
# NODE_1_IP=…, see README "Overrides") to talhelper, so one override changes both files consistently.
# Written by `doit bootstrap_init`: installDisk and the interfaces are the example's; check them for your machines.
clusterName: ${{CLUSTER_NAME:-{c.name}}}
talosVersion: {scalar(config.talos.version)}
kubernetesVersion: {scalar(config.talos.kubernetes_version)}
endpoint: ${{CLUSTER_ENDPOINT:-{c.endpoint}}}
domain: {scalar(c.domain)}
allowSchedulingOnControlPlanes: {scalar(not workers)}
clusterPodNets:
  - {net.pod_cidr}
clusterSvcNets:
  - {net.service_cidr}
cniConfig:
  name: none
{patches}nodes:
{nodes}"""


def _tal_node(number: int, node: Any, vip: str | None) -> str:
    ip = ipaddress.ip_address(node.address)
    shared = f"        vip:\n          ip: ${{CLUSTER_VIP:-{vip}}}\n" if vip and node.is_control_plane else ""
    return (f"  - hostname: ${{NODE_{number}_NAME:-{node.name}}}\n"
            f"    ipAddress: ${{NODE_{number}_IP:-{ip}}}\n"
            f"    controlPlane: {scalar(node.is_control_plane)}\n"
            "    installDisk: /dev/sda\n"
            "    networkInterfaces:\n"
            "      - interface: eth0\n"
            "        dhcp: true\n"
            f"{shared}")
