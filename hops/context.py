"""The step API: the one resolved runtime object every step, check and operation receives as `ctx`.

    ctx.config      the validated bootstrap-config.yaml (hops.config.model.BootstrapConfig)
    ctx.settings    the configuration with its talconfig and overrides (hops.config.Settings)
    ctx.kube        the Kubernetes API: get/list/apply/delete/wait (hops.kube.Kube)
    ctx.runner      external tools: talosctl, helm, flux, ... (hops.runner.ToolRunner)
    ctx.endpoints   where things are: node addresses, kubeconfig, talosconfig, the lab (hops.endpoints.Endpoints)
    ctx.log         the run log; `say` also tells the user (hops.runlog.RunLog)
    ctx.cluster     which cluster: the root pair or clusters/<name>/ (hops.clusters.Cluster)
    ctx.root        the project folder; ctx.state_dir the markers/DB/logs folder; ctx.timeout(group) a phase's

Built lazily on first use in a doit process (so `doit list` never loads configuration) and cached; doit
command-line variables, the environment and the files are read exactly once, here. Each attribute imports its
module only when first used, so a task pays only for what it touches."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from hops import endpoints as endpoints_mod

if TYPE_CHECKING:
    from hops.clusters import Cluster
    from hops.config import Settings
    from hops.config.model import BootstrapConfig
    from hops.kube import Kube
    from hops.read_ahead import ReadAhead
    from hops.runlog import RunLog
    from hops.runner import ToolRunner

_root: Path | None = None
_current: Context | None = None


def set_root(root: Path) -> None:
    """Called by the task list builder with the folder of dodo.py."""
    global _root, _current
    _root, _current = root.resolve(), None


def root() -> Path:
    """The project folder: dodo.py's, else HOPS_ROOT, else the working directory."""
    return _root or Path(os.environ.get("HOPS_ROOT", Path.cwd())).resolve()


def cli_vars() -> dict[str, str]:
    """doit command-line variables (`doit bootstrap_phased CLUSTER_NAME=prod`). doit offers get_var(name) only,
    so read its table of all variables; empty outside a doit run."""
    from doit import doit_cmd

    return dict(doit_cmd._CMDLINE_VARS or {})


@dataclass
class Context:
    """What a step may use; see the module docstring."""

    root: Path
    env: Mapping[str, str]
    cli_vars: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def settings(self) -> Settings:
        """The whole configuration; raises hops.config.ConfigError listing every problem."""
        from hops.config import load_settings

        return load_settings(self.root, cli_vars=self.cli_vars, env=self.env)

    @property
    def config(self) -> BootstrapConfig:
        """bootstrap-config.yaml, validated, with overrides applied."""
        return self.settings.config

    @cached_property
    def cluster(self) -> Cluster:
        """The cluster this run works on: doit's CLUSTER= > HOPS_CLUSTER > the root pair (hops.clusters)."""
        from hops import clusters

        return clusters.select(self.root, self.env, self.cli_vars)

    @cached_property
    def state_dir(self) -> Path:
        """Markers, doit DB and logs of this cluster."""
        return endpoints_mod.state_dir(self.root, self.env, self.cluster)

    @cached_property
    def log(self) -> RunLog:
        """This process's run log."""
        from hops.runlog import RunLog

        log_dir = Path(self.config.bootstrap.log_dir)
        return RunLog(log_dir if log_dir.is_absolute() else self.state_dir / log_dir)

    @cached_property
    def endpoints(self) -> endpoints_mod.Endpoints:
        """Real or lab: addresses, generated files, tool environment."""
        return endpoints_mod.Endpoints(self.root, self.settings, self.env, self.cluster)

    @cached_property
    def runner(self) -> ToolRunner:
        """Runs external tools (argv lists, timeouts, retries, redacted logs)."""
        from hops.runner import ToolRunner

        boot = self.config.bootstrap
        return ToolRunner(env=self.endpoints.tool_env, log=self.log, use_mise=self.config.tools.use_mise,
                          timeout=boot.command_timeout, attempts=boot.retry.attempts, delay=boot.retry.delay)

    @cached_property
    def kube(self) -> Kube:
        """The Kubernetes API of the cluster (the kubeconfig hops fetched)."""
        from hops.kube import Kube

        return Kube(self)

    @cached_property
    def read_ahead(self) -> ReadAhead:
        """Slow reads of live checks started early (hops.read_ahead)."""
        from hops.read_ahead import ReadAhead

        return ReadAhead()

    @cached_property
    def vault_reads(self) -> dict[str, str]:
        """Values this process read from 1Password, by op:// reference (memory only: two steps that need the
        same value read it once; hops.onepassword)."""
        return {}

    def timeout(self, group: str) -> float:
        """bootstrap.timeouts.<group> in seconds."""
        return float(getattr(self.config.bootstrap.timeouts, group))


def current() -> Context:
    """This process's context (built on first use)."""
    global _current
    if _current is None:
        _current = Context(root(), dict(os.environ), cli_vars())
    return _current


def reset() -> None:
    """Drop the cached context (tests, and after a configuration change within one process)."""
    global _current
    _current = None
