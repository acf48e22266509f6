"""`doit bootstrap_init` with a real doit: flags, an answers file, refusing to overwrite, bad answers, a terminal."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests import forkserver
from tests.guided.terminal import Terminal
from tests.projects import REPO, doit, write_config

FILES = ("bootstrap-config.yaml", "talconfig.yaml")
FLAGS = ("--yes", "--cluster", "lab", "--node", "cp-1:controlplane:10.0.5.11", "--node", "cp-2:controlplane:10.0.5.12",
         "--node=w-1=worker=10.0.5.21", "--vip", "10.0.5.10", "--op-account", "me.1password.eu", "--op-vault", "lab",
         "--repo", "me/lab-ops", "--branch", "live")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project: just the repository's dodo.py."""
    shutil.copy(REPO / "dodo.py", tmp_path / "dodo.py")
    return tmp_path


def config_check(project: Path, *variables: str) -> subprocess.CompletedProcess:
    return forkserver.run_module("hops.config", ["check", "--root", str(project), *variables], cwd=REPO,
                                 timeout=60)


def written(project: Path) -> dict:
    return yaml.safe_load((project / "bootstrap-config.yaml").read_text())


def test_flags_with_yes_write_two_files_that_pass_the_config_check(project: Path) -> None:
    result = doit(project, "bootstrap_init", *FLAGS, check=True)
    check = config_check(project)
    assert check.returncode == 0 and "configuration OK: lab (3 nodes)" in check.stdout, check.stderr
    config = written(project)
    assert config["network"]["nodes"][2] == {"name": "w-1", "address": "10.0.5.21", "role": "worker"}
    assert config["network"]["vip"] == "10.0.5.10" and config["cluster"]["endpoint"] == "https://10.0.5.10:6443"
    assert config["onepassword"]["account"] == "me.1password.eu" and config["gitops"]["branch"] == "live"
    assert config["gitops"]["path"] == "infrastructure/clusters/lab"
    talconfig = (project / "talconfig.yaml").read_text()
    assert "hostname: ${NODE_3_NAME:-w-1}" in talconfig and "ip: ${CLUSTER_VIP:-10.0.5.10}" in talconfig
    assert talconfig.count("vip:") == 2  # the control planes announce the VIP, the worker does not
    assert "HOPS_LAB=1 doit bootstrap_phased" in result.stdout and "doit bootstrap_phased" in result.stdout
    assert not list(project.glob(".hops-init-*"))  # the staging folder is gone


def test_the_written_substitutions_keep_overrides_consistent(project: Path) -> None:
    doit(project, "bootstrap_init", *FLAGS, check=True)
    moved = config_check(project, "NODE_2_IP=10.0.5.42", "CLUSTER_NAME=other")
    assert moved.returncode == 0, moved.stderr  # the override reached talconfig.yaml through ${VAR:-default}
    assert "configuration OK: other" in moved.stdout


def test_answers_file_with_flags_winning(project: Path) -> None:
    (project / "answers.yaml").write_text(yaml.safe_dump({
        "cluster": "filed", "repo": "me/filed-ops", "vip": "none", "network": "192.168.7.0/24",
        "nodes": [{"name": "cp-1", "role": "controlplane", "address": "192.168.7.11"}, "w-1:worker:192.168.7.21"]}))
    doit(project, "bootstrap_init", "--yes", "--answers", "answers.yaml", "--cluster", "flagged", check=True)
    assert config_check(project).returncode == 0
    config = written(project)
    assert config["cluster"]["name"] == "flagged" and config["gitops"]["repository"] == "filed-ops"
    assert "vip" not in config["network"] and config["cluster"]["endpoint"] == "https://192.168.7.11:6443"
    assert [n["name"] for n in config["network"]["nodes"]] == ["cp-1", "w-1"]


def test_an_answers_file_with_an_unknown_key_names_the_file_and_key(project: Path) -> None:
    (project / "answers.yaml").write_text("clustr: lab\n")
    result = doit(project, "bootstrap_init", "--yes", "--answers", "answers.yaml")
    assert result.returncode == 1
    assert "answers.yaml: clustr: unknown key (did you mean 'cluster'?)" in result.stdout + result.stderr
    assert not any((project / name).exists() for name in FILES)


@pytest.mark.parametrize(("text", "message"), [
    ("cluster: [lab\n", "answers.yaml: line 2, column 1: YAML syntax error"),
    ("nodes: cp-1:controlplane:10.0.5.11\n", "answers.yaml: nodes: expected a list of nodes"),
    ("nodes: [{name: cp-1, ip: 10.0.5.11}]\n", "answers.yaml: nodes[0]: expected the keys name, role, address"),
    ("repo: me/x\nnodes: [cp-1:controlplane:10.0.5.300]\n", "answers.yaml: nodes[0]: '10.0.5.300' is not an IP"),
])
def test_a_bad_answers_file_is_one_message_naming_the_file(project: Path, text: str, message: str) -> None:
    (project / "answers.yaml").write_text(text)
    result = doit(project, "bootstrap_init", "--yes", "--answers", "answers.yaml")
    out = result.stdout + result.stderr
    assert result.returncode == 1 and message in out and "Traceback" not in out, out
    assert not any((project / name).exists() for name in FILES)


def test_without_a_terminal_and_without_yes_it_refuses_and_keeps_the_files(tmp_path: Path) -> None:
    write_config(tmp_path)
    shutil.copy(REPO / "dodo.py", tmp_path / "dodo.py")
    before = {name: (tmp_path / name).read_text() for name in FILES}
    result = doit(tmp_path, "bootstrap_init", *FLAGS[1:])  # every answer, but no --yes
    assert result.returncode == 1
    assert "no terminal to ask on and no --yes" in result.stdout + result.stderr
    assert {name: (tmp_path / name).read_text() for name in FILES} == before
    assert not list(tmp_path.glob("*.bak"))


def test_yes_replaces_existing_files_and_keeps_the_old_ones(tmp_path: Path) -> None:
    write_config(tmp_path)
    shutil.copy(REPO / "dodo.py", tmp_path / "dodo.py")
    old = (tmp_path / "talconfig.yaml").read_text()
    doit(tmp_path, "bootstrap_init", *FLAGS, check=True)
    assert (tmp_path / "talconfig.yaml.bak").read_text() == old
    assert written(tmp_path)["cluster"]["name"] == "lab"
    # settings not asked about come from the configuration it replaced (the example's, not hops's defaults)
    assert written(tmp_path)["bootstrap"]["check_interval"] == 2 and written(tmp_path)["tools"]["use_mise"] is True
    assert config_check(tmp_path).returncode == 0


def test_only_the_changed_answer_is_needed_when_a_configuration_exists(tmp_path: Path) -> None:
    write_config(tmp_path)
    shutil.copy(REPO / "dodo.py", tmp_path / "dodo.py")
    doit(tmp_path, "bootstrap_init", "--yes", "--op-vault", "other-vault", check=True)
    config = written(tmp_path)
    assert config["onepassword"]["vault"] == "other-vault"
    assert [n["address"] for n in config["network"]["nodes"]] == ["127.0.51.11", "127.0.51.12", "127.0.51.13"]
    assert config["network"]["vip"] == "127.0.51.10" and config["gitops"]["owner"] == "example-homelab"


CP1 = "cp-1:controlplane:10.0.5.11"


@pytest.mark.parametrize(("flags", "nodes", "message"), [
    ({"--cluster": "Lab_1"}, [CP1], "--cluster: 'Lab_1' is not a DNS-1123 label"),
    ({}, ["cp-1:controlplane:10.0.5.300"], "--node 'cp-1:controlplane:10.0.5.300': '10.0.5.300' is not an IP"),
    ({}, ["cp-1:boss:10.0.5.11"], "'boss' is not a role (expected controlplane or worker)"),
    ({}, [CP1, "cp-1:worker:10.0.5.12"], "--node 'cp-1:worker:10.0.5.12': 'cp-1' is already the name of another"),
    ({}, [CP1, "cp-2:controlplane:10.0.5.11"], "10.0.5.11 is already the address of node cp-1"),
    ({"--vip": "none"}, ["w-1:worker:10.0.5.21"], "--node: no node is a control plane"),
    ({"--vip": "none"}, ["cp-1:controlplane:10.96.0.20"],
     "10.96.0.20 is inside the cluster's service network 10.96.0.0/12"),
    ({"--vip": "10.0.6.10"}, [CP1], "--vip: 10.0.6.10 is outside the node network 10.0.5.0/24"),
    ({"--vip": "10.0.5.11"}, [CP1], "--vip: 10.0.5.11 is node cp-1's address"),
    ({"--network": "10.0.4.0/24"}, [CP1], "--network: 10.0.4.0/24 does not contain control plane cp-1 (10.0.5.11)"),
    ({"--endpoint": "http://10.0.5.10:6443"}, [CP1], "--endpoint: 'http://10.0.5.10:6443' does not start with"),
    ({"--repo": "just-a-name"}, [CP1], "--repo: 'just-a-name' is not owner/repository"),
    ({"--branch": "a b"}, [CP1], "--branch: 'a b' is not a valid git branch name"),
    ({"--path": "/abs"}, [CP1], "--path: '/abs' is not a relative path inside the repository"),
])
def test_a_bad_flag_is_one_clear_line_and_nothing_is_written(project: Path, flags: dict[str, str],
                                                            nodes: list[str], message: str) -> None:
    given = {"--cluster": "lab", "--vip": "10.0.5.10", "--repo": "me/lab-ops", **flags}
    args = [a for flag, value in given.items() for a in (flag, value)] + [a for n in nodes for a in ("--node", n)]
    result = doit(project, "bootstrap_init", "--yes", *args)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    problems = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(problems) == 1 and message in problems[0], out
    assert "Traceback" not in out
    assert not any((project / name).exists() for name in FILES)


def test_a_missing_required_answer_is_named(project: Path) -> None:
    result = doit(project, "bootstrap_init", "--yes", "--cluster", "lab")
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "--node is required" in out and "--repo is required" in out


def test_on_a_terminal_it_asks_checks_each_answer_and_writes(project: Path) -> None:
    term = Terminal(project, "bootstrap_init")
    term.answer("Cluster name [home-ops]: ", "")  # Enter takes the default
    term.answer("How many nodes [1]: ", "2")
    term.answer("Node 1 name [talos-node-1]: ", "cp-1")
    term.answer("Node 1 role (controlplane/worker) [controlplane]: ", "")
    term.answer("Node 1 address: ", "192.168.3.300")
    term.expect("'192.168.3.300' is not an IP address")  # asked again, with the reason
    term.answer("Node 1 address: ", "192.168.3.11")
    term.answer("Node 2 name [talos-node-2]: ", "cp-1")
    term.expect("'cp-1' is already the name of another node")
    term.answer("Node 2 name [talos-node-2]: ", "w-1")
    term.answer("Node 2 role (controlplane/worker) [controlplane]: ", "worker")
    term.answer("Node 2 address: ", "192.168.3.21")
    term.answer("Network the control planes share (CIDR) [192.168.3.0/24]: ", "")
    term.answer("('none' for none) [none]: ", "192.168.4.10")
    term.expect("192.168.4.10 is outside the node network 192.168.3.0/24")
    term.answer("('none' for none) [none]: ", "192.168.3.10")
    term.answer("Kubernetes API endpoint [https://192.168.3.10:6443]: ", "")
    term.answer("1Password account [my.1password.com]: ", "")
    term.answer("1Password vault with the cluster secrets [homelab]: ", "")
    term.answer("GitOps repository on GitHub (owner/name): ", "me/home-ops")
    term.answer("Branch Flux follows [main]: ", "")
    summary = term.answer("Cluster folder in the repository [infrastructure/clusters/home-ops]: ", "")
    shown = term.answer("Write these files? [y/N] ", "y")
    assert "w-1   worker        192.168.3.21" in shown and "VIP        192.168.3.10" in shown, summary + shown
    rest, code = term.finish()
    assert code == 0, term.text
    assert "wrote " in rest and "HOPS_LAB=1 doit bootstrap_phased" in rest
    assert config_check(project).returncode == 0
    assert [n["name"] for n in written(project)["network"]["nodes"]] == ["cp-1", "w-1"]


def test_on_a_terminal_no_at_the_end_writes_nothing(tmp_path: Path) -> None:
    write_config(tmp_path)
    shutil.copy(REPO / "dodo.py", tmp_path / "dodo.py")
    before = (tmp_path / "bootstrap-config.yaml").read_text()
    term = Terminal(tmp_path, "bootstrap_init", "--cluster", "renamed")
    term.answer("Cluster name [renamed]: ", "")  # a flag is the default on a terminal
    term.answer("How many nodes [3]: ", "")  # the existing configuration gives the rest
    for number in (1, 2, 3):
        term.answer(f"Node {number} name [talos-cp-{number}]: ", "")
        term.answer(f"Node {number} role (controlplane/worker) [controlplane]: ", "")
        term.answer(f"Node {number} address [127.0.51.1{number}]: ", "")
    for prompt in ("[127.0.51.0/24]: ", "[127.0.51.10]: ", "[https://127.0.51.10:6443]: ", "[my.1password.com]: ",
                   "[homelab]: ", "[example-homelab/home-ops]: ", "[main]: ", "[infrastructure/clusters/renamed]: "):
        term.answer(prompt, "")
    term.answer("(replacing bootstrap-config.yaml and talconfig.yaml; the old ones are kept as *.bak)? [y/N] ", "n")
    rest, code = term.finish()
    assert code == 1 and "cancelled: nothing was written" in rest, term.text
    assert (tmp_path / "bootstrap-config.yaml").read_text() == before


def test_a_run_holding_the_lock_refuses_bootstrap_init_before_any_question(project: Path) -> None:
    from hops.state import lock

    state = project / ".bootstrap-state"
    lock.acquire(state, command="doit bootstrap_phased")  # this test process stands in for a running bootstrap
    try:
        result = doit(project, "bootstrap_init", *FLAGS)
    finally:
        lock.release(state)
    assert result.returncode == 3 and "is working on this cluster" in result.stderr, result.stdout + result.stderr
    assert "doit bootstrap_phased" in result.stderr and "bootstrap_init will write" not in result.stdout
    assert not any((project / name).exists() for name in FILES)
    doit(project, "bootstrap_init", *FLAGS, check=True)  # the lock free again: it writes
