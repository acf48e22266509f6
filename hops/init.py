"""`doit bootstrap_init`: a guided start that writes a consistent bootstrap-config.yaml and talconfig.yaml.

On a terminal it asks for each answer (defaults in brackets: the given flags, else the existing valid
configuration, else hops's defaults), checks it at once and asks again with the reason (hops.init_answers), shows
a summary and asks before writing. For scripts, `--yes` with flags and/or `--answers FILE` (YAML, the flags'
names as keys) asks nothing: every problem is reported, one line each, and nothing is written.

The files are written to a temporary folder in the project, loaded there with hops's own configuration loader
(the same load_settings every step uses), and only then moved into place with os.replace (each file atomically;
the replaced ones are kept as *.bak). Nothing here contacts a machine or 1Password.

Run lock: bootstrap_init takes it (its task is not read-only). A bootstrap running in another terminal reads
these files while it runs (talhelper genconfig reads talconfig.yaml in phase 2, a nested `doit phaseN` of
force_phase or of --interactive loads the configuration again), so rewriting them under it would let one run
act on two configurations. It is refused at once with the holder's command line, before any question.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hops import init_answers as ans
from hops.config.errors import BOOTSTRAP_FILE, TALCONFIG_FILE, did_you_mean
from hops.errors import StepError

if TYPE_CHECKING:
    from hops.context import Context

T = TypeVar("T")
FILES = (BOOTSTRAP_FILE, TALCONFIG_FILE)
# (key in an answers file and task param name, long flag, help)
FLAGS: tuple[tuple[str, str, str], ...] = (
    ("cluster", "cluster", "cluster name (a DNS label)"),
    ("network", "network", "the control planes' network, CIDR (default: the /24 around the first one)"),
    ("vip", "vip", "control-plane virtual IP in that network, or none"),
    ("endpoint", "endpoint", "Kubernetes API URL (default: https://<vip or first control plane>:6443)"),
    ("op_account", "op-account", "1Password account"),
    ("op_vault", "op-vault", "1Password vault with the cluster secrets"),
    ("repo", "repo", "GitOps repository on GitHub, owner/name"),
    ("branch", "branch", "branch Flux follows"),
    ("path", "path", "the cluster's folder in the GitOps repository"),
)
NODE_KEY = "nodes"
PARAMS: list[dict[str, Any]] = [
    {"name": key, "long": flag, "type": str, "default": "", "help": help_} for key, flag, help_ in FLAGS
] + [
    {"name": "node", "long": "node", "type": list, "default": [],
     "help": f"a node, {ans.NODE_FORMAT}; repeat for each node"},
    {"name": "answers", "long": "answers", "type": str, "default": "",
     "help": "YAML file with the answers (keys: cluster, nodes, network, vip, endpoint, op_account, op_vault, "
             "repo, branch, path); flags win over it"},
    {"name": "yes", "long": "yes", "short": "y", "type": bool, "default": False,
     "help": "ask nothing: take the flags/answers file (and defaults), overwrite existing files"},
]


def bootstrap_init(ctx: Context, model: Any, yes: bool, node: list[str], answers: str, **flags: str) -> None:
    """`doit bootstrap_init`: see the module docstring."""
    if not ctx.cluster.is_default:  # it writes the root pair; another cluster's pair is a copy in its folder
        raise StepError(f"bootstrap_init writes the root {BOOTSTRAP_FILE} and {TALCONFIG_FILE} (the default cluster);"
                        f" for cluster {ctx.cluster.name}, edit {ctx.cluster.config_dir}/{BOOTSTRAP_FILE} and "
                        f"{TALCONFIG_FILE} (copied from the root pair), or run bootstrap_init without CLUSTER=")
    given = _given(ctx.root, answers, flags, node)
    base, defaults = existing(ctx.root)
    terminal = bool(sys.stdin) and sys.stdin.isatty()
    if not yes and not terminal:
        raise StepError("no terminal to ask on and no --yes; give the answers as flags (--cluster, "
                        "--node, --vip, --op-account, --op-vault, --repo, ...) or --answers FILE, and pass --yes")
    result = ask_all(given, defaults) if not yes else from_given(given, defaults)
    from hops.init_files import bootstrap_config, merged_config, talconfig

    config = merged_config(result, base)
    texts = {BOOTSTRAP_FILE: bootstrap_config(config), TALCONFIG_FILE: talconfig(config, ctx.root)}
    print(summary(result, ctx.root))
    present = [name for name in FILES if (ctx.root / name).exists()]
    if not yes and not _confirm_write(present):
        raise StepError("cancelled: nothing was written")
    write(ctx.root, texts)
    _announce(ctx, present)


# --- where the answers come from --------------------------------------------------------------------------------
Given = dict[str, tuple[Any, str]]  # key -> (value, where it came from: a flag or file:key)


def _given(root: Path, answers_file: str, flags: dict[str, str], nodes: list[str]) -> Given:
    given = read_answers(root / answers_file if answers_file else None)
    for key, flag, _ in FLAGS:
        if flags.get(key, "").strip():
            given[key] = (flags[key].strip(), f"--{flag}")
    if nodes:
        given[NODE_KEY] = (list(nodes), "--node")
    return given


def read_answers(path: Path | None) -> Given:
    """The answers file's values, each labelled `FILE: key` for messages; StepError naming the file otherwise."""
    if path is None:
        return {}
    from hops.config.yamlio import parse_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StepError(f"--answers {path}: cannot be read ({exc}); expected a YAML file with the answers") from None
    data, problems = parse_yaml(text, str(path))
    if problems:
        raise StepError("\n".join(str(p) for p in problems))
    if not isinstance(data, dict):
        raise StepError(f"{path}: expected a mapping of answers (keys: {', '.join(_keys())})")
    unknown = [str(k) for k in data if k not in _keys()]
    if unknown:
        raise StepError("\n".join(f"{path}: {k}: unknown key{did_you_mean(k, _keys())}" for k in unknown))
    out: Given = {}
    for key, value in data.items():
        if value is None:
            continue
        if key == NODE_KEY:
            out[key] = (_node_entries(path, value), f"{path}: {NODE_KEY}")
        elif isinstance(value, (dict, list)):
            raise StepError(f"{path}: {key}: expected a single value, got a {type(value).__name__}")
        else:
            out[key] = (str(value).strip(), f"{path}: {key}")
    return out


def _keys() -> list[str]:
    return [key for key, _, _ in FLAGS] + [NODE_KEY]


def _node_entries(path: Path, value: Any) -> list[str]:
    """nodes: a list of NAME:ROLE:ADDRESS strings or {name, role, address} mappings (as in bootstrap-config)."""
    if not isinstance(value, list):
        raise StepError(f"{path}: {NODE_KEY}: expected a list of nodes ({ans.NODE_FORMAT}, or name/role/address)")
    entries = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            extra = set(item) - {"name", "role", "address"}
            if extra or not {"name", "address"} <= set(item):
                raise StepError(f"{path}: {NODE_KEY}[{index}]: expected the keys name, role, address")
            item = f"{item['name']}:{item.get('role', 'controlplane')}:{item['address']}"
        entries.append(str(item))
    return entries


def existing(root: Path) -> tuple[dict[str, Any], ans.Answers]:
    """The existing configuration's mapping and its answers, when both files load; else ({}, hops's defaults).
    Environment overrides are left out: the defaults are what the files say."""
    from hops.config import ConfigError, load_settings

    try:
        settings = load_settings(root, cli_vars={}, env={})
    except ConfigError:
        return {}, ans.Answers()
    import yaml

    c = settings.config
    found = ans.Answers(c.cluster.name, [ans.NodeAnswer(n.name, n.role, n.address) for n in c.network.nodes], "",
                      c.network.vip, c.cluster.endpoint, c.onepassword.account, c.onepassword.vault,
                      c.gitops.owner, c.gitops.repository, c.gitops.branch, c.gitops.path,
                      c.network.pod_cidr, c.network.service_cidr)
    found.network = ans.default_network(found.nodes)
    if found.vip and not _fits(found.vip, found):
        found.network = ""  # the guessed /24 does not hold the VIP: no network default rather than a wrong one
    return yaml.safe_load((root / BOOTSTRAP_FILE).read_text()) or {}, found


# --- asking -------------------------------------------------------------------------------------------------------
def ask(question: str, default: str, check: Callable[[str], T]) -> T:
    """Ask until `check` accepts the answer (Enter takes the default); its reason is shown before asking again."""
    while True:
        try:
            text = input(f"{question}{f' [{default}]' if default else ''}: ").strip() or default
        except EOFError:
            print()
            raise StepError("cancelled (end of input): nothing was written") from None
        if not text:
            print("  an answer is needed here")
            continue
        try:
            return check(text)
        except ans.AnswerError as exc:
            print(f"  {exc}")


def _default(given: Given, key: str, fallback: str) -> str:
    return str(given[key][0]) if key in given else fallback


def ask_all(given: Given, defaults: ans.Answers) -> ans.Answers:
    """Every answer from the terminal, in order, each checked as it is given."""
    print("bootstrap_init: the answers become bootstrap-config.yaml and talconfig.yaml. Enter takes [the default].")
    out = ans.Answers(pod_cidr=defaults.pod_cidr, service_cidr=defaults.service_cidr)
    out.cluster = ask("Cluster name", _default(given, "cluster", defaults.cluster or "home-ops"), ans.cluster_name)
    out.nodes = _ask_nodes(given, defaults, out)
    out.network = ask("Network the control planes share (CIDR)",
                      _default(given, "network", network_default(defaults, out.nodes)),
                      lambda t: ans.network(t, out))
    vip = _default(given, "vip", defaults.vip or "")
    out.vip = ask(f"Control-plane virtual IP, a free address in {out.network} ('{ans.NO_VIP}' for none)",
                  vip if vip and _fits(vip, out) else ans.NO_VIP, lambda t: ans.vip(t, out))
    out.endpoint = ask("Kubernetes API endpoint", _default(given, "endpoint", ans.default_endpoint(out)), ans.endpoint)
    out.op_account = ask("1Password account", _default(given, "op_account", defaults.op_account or
                                                        "my.1password.com"), ans.text_value)
    out.op_vault = ask("1Password vault with the cluster secrets",
                       _default(given, "op_vault", defaults.op_vault or "homelab"), ans.text_value)
    out.owner, out.repository = ask("GitOps repository on GitHub (owner/name)",
                                    _default(given, "repo", defaults.repo), ans.repository)
    out.branch = ask("Branch Flux follows", _default(given, "branch", defaults.branch or "main"), ans.branch)
    path = defaults.path if defaults.path and defaults.cluster == out.cluster else ans.default_path(out.cluster)
    out.path = ask("Cluster folder in the repository", _default(given, "path", path), ans.repo_path)
    return out


def network_default(defaults: ans.Answers, nodes: list[ans.NodeAnswer]) -> str:
    """The existing configuration's network when it holds the new control planes, else the guess around them."""
    try:
        return ans.network(defaults.network, ans.Answers(nodes=nodes)) if defaults.network else ans.default_network(nodes)
    except ans.AnswerError:
        return ans.default_network(nodes)


def _fits(vip: str, answers: ans.Answers) -> bool:
    try:
        ans.vip(vip, answers)
    except ValueError:  # AnswerError, or no network to check against
        return False
    return True


def _ask_nodes(given: Given, defaults: ans.Answers, out: ans.Answers) -> list[ans.NodeAnswer]:
    preset = _preset_nodes(given, defaults)
    count = ask("How many nodes", str(len(preset) or 1), _node_count)
    nodes: list[ans.NodeAnswer] = []
    for number in range(1, count + 1):
        hint = preset[number - 1] if number <= len(preset) else None
        name = ask(f"Node {number} name", hint.name if hint else f"talos-node-{number}",
                   lambda t: ans.node_name(t, nodes))
        role = ask(f"Node {number} role (controlplane/worker)", hint.role if hint else "controlplane",
                   partial(ans.role, earlier=nodes, last=number == count))
        address = ask(f"Node {number} address", hint.address if hint else "", lambda t: ans.address(t, nodes, out))
        nodes.append(ans.NodeAnswer(name, role, address))
    return nodes


def _preset_nodes(given: Given, defaults: ans.Answers) -> list[ans.NodeAnswer]:
    """The nodes of the flags/answers file as defaults for the questions (parts only, unchecked)."""
    if NODE_KEY not in given:
        return defaults.nodes
    preset = []
    for text in given[NODE_KEY][0]:
        cut = min((i for i in (text.find(":"), text.find("=")) if i >= 0), default=-1)
        parts = text.split(text[cut], 2) if cut >= 0 else []
        if len(parts) == 3:
            preset.append(ans.NodeAnswer(*parts))
    return preset


def _node_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise ans.AnswerError(f"{text!r} is not a number of nodes (expected 1 to 64)")
    return int(text)


# --- without asking -----------------------------------------------------------------------------------------------
def from_given(given: Given, defaults: ans.Answers) -> ans.Answers:
    """The answers from flags/answers file, defaults filling the rest; StepError with every problem, one a line."""
    problems: list[str] = []
    out = ans.Answers(pod_cidr=defaults.pod_cidr, service_cidr=defaults.service_cidr)

    def take(key: str, fallback: str, check: Callable[[str], T], required: str = "") -> T | None:
        flag = f"--{key.replace('_', '-')}"
        value, label = given.get(key, (fallback, f"{flag} not given, and its default {fallback!r}"))
        if not value:  # no default because an earlier answer is wrong: that one is reported
            if required:
                problems.append(f"{flag} is required ({required})")
            return None
        try:
            return check(str(value))
        except ans.AnswerError as exc:
            problems.append(f"{label}: {exc}")
            return None

    out.cluster = take("cluster", defaults.cluster or "home-ops", ans.cluster_name) or ""
    out.nodes = _given_nodes(given, defaults, out, problems)
    if out.nodes and not any(n.is_control_plane for n in out.nodes):
        problems.append("--node: no node is a control plane (expected at least one)")
    if out.control_planes:
        out.network = take("network", network_default(defaults, out.nodes),
                           lambda t: ans.network(t, out)) or ""
    if out.network:
        out.vip = take("vip", defaults.vip or ans.NO_VIP, lambda t: ans.vip(t, out))
    if out.control_planes or "endpoint" in given:
        out.endpoint = take("endpoint", ans.default_endpoint(out), ans.endpoint) or ""
    out.op_account = take("op_account", defaults.op_account or "my.1password.com", ans.text_value) or ""
    out.op_vault = take("op_vault", defaults.op_vault or "homelab", ans.text_value) or ""
    out.owner, out.repository = take("repo", defaults.repo, ans.repository, "owner/name on GitHub") or ("", "")
    out.branch = take("branch", defaults.branch or "main", ans.branch) or ""
    path = defaults.path if defaults.path and defaults.cluster == out.cluster else ans.default_path(out.cluster)
    out.path = take("path", path, ans.repo_path) or ""
    if problems:
        raise StepError("nothing was written:\n" + "\n".join(f"  {p}" for p in problems))
    return out


def _given_nodes(given: Given, defaults: ans.Answers, out: ans.Answers, problems: list[str]) -> list[ans.NodeAnswer]:
    if NODE_KEY not in given:
        if not defaults.nodes:
            problems.append(f"--node is required ({ans.NODE_FORMAT}; repeat it for each node)")
        return list(defaults.nodes)
    entries, label = given[NODE_KEY]
    nodes: list[ans.NodeAnswer] = []
    for index, text in enumerate(entries):
        where = f"--node {text!r}" if label == "--node" else f"{label}[{index}]"
        try:
            nodes.append(ans.parse_node(text, nodes, out, last=False))
        except ans.AnswerError as exc:
            problems.append(f"{where}: {exc}")
    return nodes


# --- showing and writing -----------------------------------------------------------------------------------------
def summary(a: ans.Answers, root: Path) -> str:
    """What will be written, in words."""
    width = max(len(n.name) for n in a.nodes)
    nodes = "\n".join(f"    {n.name:<{width}}  {n.role:<12}  {n.address}" for n in a.nodes)
    return (f"\nbootstrap_init will write {root / BOOTSTRAP_FILE} and {root / TALCONFIG_FILE}:\n"
            f"  cluster    {a.cluster}  (endpoint {a.endpoint})\n"
            f"  nodes      {len(a.control_planes)} control plane(s), {len(a.nodes) - len(a.control_planes)} "
            f"worker(s) in {a.network or 'their network'}\n{nodes}\n"
            f"  VIP        {a.vip or 'none'}\n"
            f"  1Password  account {a.op_account}, vault {a.op_vault}\n"
            f"  GitOps     github.com/{a.repo}, branch {a.branch}, path {a.path}\n"
            f"  talconfig  each node installs to /dev/sda with eth0 on DHCP, as in the example: edit "
            f"{TALCONFIG_FILE} if your machines differ\n")


def _confirm_write(present: list[str]) -> bool:
    replace = f" (replacing {' and '.join(present)}; the old ones are kept as *.bak)" if present else ""
    try:
        return input(f"Write these files{replace}? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def write(root: Path, texts: dict[str, str]) -> None:
    """Write the files into a temporary folder, load them with hops's loader there, then move them into place."""
    from hops.config import ConfigError, load_settings

    staging = Path(tempfile.mkdtemp(prefix=".hops-init-", dir=root))
    try:
        for name, text in texts.items():
            (staging / name).write_text(text, encoding="utf-8")
        try:
            load_settings(staging, cli_vars={}, env={})
        except ConfigError as exc:  # the answers were checked one by one: this is a bug in bootstrap_init
            raise StepError(f"the files made from the answers do not load, nothing was written (a bug in hops, "
                            f"please report it):\n{exc}") from None
        for name in texts:
            target = root / name
            if target.exists():
                shutil.copy2(target, target.with_name(name + ".bak"))
                shutil.copymode(target, staging / name)
            os.replace(staging / name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _announce(ctx: Context, replaced: list[str]) -> None:
    from hops.config import overrides

    kept = f" (the previous {' and '.join(replaced)} kept as *.bak)" if replaced else ""
    print(f"wrote {ctx.root / BOOTSTRAP_FILE} and {ctx.root / TALCONFIG_FILE}{kept}; both load with hops's "
          "configuration loader (`python -m hops.config check` says so too).")
    applied = overrides.collect(ctx.cli_vars, ctx.env)
    if applied:
        print("note: these override variables are set and win over the files: "
              + ", ".join(f"{o.variable} ({o.origin})" for o in applied))
    print("next: rehearse on the lab:   HOPS_LAB=1 doit bootstrap_phased\n"
          "      then the real cluster: doit plan, then doit bootstrap_phased (--interactive asks before each phase)")
