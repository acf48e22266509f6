"""Which cluster a doit command works on: the configuration pair at the project root (the default cluster) or
`clusters/<name>/bootstrap-config.yaml` + `talconfig.yaml`.

Selection: the doit command-line variable `CLUSTER=<name>` > the environment's `HOPS_CLUSTER` > the default.
Cheap on purpose: doit needs the selected cluster's state folder to load the task list, before any configuration
is read (only the root file's `cluster.name` is looked at, and only when a name has to be matched or listed).
Relative paths inside a cluster's files (talos patches, infrastructure, values files) resolve from the project
root, as for the default cluster: the cluster folder holds only its two configuration files."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

CLUSTER_VAR = "CLUSTER"          # doit bootstrap_phased CLUSTER=staging
CLUSTER_ENV = "HOPS_CLUSTER"     # HOPS_CLUSTER=staging doit bootstrap_phased
CLUSTERS_DIR = "clusters"
DEFAULT = "default"              # always names the root pair, whatever its cluster.name
CONFIG_FILES = ("bootstrap-config.yaml", "talconfig.yaml")
# a cluster's state and lab live inside the default's folders: names those folders already use are refused
RESERVED = frozenset({DEFAULT, "logs", "diagnostics", "state", "bin", "op", "flux", "clusterconfig"})
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ClusterError(ValueError):
    """An unknown or unusable cluster selection; the message lists the known clusters."""


@dataclass(frozen=True)
class Cluster:
    """One cluster of the project: its name, where its configuration pair is, whether it is the root pair.
    The root pair's name (its cluster.name) is read only when asked for: loading the task list never needs it."""

    given_name: str | None = field(compare=False)  # None: the root pair's cluster.name, read on first use
    config_dir: Path
    is_default: bool

    @property
    def name(self) -> str:
        """The folder name under clusters/, or the root pair's cluster.name (`default` when it has none)."""
        if self.given_name is None:
            object.__setattr__(self, "given_name", _root_name(self.config_dir))
        return str(self.given_name)

    @property
    def key(self) -> str:
        """A stable name for the cluster's folders: `default` for the root pair (its cluster.name may change)."""
        return DEFAULT if self.is_default else self.name

    def config_file(self, name: str) -> Path:
        """`bootstrap-config.yaml` or `talconfig.yaml` of this cluster."""
        return self.config_dir / name

    def repository_file(self, root: Path, relative: str) -> Path:
        """A file of the repository: the cluster's own for the configuration pair, else under the project root."""
        return self.config_file(relative) if relative in CONFIG_FILES else root / relative

    def state_dir(self, root: Path) -> Path:
        """`.bootstrap-state/` for the default cluster, `.bootstrap-state/<name>/` for the others."""
        base = root / ".bootstrap-state"
        return (base if self.is_default else base / self.name).resolve()

    def lab_dir(self, root: Path) -> Path:
        """`.lab/` for the default cluster, `.lab/<name>/` for the others (HOPS_LAB_DIR overrides both)."""
        base = root / ".lab"
        return (base if self.is_default else base / self.name).resolve()


def requested(env: Mapping[str, str] | None = None, cli_vars: Mapping[str, str] | None = None) -> str:
    """The cluster name asked for (command line > environment), or "" for the default."""
    env = os.environ if env is None else env
    given = str((cli_vars or {}).get(CLUSTER_VAR, "")).strip()
    return given or str(env.get(CLUSTER_ENV, "")).strip()


def current(root: Path, env: Mapping[str, str] | None = None) -> Cluster:
    """The cluster this process works on: `select` with the doit command line's variables."""
    return select(root, env, command_line())


def command_line() -> dict[str, str]:
    """doit's command-line variables (hops.context.cli_vars reads the same table; empty outside a doit run). A
    process that has not imported doit runs no doit command (an emulated tool, the lab daemon): no variables,
    and no ~30 ms import of doit to find that out."""
    doit_cmd = sys.modules.get("doit.doit_cmd")
    return dict(getattr(doit_cmd, "_CMDLINE_VARS", None) or {})


def default_cluster(root: Path) -> Cluster:
    """The root pair, named by its cluster.name (or `default` when the file is missing or has none)."""
    return Cluster(None, root.resolve(), True)


def known(root: Path) -> list[Cluster]:
    """The default cluster, then every `clusters/<name>/` holding a bootstrap-config.yaml, by name."""
    found = [default_cluster(root)]
    folder = root / CLUSTERS_DIR
    if folder.is_dir():
        found += [Cluster(p.name, p.resolve(), False) for p in sorted(folder.iterdir())
                  if p.is_dir() and (p / CONFIG_FILES[0]).is_file()]
    return found


def select(root: Path, env: Mapping[str, str] | None = None, cli_vars: Mapping[str, str] | None = None) -> Cluster:
    """The selected cluster; raises ClusterError naming the known clusters when the name matches none."""
    name = requested(env, cli_vars)
    if not name or name == DEFAULT:
        return default_cluster(root)
    folder = root / CLUSTERS_DIR / name
    if (folder / CONFIG_FILES[0]).is_file():
        cluster = Cluster(name, folder.resolve(), False)
        _check_name(name, folder, [cluster.state_dir(root), cluster.lab_dir(root)])
        return cluster
    default = default_cluster(root)
    if name == default.name:
        return default
    raise ClusterError(f"unknown cluster {name!r} ({_origin(env, cli_vars)}); known clusters: {describe(root)}"
                       f" — a cluster is the root bootstrap-config.yaml or {CLUSTERS_DIR}/<name>/bootstrap-config.yaml"
                       " with its talconfig.yaml")


def describe(root: Path) -> str:
    """`homelab (default, ./bootstrap-config.yaml), staging (clusters/staging/)`."""
    parts = []
    for cluster in known(root):
        where = "default, root bootstrap-config.yaml" if cluster.is_default else f"{CLUSTERS_DIR}/{cluster.name}/"
        parts.append(f"{cluster.name} ({where})")
    return ", ".join(parts)


def refuse_reserved(cluster: Cluster, names: set[str]) -> None:
    """Raise ClusterError when a non-default cluster is called like one of `names` (the default cluster's marker
    files, which share the folder its state lives in)."""
    if not cluster.is_default and cluster.name in names:
        _check_name(cluster.name, cluster.config_dir, [], reserved=True)


def _check_name(name: str, folder: Path, own_folders: list[Path], reserved: bool = False) -> None:
    """Its state and lab folders sit beside the default cluster's files: a name one of those uses is refused."""
    taken = any(p.exists() and not p.is_dir() for p in own_folders)  # e.g. a marker file of the default cluster
    if not _LABEL.match(name) or name in RESERVED or taken or reserved:
        why = f"{name!r} is not a DNS-1123 label" if not _LABEL.match(name) else f"{name!r} is reserved"
        raise ClusterError(f"{folder}: {why} (its state lives in .bootstrap-state/{name}/ beside the default "
                           "cluster's files); rename the folder to a lowercase name such as 'staging'")


def _origin(env: Mapping[str, str] | None, cli_vars: Mapping[str, str] | None) -> str:
    if str((cli_vars or {}).get(CLUSTER_VAR, "")).strip():
        return f"command line {CLUSTER_VAR}"
    return f"environment {CLUSTER_ENV}"


def _root_name(root: Path) -> str:
    """cluster.name of the root bootstrap-config.yaml, read without validating it (the loader validates)."""
    import yaml

    try:
        # libyaml when present (a 50-node file: ~0.1 s less); only cluster.name is read, any error means DEFAULT
        data = yaml.load((root / CONFIG_FILES[0]).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, ValueError, yaml.YAMLError):
        return DEFAULT
    name = data.get("cluster", {}).get("name") if isinstance(data, dict) and isinstance(data.get("cluster"), dict) \
        else None
    return name if isinstance(name, str) and name.strip() else DEFAULT
