"""hops configuration: bootstrap-config.yaml + talconfig.yaml, overrides, validation, cross-check.

    from hops.config import load_settings, ConfigError
    settings = load_settings(root, cli_vars={"CLUSTER_NAME": "production"})

Importing this package is cheap: pydantic and yaml load only when load_settings runs (or when a model class such
as BootstrapConfig is accessed).
"""

from __future__ import annotations

import os
from typing import Any

# pydantic looks for plugins (entry points of every installed distribution) when the first model class is built:
# ~20 ms of each doit run that reads the configuration, for plugins (e.g. tracing) hops's models have no use for.
# A user who sets the variable keeps their choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from hops.config.errors import ConfigError, Problem, format_problems
from hops.config.load import Settings, load_settings
from hops.config.overrides import OVERRIDES, Override

__all__ = [
    "OVERRIDES", "BootstrapConfig", "ConfigError", "Node", "Override", "Problem", "Settings", "TalConfig",
    "TalNode", "format_problems", "load_settings",
]

_LAZY = {"BootstrapConfig": "hops.config.model", "Node": "hops.config.model",
         "TalConfig": "hops.config.talconfig", "TalNode": "hops.config.talconfig"}


def __getattr__(name: str) -> Any:
    """Model classes load pydantic, so they are imported on first use only."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hops.config' has no attribute {name!r}")
