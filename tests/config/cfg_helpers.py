"""Shared test data for hops.config tests (a uniquely named module: `conftest` may exist in other test folders)."""

from __future__ import annotations

from typing import Any

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


def matching_talconfig(config: dict[str, Any]) -> dict[str, Any]:
    """talconfig_for(config), or for BASE when the config is deliberately malformed."""
    try:
        return talconfig_for(config)
    except (KeyError, TypeError, AttributeError):
        return talconfig_for(BASE)
