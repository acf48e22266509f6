"""THE one place that decides where hops talks to and which files and tools it uses: a real cluster or the lab.

Product code asks this module for a node's Talos API address, the Kubernetes API, the tool environment and the
paths of generated files; in lab mode (HOPS_LAB=1) every answer is a loopback address or a file under the lab
folder, so no code path ever connects to an address from the configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hops import clusters
from hops.clusters import Cluster

TALOS_API_PORT = 50000


def is_lab(env: Mapping[str, str] | None = None) -> bool:
    """HOPS_LAB is set to a true value: everything runs against the lab."""
    value = (env if env is not None else os.environ).get("HOPS_LAB", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def state_dir(root: Path, env: Mapping[str, str] | None = None, cluster: Cluster | None = None) -> Path:
    """Markers, doit DB, lock, logs and history of the selected cluster: `.bootstrap-state/` (default cluster) or
    `.bootstrap-state/<name>/` for a real cluster, `<its lab>/state/` for the lab. Cheap (no configuration is
    read): doit needs it to load the task list. Raises hops.clusters.ClusterError for an unknown cluster."""
    env = env if env is not None else os.environ
    cluster = cluster or clusters.current(root, env)
    if env.get("HOPS_STATE_DIR"):
        return Path(env["HOPS_STATE_DIR"]).resolve()
    if is_lab(env):
        from hops.lab.layout import LabLayout

        layout = LabLayout.from_env(root, env, cluster)
        layout.claim(cluster.key)  # one lab folder, one cluster: a shared HOPS_LAB_DIR would mix two clusters
        return layout.state_dir
    return cluster.state_dir(root)


def selection_files(root: Path, cluster: Cluster, env: Mapping[str, str] | None = None) -> list[Path]:
    """The files whose change can change what `state_dir` answers or refuses for this cluster (its configuration
    pair; in lab mode the lab's owner file), for copies kept between processes (hops.task_list_cache)."""
    env = env if env is not None else os.environ
    files = [cluster.config_file(name) for name in clusters.CONFIG_FILES]
    if is_lab(env) and not env.get("HOPS_STATE_DIR"):
        from hops.lab.layout import LabLayout

        files.append(LabLayout.from_env(root, env, cluster).owner_file)
    return files


def other_state_dir(root: Path, cluster: Cluster, env: Mapping[str, str]) -> Path:
    """Where another cluster of the project keeps its state when it runs without HOPS_STATE_DIR/HOPS_LAB_DIR
    (those name one cluster's folders: this process's). Reads nothing, writes nothing."""
    if is_lab(env):
        from hops.lab.layout import LabLayout

        return LabLayout(cluster.lab_dir(root)).state_dir
    return cluster.state_dir(root)


@dataclass
class Endpoints:
    root: Path
    settings: Any  # hops.config.Settings
    env: Mapping[str, str]
    selected: Cluster | None = None  # None: the process's selection (hops.clusters)

    @property
    def lab(self) -> bool:
        return is_lab(self.env)

    @cached_property
    def cluster(self) -> Cluster:
        """The cluster these endpoints belong to."""
        return self.selected or clusters.current(self.root, self.env)

    def config_file(self, name: str) -> Path:
        """The cluster's `bootstrap-config.yaml` or `talconfig.yaml` (the root pair or clusters/<name>/)."""
        return self.cluster.config_file(name)

    @cached_property
    def lab_layout(self) -> Any:
        """hops.lab.layout.LabLayout: where the lab of this cluster keeps its files (lab mode only)."""
        from hops.lab.layout import LabLayout

        return LabLayout.from_env(self.root, self.env, self.cluster)

    @cached_property
    def lab_info(self) -> dict:
        """The running lab (started on first use in lab mode)."""
        from hops.lab.lifecycle import ensure_up

        return ensure_up(self.lab_layout, self.root)

    # --- files -------------------------------------------------------------------------------------------
    def _config_path(self, configured: str) -> Path:
        """A generated file: under the lab's own clusterconfig in lab mode, else where the config says."""
        if self.lab:  # these files address the running lab (its kubeconfig's server): start it if needed
            self.lab_info  # noqa: B018 - starts the lab if needed
            return self.lab_layout.cluster_dir / Path(configured).name
        path = Path(configured)
        return path if path.is_absolute() else self.root / path

    @property
    def cluster_dir(self) -> Path:
        if self.lab:  # the lab's clusterconfig folder itself (the files below live directly in it)
            return self.lab_layout.cluster_dir
        return self._config_path(self.settings.config.talos.config_dir)

    @property
    def talosconfig(self) -> Path:
        return self._config_path(self.settings.config.talos.talosconfig)

    @property
    def kubeconfig(self) -> Path:
        return self._config_path(self.settings.config.talos.kubeconfig)

    @property
    def secrets_file(self) -> Path:
        return self._config_path(self.settings.config.talos.secrets_file)

    # --- network -----------------------------------------------------------------------------------------
    def talos_api(self, node_name: str) -> tuple[str, int]:
        """Where the Talos API of a configured node answers (a loopback endpoint in lab mode)."""
        if self.lab:
            host, _, port = self.lab_info["nodes"][node_name]["endpoint"].rpartition(":")
            return host, int(port)
        return str(self.settings.node_by_name(node_name).address), TALOS_API_PORT

    def kubernetes_api(self) -> tuple[str, int] | None:
        """The API server from the fetched kubeconfig, or None before the cluster exists."""
        if not self.kubeconfig.exists():
            return None
        import yaml

        from hops.errors import StepError

        try:
            data = yaml.safe_load(self.kubeconfig.read_text()) or {}
            clusters = data.get("clusters") or []
            url = urlparse(clusters[0]["cluster"]["server"]) if clusters else None
        except (yaml.YAMLError, AttributeError, LookupError, TypeError) as exc:
            raise StepError(f"{self.kubeconfig}: not a usable kubeconfig ({type(exc).__name__}: "
                            f"clusters[0].cluster.server is needed); fetch it again with "
                            "`doit talos_recover_kubeconfig`") from None
        if url is None:
            return None
        return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)

    def chart_repository(self, url: str) -> str:
        """Where helm fetches the charts of repository `url`: the lab's own repository on 127.0.0.1 serving the
        same charts in lab mode (the real hosts are never contacted), `url` itself for a real cluster."""
        if not self.lab:
            return url
        from hops.lab.chart_repo import local_url

        return local_url(self.lab_info["chart_repo_url"], url)

    # --- tools -------------------------------------------------------------------------------------------
    @cached_property
    def tool_env(self) -> dict[str, str]:
        """Environment for every external command: the lab's tools first on PATH in lab mode, and the
        talosconfig/kubeconfig hops manages."""
        env = dict(self.env)
        if self.lab:
            layout = self.lab_layout
            self.lab_info  # noqa: B018 - starts the lab if needed, installs its tools
            env["PATH"] = f"{layout.bin_dir}{os.pathsep}{env.get('PATH', '')}"
            env["HOPS_LAB_DIR"] = str(layout.root)
        env["TALOSCONFIG"] = str(self.talosconfig)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env.update(self.settings.env_for_tools())
        return env
