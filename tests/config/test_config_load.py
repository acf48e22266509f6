"""Loading: the committed example, a minimal file with defaults, missing files, YAML syntax, Settings helpers."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hops.config import ConfigError, Problem, load_settings
from cfg_helpers import BASE

REPO = Path(__file__).resolve().parents[2]


def test_committed_example_loads(tmp_path: Path) -> None:
    # copied so nothing in the repo root can be touched; nothing is ever contacted
    for name in ("bootstrap-config.yaml", "talconfig.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    settings = load_settings(tmp_path, env={})
    assert settings.root == tmp_path
    assert settings.config.cluster.name == "home-ops"
    assert [n.name for n in settings.control_plane_nodes] == ["talos-cp-1", "talos-cp-2", "talos-cp-3"]
    assert settings.config.tools.use_mise is True
    assert settings.config.bootstrap.timeouts.for_group("talos") == 1800.0
    assert settings.talconfig.cluster_name == "home-ops"
    assert settings.sources["bootstrap.timeouts.talos"] == "bootstrap-config.yaml"


def test_minimal_file_gets_documented_defaults(write) -> None:
    minimal = {"cluster": {"name": "mini"}, "network": {"nodes": [{"name": "cp-1", "address": "127.0.0.11"}]},
               "gitops": {"owner": "me"}}
    talconfig = {"clusterName": "mini", "endpoint": "https://127.0.0.11:6443", "talosVersion": "v1.8.3",
                 "kubernetesVersion": "v1.31.4", "nodes": [{"hostname": "cp-1", "ipAddress": "127.0.0.11",
                                                             "controlPlane": True}]}
    settings = load_settings(write(minimal, talconfig), env={})
    c = settings.config
    assert c.cluster.endpoint == "https://127.0.0.11:6443"          # first controlplane, no VIP
    assert c.cluster.domain == "cluster.local"
    assert c.network.vip is None
    assert c.network.nodes[0].role == "controlplane"
    assert c.gitops.path == "infrastructure/clusters/mini"
    assert (c.gitops.repository, c.gitops.branch, c.gitops.namespace) == ("home-ops", "main", "flux-system")
    assert c.talos.talosconfig == Path("clusterconfig/talosconfig")
    assert c.onepassword.items.talos_secrets == "talos-secrets"
    assert c.bootstrap.retry.attempts == 3
    assert c.tools.use_mise is False and c.tools.required["talosctl"] == "1.8.3"
    assert settings.sources["cluster.endpoint"] == "default"
    assert settings.sources["cluster.name"] == "bootstrap-config.yaml"


def test_endpoint_defaults_to_vip_and_files_follow_config_dir(write) -> None:
    config = {**BASE, "cluster": {"name": "lab"}, "talos": {"config_dir": "out/cfg"}}
    settings = load_settings(write(config), env={})
    assert settings.config.cluster.endpoint == "https://127.0.0.10:6443"
    assert settings.config.talos.kubeconfig == Path("out/cfg/kubeconfig")
    assert settings.config.talos.secrets_file == Path("out/cfg/talsecret.yaml")


def test_missing_bootstrap_config_says_how_to_create_it(tmp_path: Path) -> None:
    (tmp_path / "talconfig.yaml").write_text(yaml.safe_dump({"clusterName": "x"}))
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={})
    missing = [p for p in caught.value.problems if p.file == "bootstrap-config.yaml"]
    assert len(missing) == 1
    assert missing[0].message.startswith(f"not found at {tmp_path / 'bootstrap-config.yaml'}; create it by copying")
    assert "cp " in missing[0].message


def test_missing_talconfig_is_reported_too(write) -> None:
    root = write(BASE)
    (root / "talconfig.yaml").unlink()
    with pytest.raises(ConfigError) as caught:
        load_settings(root, env={})
    assert [p.file for p in caught.value.problems] == ["talconfig.yaml"]
    assert "not found" in caught.value.problems[0].message


def test_yaml_syntax_error_reports_line_and_column(write) -> None:
    text = "cluster:\n  name: lab\n  endpoint: [https://127.0.0.10:6443\nnetwork: {}\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write(config_text=text), env={})
    problem = caught.value.problems[0]
    assert problem.file == "bootstrap-config.yaml"
    assert problem.field == "line 4, column 8"
    assert problem.message.startswith("YAML syntax error")


def test_duplicate_keys_are_reported_with_line(write) -> None:
    text = yaml.safe_dump(BASE, sort_keys=False).replace("cluster:\n", "cluster:\n  name: first\n", 1)
    with pytest.raises(ConfigError) as caught:
        load_settings(write(config_text=text), env={})
    assert caught.value.problems == [Problem("bootstrap-config.yaml", "line 3, column 3",
                                             "duplicate key 'name' (the earlier value would be ignored)")]


@pytest.mark.parametrize(("text", "expected"), [
    ("- a\n- b\n", Problem("bootstrap-config.yaml", "", "expected a mapping at the top level, got list")),
    ("", Problem("bootstrap-config.yaml", "cluster", "is required but missing (expected at least cluster.name)")),
])
def test_wrong_top_level(write, text: str, expected: Problem) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(config_text=text), env={})
    assert expected in caught.value.problems


def test_settings_helpers(write) -> None:
    settings = load_settings(write(), env={})
    assert [n.name for n in settings.control_plane_nodes] == ["cp-1", "cp-2"]
    assert [n.name for n in settings.worker_nodes] == ["wk-1"]
    assert settings.node_by_name("wk-1").address == "127.0.0.13"
    with pytest.raises(KeyError, match="no node named 'nope'"):
        settings.node_by_name("nope")
    with pytest.raises(KeyError):
        settings.config.bootstrap.timeouts.for_group("nope")


def test_settings_are_immutable(write) -> None:
    settings = load_settings(write(), env={})
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
        settings.config.cluster.name = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'config'"):
        settings.config = settings.config  # type: ignore[misc]
    assert settings.config.cluster.name != "changed"


def test_importing_the_package_and_errors_stays_light() -> None:
    code = ("import sys, hops.config, hops.config.errors; "
            "print(any(m in sys.modules for m in ('pydantic', 'yaml')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_config_error_is_one_line_per_problem() -> None:
    error = ConfigError([Problem("a.yaml", "x.y", "bad"), Problem("b.yaml", "", "missing"),
                         Problem("a.yaml", "x.y", "bad")])
    assert str(error) == "a.yaml: x.y: bad\nb.yaml: missing"
    assert len(error.problems) == 2
