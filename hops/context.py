"""The one resolved runtime object every step reads: configuration, paths, endpoints, tool runner, log.

Built lazily on first use in a doit process (so `doit list` never loads configuration) and cached; doit
command-line variables, the environment and the files are read exactly once, here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from hops import endpoints as endpoints_mod

_root: Path | None = None
_current: "Context | None" = None


def set_root(root: Path) -> None:
    """Called by the task list builder with the folder of dodo.py."""
    global _root, _current
    _root, _current = root.resolve(), None


def root() -> Path:
    return _root or Path(os.environ.get("HOPS_ROOT", Path.cwd())).resolve()


def cli_vars() -> dict[str, str]:
    """doit command-line variables (`doit bootstrap_phased CLUSTER_NAME=prod`). doit offers get_var(name) only,
    so read its table of all variables; empty outside a doit run."""
    from doit import doit_cmd

    return dict(doit_cmd._CMDLINE_VARS or {})


@dataclass
class Context:
    root: Path
    env: Mapping[str, str]
    cli_vars: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def settings(self) -> Any:
        """hops.config.Settings; raises hops.config.ConfigError listing every problem."""
        from hops.config import load_settings

        return load_settings(self.root, cli_vars=self.cli_vars, env=self.env)

    @property
    def config(self) -> Any:
        return self.settings.config

    @cached_property
    def state_dir(self) -> Path:
        return endpoints_mod.state_dir(self.root, self.env)

    @cached_property
    def log(self):
        from hops.runlog import RunLog

        log_dir = Path(self.config.bootstrap.log_dir)
        return RunLog(log_dir if log_dir.is_absolute() else self.state_dir / log_dir)

    @cached_property
    def endpoints(self) -> endpoints_mod.Endpoints:
        return endpoints_mod.Endpoints(self.root, self.settings, self.env)

    @cached_property
    def runner(self):
        from hops.runner import ToolRunner

        boot = self.config.bootstrap
        return ToolRunner(env=self.endpoints.tool_env, log=self.log, use_mise=self.config.tools.use_mise,
                          timeout=boot.command_timeout, attempts=boot.retry.attempts, delay=boot.retry.delay)

    @cached_property
    def kube(self):
        from hops.kube import Kube

        return Kube(self)

    def timeout(self, group: str) -> float:
        return float(getattr(self.config.bootstrap.timeouts, group))


def current() -> Context:
    global _current
    if _current is None:
        _current = Context(root(), dict(os.environ), cli_vars())
    return _current


def reset() -> None:
    """Drop the cached context (tests, and after a configuration change within one process)."""
    global _current
    _current = None
