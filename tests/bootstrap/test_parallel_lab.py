"""Per-node Talos work at once, on the lab with a real doit: the lab's call log shows the calls overlapping."""

from __future__ import annotations

from pathlib import Path

from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls
from tests.bootstrap.test_phase1 import overlapping, tool_calls


def test_validate_configs_validates_the_nodes_at_once(doit, lab_env: dict) -> None:
    doit("talos:validate-configs")
    calls = [c for c in tool_calls(read_calls(LabLayout(Path(lab_env["HOPS_LAB_DIR"]))))
             if c["tool"] == "talosctl" and c["argv"][:1] == ["validate"]]
    configs = sorted(Path(c["argv"][c["argv"].index("--config") + 1]).name for c in calls)
    assert configs == ["home-ops-talos-cp-1.yaml", "home-ops-talos-cp-2.yaml", "home-ops-talos-cp-3.yaml"]
    assert overlapping(calls), calls
