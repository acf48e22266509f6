"""Where the lab keeps things. Shared by the lab daemon, its lifecycle commands and the emulated tools."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hops.clusters import Cluster


class LabLayout:
    """Paths inside one lab folder (default `<project>/.lab`, or HOPS_LAB_DIR). A plain value class, not a
    dataclass: every emulated tool imports this module, and `dataclasses` costs each tool process ~14 ms."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabLayout) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"LabLayout(root={self.root!r})"

    @classmethod
    def from_env(cls, project_root: Path | None = None, env: Mapping[str, str] | None = None,
                 cluster: Cluster | None = None) -> LabLayout:
        """HOPS_LAB_DIR (the lab's tools and daemon always get it), else the cluster's own `.lab/` folder:
        `.lab/` for the default cluster, `.lab/<name>/` for the others (hops.clusters)."""
        env = os.environ if env is None else env
        explicit = env.get("HOPS_LAB_DIR")
        if explicit:
            return cls(Path(explicit).resolve())
        root = project_root or Path.cwd()
        if cluster is None:
            from hops.clusters import current

            cluster = current(root, env)
        return cls(cluster.lab_dir(root))

    def claim(self, cluster_key: str) -> None:
        """Record which cluster this lab belongs to; raise hops.clusters.ClusterError if it is another's."""
        from hops.clusters import ClusterError

        owner_file = self.owner_file
        try:
            owner = owner_file.read_text().strip()
        except FileNotFoundError:
            self.root.mkdir(parents=True, exist_ok=True)
            owner_file.write_text(cluster_key + "\n")
            return
        if owner != cluster_key:
            raise ClusterError(f"the lab in {self.root} belongs to cluster {owner!r}, not {cluster_key!r}: give each "
                               "cluster its own HOPS_LAB_DIR (or unset it: each cluster then has .lab/<name>/)")

    @property
    def owner_file(self) -> Path:         # the cluster this lab belongs to (claim)
        return self.root / "cluster"

    @property
    def info_file(self) -> Path:          # written by the running daemon: pid, ports, node endpoints
        return self.root / "lab.json"

    @property
    def state_dir(self) -> Path:          # hops' own state (markers, doit DB, logs) in lab mode
        return self.root / "state"

    @property
    def cluster_dir(self) -> Path:        # talhelper output, talosconfig, kubeconfig in lab mode
        return self.root / "clusterconfig"

    @property
    def bin_dir(self) -> Path:            # emulated tools, first on PATH in lab mode
        return self.root / "bin"

    @property
    def sim_state_file(self) -> Path:     # the simulated cluster, persisted across lab_down/lab_up
        return self.root / "sim-state.json"

    @property
    def vault_file(self) -> Path:         # the emulated 1Password vault
        return self.root / "op" / "vault.json"

    @property
    def op_session_file(self) -> Path:    # which account `op` is signed in to
        return self.root / "op" / "session.json"

    @property
    def faults_file(self) -> Path:
        return self.root / "faults.json"

    @property
    def calls_file(self) -> Path:         # one JSON line per emulated tool call (tool, argv, exit code)
        return self.root / "calls.jsonl"

    @property
    def daemon_log(self) -> Path:
        return self.root / "daemon.log"

    def read_info(self) -> dict | None:
        """The running lab's lab.json, or None when the lab was never started or is down."""
        try:
            return json.loads(self.info_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
