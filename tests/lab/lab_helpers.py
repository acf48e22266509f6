"""Steps of the manual Talos bring-up, shared by the lab tests (imported as `lab_helpers`)."""

from __future__ import annotations

from pathlib import Path

from hops.lab import lifecycle


def apply_insecure(run_tool, configs: Path, lab: dict, names: list[str] | None = None) -> None:
    """`talosctl apply-config --insecure` of each node's generated config, as a user does in maintenance mode."""
    for name, node in lab["nodes"].items():
        if names is not None and name not in names:
            continue
        done = run_tool("talosctl", "apply-config", "--insecure", "-n", node["address"],
                        "-f", str(configs / f"home-ops-{name}.yaml"))
        assert done.returncode == 0, done.stderr


def wait_running(lab: dict, names: list[str] | None = None, timeout: float = 20.0) -> None:
    """Block until the simulated nodes finished install + reboot (the daemon answers when it happens)."""
    for name in names or list(lab["nodes"]):
        assert lifecycle.wait_node(lab, name, "running", timeout), f"{name} did not reach running"

