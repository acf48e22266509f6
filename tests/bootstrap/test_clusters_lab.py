"""Two clusters in one project on the lab, with real doit processes: `CLUSTER=` refused with one line when
unknown, the command line winning over HOPS_CLUSTER, and two bootstraps running at the same time in two
"terminals" — each converges with its own markers, doit DB, lock, history and lab, and neither lab sees the
other's tool calls. No HOPS_LAB_DIR here: each cluster uses its default lab folder (`.lab/`, `.lab/staging/`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls
from hops.phases import PHASES
from hops.taskmodel import Model
from tests.projects import copy_project
from tests.projects import doit as run_doit
from tests.projects import lab_env as lab_env_for

MARKERS = [step.marker for _, step in Model.of(PHASES).steps() if step.marker]


def add_staging(project: Path) -> Path:
    """clusters/staging/: the root pair as a second cluster on its own addresses with its own Flux path."""
    folder = project / "clusters" / "staging"
    folder.mkdir(parents=True)
    config = (project / "bootstrap-config.yaml").read_text()
    config = (config.replace("  name: home-ops", "  name: staging", 1).replace("172.29.51.", "172.29.52.")
              .replace("path: infrastructure/clusters/home-ops", "path: infrastructure/clusters/staging"))
    (folder / "bootstrap-config.yaml").write_text(config)
    tal = (project / "talconfig.yaml").read_text().replace("home-ops", "staging").replace("172.29.51.", "172.29.52.")
    (folder / "talconfig.yaml").write_text(tal)
    shutil.copytree(project / "infrastructure" / "clusters" / "home-ops", project / "infrastructure" / "clusters" / "staging")
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = copy_project(tmp_path)
    add_staging(root)
    return root


@pytest.fixture
def env(project: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Lab mode at speed 1000 without HOPS_LAB_DIR; both labs are stopped at teardown."""
    lab_env = lab_env_for(tmp_path, speed=1000)
    del lab_env["HOPS_LAB_DIR"]
    yield lab_env
    for lab in (project / ".lab", project / ".lab" / "staging"):
        subprocess.run([sys.executable, "-m", "hops.lab", "down"], env={**lab_env, "HOPS_LAB_DIR": str(lab)},
                       cwd=project, capture_output=True, timeout=60)


def doit(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_doit(project, *args, env=env, timeout=300)


def test_unknown_cluster_is_one_line_listing_the_known_clusters(project: Path, env: dict[str, str]) -> None:
    for args, extra in ((("bootstrap_phased", "CLUSTER=prod"), {}), (("list",), {"HOPS_CLUSTER": "prod"})):
        result = doit(project, {**env, **extra}, *args)
        output = (result.stdout + result.stderr).strip()
        assert result.returncode == 3, output
        assert "Traceback" not in output and len(output.splitlines()) == 1, output
        assert output.startswith("ERROR: unknown cluster 'prod'"), output
        assert "known clusters: home-ops (default, root bootstrap-config.yaml), staging (clusters/staging/)" in output
    assert not (project / ".lab" / "staging").exists()


def test_a_cluster_named_like_a_marker_is_refused_at_load(project: Path, env: dict[str, str]) -> None:
    shutil.copytree(project / "clusters" / "staging", project / "clusters" / "phase-1-complete")
    refused = doit(project, env, "list", "CLUSTER=phase-1-complete")
    output = (refused.stdout + refused.stderr).strip()
    assert refused.returncode == 3 and len(output.splitlines()) == 1, output
    assert "'phase-1-complete' is reserved" in output and "rename the folder" in output
    assert not (project / ".lab" / "phase-1-complete").exists()  # refused before any folder was made


def test_a_shared_lab_folder_is_refused_for_the_second_cluster(project: Path, env: dict[str, str],
                                                             tmp_path: Path) -> None:
    shared = {**env, "HOPS_LAB_DIR": str(tmp_path / "shared-lab")}
    assert doit(project, shared, "list").returncode == 0
    refused = doit(project, shared, "list", "CLUSTER=staging")
    output = (refused.stdout + refused.stderr).strip()
    assert refused.returncode == 3 and len(output.splitlines()) == 1 and "Traceback" not in output, output
    assert "belongs to cluster 'default', not 'staging': give each cluster its own HOPS_LAB_DIR" in output
    assert doit(project, {**shared, "HOPS_CLUSTER": "home-ops"}, "list").returncode == 0  # its own cluster


def test_command_line_cluster_wins_over_the_environment(project: Path, env: dict[str, str]) -> None:
    staging_state = project / ".lab" / "staging" / "state"
    default_state = project / ".lab" / "state"
    chosen = doit(project, {**env, "HOPS_CLUSTER": "staging"}, "bootstrap_status", "CLUSTER=default")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    assert f"hops bootstrap state ({default_state})" in chosen.stdout
    by_env = doit(project, {**env, "HOPS_CLUSTER": "staging"}, "bootstrap_status")
    assert f"hops bootstrap state ({staging_state})" in by_env.stdout
    by_cli = doit(project, env, "bootstrap_status", "CLUSTER=staging")
    assert f"hops bootstrap state ({staging_state})" in by_cli.stdout


def test_two_clusters_bootstrap_at_the_same_time_without_touching_each_other(project: Path,
                                                                           env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), "bootstrap_phased"]
    runs = {"default": subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True),
            "staging": subprocess.Popen([*command, "CLUSTER=staging"], cwd=project, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)}
    outputs = {name: run.communicate(timeout=900)[0] for name, run in runs.items()}
    for name, run in runs.items():
        assert run.returncode == 0, f"{name}:\n{outputs[name]}"

    labs = {"default": LabLayout(project / ".lab"), "staging": LabLayout(project / ".lab" / "staging")}
    for name, layout in labs.items():
        state = layout.state_dir
        assert [m for m in MARKERS if not (state / m).exists()] == [], name
        assert all((state / f).is_file() for f in ("doit.sqlite", "history.sqlite", "run.lock")), name
        assert list((state / "logs").glob("*-bootstrap_phased-*.log")), name
        assert (layout.root / "cluster").read_text().strip() == name
    assert labs["default"].read_info()["pid"] != labs["staging"].read_info()["pid"]
    assert labs["default"].read_info()["api_url"] != labs["staging"].read_info()["api_url"]

    # each lab's talhelper rendered its own cluster's talconfig, and no call of one run reached the other's lab
    genconfig = {name: [c["argv"] for c in read_calls(layout, "talhelper") if "genconfig" in c["argv"]]
                 for name, layout in labs.items()}
    assert genconfig["default"] and all(str(project / "talconfig.yaml") in argv for argv in genconfig["default"])
    staging_tal = str(project / "clusters" / "staging" / "talconfig.yaml")
    assert genconfig["staging"] and all(staging_tal in argv for argv in genconfig["staging"])
    default_calls = read_calls(labs["default"])
    assert default_calls and not any("clusters/staging" in str(c["argv"]) or "/.lab/staging" in str(c["argv"])
                                     for c in default_calls)
    assert not any(str(project / "talconfig.yaml") in c["argv"] for c in read_calls(labs["staging"]))
    kubeconfigs = {name: (layout.cluster_dir / "kubeconfig").read_text() for name, layout in labs.items()}
    assert "staging" in kubeconfigs["staging"] and "staging" not in kubeconfigs["default"]

    status = doit(project, env, "bootstrap_status", "--all-clusters")
    assert status.returncode == 0, status.stdout + status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines() if line.startswith(("home-ops", "staging"))}
    phases = f"{len(Model.of(PHASES).phases)}/{len(Model.of(PHASES).phases)}"
    assert set(rows) == {"home-ops*", "staging"}, status.stdout
    for name, folder in (("home-ops*", ".lab/state/"), ("staging", ".lab/staging/state/")):
        assert rows[name].split()[2:4] == [folder, phases], rows[name]
        assert " - " in rows[name] and "ok (bootstrap_phased, " in rows[name], rows[name]
