"""Fixtures for hops.config tests: a throw-away project root with loopback-only addresses."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

BASE: dict[str, Any] = {
    "cluster": {"name": "lab", "endpoint": "https://127.0.0.10:6443"},
    "network": {
        "vip": "127.0.0.10",
        "nodes": [
            {"name": "cp-1", "address": "127.0.0.11", "role": "controlplane"},
            {"name": "cp-2", "address": "127.0.0.12", "role": "controlplane"},
            {"name": "wk-1", "address": "127.0.0.13", "role": "worker"},
        ],
    },
    "gitops": {"owner": "tester"},
}


def talconfig_for(config: dict[str, Any]) -> dict[str, Any]:
    """A talconfig.yaml mapping that agrees with a bootstrap-config mapping (plus talhelper-only keys)."""
    return {
        "clusterName": config["cluster"]["name"],
        "endpoint": config["cluster"]["endpoint"],
        "talosVersion": "v1.8.3",
        "kubernetesVersion": "v1.31.4",
        "cniConfig": {"name": "none"},
        "patches": ["@./talos/patches/cluster.yaml"],
        "nodes": [{"hostname": n["name"], "ipAddress": n["address"],
                   "controlPlane": n.get("role", "controlplane") == "controlplane", "installDisk": "/dev/sda"}
                  for n in config["network"]["nodes"]],
    }


def _matching(config: dict[str, Any]) -> dict[str, Any]:
    """talconfig_for(config), or for BASE when the config is deliberately malformed."""
    try:
        return talconfig_for(config)
    except (KeyError, TypeError, AttributeError):
        return talconfig_for(BASE)


Writer = Callable[..., Path]


@pytest.fixture
def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


@pytest.fixture
def write(tmp_path: Path) -> Writer:
    """write(config=None, talconfig=None, *, config_text=None, talconfig_text=None) -> project root.

    A mapping is dumped as YAML; text is written verbatim; talconfig defaults to one matching the config.
    """
    def _write(config: dict[str, Any] | None = None, talconfig: dict[str, Any] | None = None, *,
               config_text: str | None = None, talconfig_text: str | None = None) -> Path:
        config = copy.deepcopy(BASE) if config is None else config
        (tmp_path / "bootstrap-config.yaml").write_text(
            config_text if config_text is not None else yaml.safe_dump(config, sort_keys=False))
        if talconfig_text is None:
            talconfig_text = yaml.safe_dump(talconfig if talconfig is not None else _matching(config),
                                            sort_keys=False)
        (tmp_path / "talconfig.yaml").write_text(talconfig_text)
        return tmp_path
    return _write
