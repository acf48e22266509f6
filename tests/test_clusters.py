"""Several clusters in one project (hops.clusters): selection by `CLUSTER=` > HOPS_CLUSTER > the root pair, the
unknown-cluster message, per-cluster state and lab folders, the configuration pair each one reads, and the
`--all-clusters` summary. In-process; the real doit runs are in tests/bootstrap/test_clusters_lab.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hops import cluster_status, clusters, endpoints, history
from hops.clusters import Cluster, ClusterError
from hops.config import ConfigError, load_settings
from hops.lab.layout import LabLayout
from hops.phases import PHASES
from hops.taskmodel import Model
from hops.tasks import static_paths
from tests.projects import write_config


def add_cluster(project: Path, name: str) -> Path:
    """clusters/<name>/ with the root pair renamed to `name`."""
    folder = project / "clusters" / name
    folder.mkdir(parents=True)
    for file in clusters.CONFIG_FILES:
        (folder / file).write_text((project / file).read_text().replace("home-ops", name))
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_config(root)
    add_cluster(root, "staging")
    return root


# --- selection -------------------------------------------------------------------------------------------------
def test_no_selection_is_the_root_pair_named_by_its_cluster_name(project: Path) -> None:
    chosen = clusters.select(project, {}, {})
    assert (chosen.name, chosen.is_default, chosen.config_dir, chosen.key) == ("home-ops", True, project, "default")


def test_command_line_wins_over_environment(project: Path) -> None:
    add_cluster(project, "utility")
    assert clusters.select(project, {"HOPS_CLUSTER": "utility"}, {"CLUSTER": "staging"}).name == "staging"
    assert clusters.select(project, {"HOPS_CLUSTER": "utility"}, {}).name == "utility"
    assert clusters.select(project, {"HOPS_CLUSTER": "staging"}, {"CLUSTER": "default"}).is_default
    assert clusters.select(project, {"HOPS_CLUSTER": " "}, {"CLUSTER": ""}).is_default  # empty counts as unset


def test_the_default_cluster_answers_to_its_name_and_to_default(project: Path) -> None:
    assert clusters.select(project, {}, {"CLUSTER": "home-ops"}).is_default
    assert clusters.select(project, {"HOPS_CLUSTER": "default"}, {}).is_default


def test_root_without_cluster_name_is_called_default(tmp_path: Path) -> None:
    (tmp_path / "bootstrap-config.yaml").write_text("bootstrap: {}\n")
    assert clusters.default_cluster(tmp_path).name == "default"
    (tmp_path / "bootstrap-config.yaml").write_text("cluster: {name: [not, a, name]\n")  # broken YAML
    assert clusters.default_cluster(tmp_path).name == "default"


def test_unknown_cluster_names_the_origin_and_every_known_cluster(project: Path) -> None:
    with pytest.raises(ClusterError) as raised:
        clusters.select(project, {}, {"CLUSTER": "prod"})
    message = str(raised.value)
    assert "unknown cluster 'prod' (command line CLUSTER)" in message
    assert "home-ops (default, root bootstrap-config.yaml), staging (clusters/staging/)" in message
    with pytest.raises(ClusterError, match=r"\(environment HOPS_CLUSTER\)"):
        clusters.select(project, {"HOPS_CLUSTER": "prod"}, {})


def test_a_folder_without_bootstrap_config_is_not_a_cluster(project: Path) -> None:
    (project / "clusters" / "notes").mkdir()
    assert [c.name for c in clusters.known(project)] == ["home-ops", "staging"]
    with pytest.raises(ClusterError, match="unknown cluster 'notes'"):
        clusters.select(project, {}, {"CLUSTER": "notes"})


@pytest.mark.parametrize("name", ["logs", "Staging_2"])
def test_reserved_or_invalid_folder_names_are_refused(project: Path, name: str) -> None:
    add_cluster(project, name)
    with pytest.raises(ClusterError, match=r"clusters/" + name + ": .*rename the folder"):
        clusters.select(project, {}, {"CLUSTER": name})


def test_a_name_the_default_clusters_state_uses_is_refused(project: Path) -> None:
    add_cluster(project, "tools-validated")
    assert clusters.select(project, {}, {"CLUSTER": "tools-validated"}).name == "tools-validated"
    (project / ".bootstrap-state").mkdir()
    (project / ".bootstrap-state" / "tools-validated").write_text("marker of the default cluster")
    with pytest.raises(ClusterError, match="'tools-validated' is reserved"):
        clusters.select(project, {}, {"CLUSTER": "tools-validated"})


def test_a_marker_name_is_refused_before_the_default_cluster_wrote_it(project: Path) -> None:
    named = clusters.select(project, {}, {"CLUSTER": "staging"})
    clusters.refuse_reserved(named, {"tools-validated"})  # no clash: nothing raised
    clusters.refuse_reserved(clusters.select(project, {}, {}), {"home-ops"})  # the default is never refused
    add_cluster(project, "tools-validated")
    with pytest.raises(ClusterError, match="'tools-validated' is reserved"):
        clusters.refuse_reserved(clusters.select(project, {}, {"CLUSTER": "tools-validated"}), {"tools-validated"})


# --- folders ---------------------------------------------------------------------------------------------------
def test_state_folders_default_unchanged_others_nested(project: Path) -> None:
    assert endpoints.state_dir(project, {}, clusters.select(project, {}, {})) == project / ".bootstrap-state"
    staging = clusters.select(project, {}, {"CLUSTER": "staging"})
    assert endpoints.state_dir(project, {}, staging) == project / ".bootstrap-state" / "staging"
    assert endpoints.state_dir(project, {"HOPS_CLUSTER": "staging"}) == project / ".bootstrap-state" / "staging"


def test_lab_folders_per_cluster(project: Path) -> None:
    lab = {"HOPS_LAB": "1"}
    default = clusters.select(project, {}, {})
    staging = clusters.select(project, {}, {"CLUSTER": "staging"})
    assert endpoints.state_dir(project, lab, default) == project / ".lab" / "state"
    assert endpoints.state_dir(project, lab, staging) == project / ".lab" / "staging" / "state"
    assert LabLayout.from_env(project, lab, staging).root == project / ".lab" / "staging"
    assert (project / ".lab" / "staging" / "cluster").read_text().strip() == "staging"


def test_one_lab_folder_serves_one_cluster(project: Path, tmp_path: Path) -> None:
    env = {"HOPS_LAB": "1", "HOPS_LAB_DIR": str(tmp_path / "lab")}
    endpoints.state_dir(project, env, clusters.select(project, {}, {}))
    assert endpoints.state_dir(project, env, clusters.select(project, {}, {})) == tmp_path / "lab" / "state"
    with pytest.raises(ClusterError, match="belongs to cluster 'default', not 'staging'.*own HOPS_LAB_DIR"):
        endpoints.state_dir(project, env, clusters.select(project, {}, {"CLUSTER": "staging"}))


def test_lab_reset_of_the_default_lab_keeps_other_clusters_labs(project: Path) -> None:
    from hops.lab import lifecycle

    lab = {"HOPS_LAB": "1"}
    endpoints.state_dir(project, lab, clusters.select(project, {}, {"CLUSTER": "staging"}))
    default_layout = LabLayout.from_env(project, lab, clusters.select(project, {}, {}))
    default_layout.state_dir.mkdir(parents=True)
    lifecycle.reset(default_layout)
    assert not default_layout.state_dir.exists()
    assert (project / ".lab" / "staging" / "cluster").is_file()


# --- configuration pair ----------------------------------------------------------------------------------------
def test_settings_come_from_the_selected_clusters_files(project: Path) -> None:
    assert load_settings(project, env={}).config.cluster.name == "home-ops"
    assert load_settings(project, cli_vars={"CLUSTER": "staging"}, env={}).config.cluster.name == "staging"
    assert load_settings(project, env={"HOPS_CLUSTER": "staging"}).talconfig is not None


def test_unknown_cluster_is_a_configuration_problem(project: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(project, cli_vars={"CLUSTER": "prod"}, env={})
    assert [p.file for p in raised.value.problems] == ["CLUSTER"]
    assert "known clusters: home-ops" in str(raised.value.problems[0])


def test_a_missing_talconfig_in_the_cluster_folder_is_named(project: Path) -> None:
    (project / "clusters" / "staging" / "talconfig.yaml").unlink()
    with pytest.raises(ConfigError) as raised:
        load_settings(project, cli_vars={"CLUSTER": "staging"}, env={})
    assert any(str(project / "clusters" / "staging" / "talconfig.yaml") in str(p) for p in raised.value.problems)


def test_step_sources_name_the_clusters_configuration_pair(project: Path) -> None:
    staging = project / "clusters" / "staging"
    paths = static_paths(("bootstrap-config.yaml", "talconfig.yaml", "talos/patches/*.yaml"), project, staging)
    assert paths[:2] == [staging / "bootstrap-config.yaml", staging / "talconfig.yaml"]
    assert paths[2:] and all(p.parent == project / "talos" / "patches" for p in paths[2:])  # shared, from root
    assert static_paths(("talconfig.yaml",), project) == [project / "talconfig.yaml"]


# --- --all-clusters --------------------------------------------------------------------------------------------
def test_summary_counts_complete_phases_and_names_the_next_step(tmp_path: Path) -> None:
    model = Model.of(PHASES)
    first = model.phases[0]
    for step in first.steps:
        if step.marker:
            (tmp_path / step.marker).touch()
    cluster = Cluster("staging", tmp_path, False)
    summary = cluster_status.summarize(cluster, tmp_path, model)
    second = model.phases[1]
    expected_next = next(second.step_id(s.name) for s in second.steps if s.marker)
    assert (summary.phases_done, summary.phases, summary.next_step) == (1, len(model.phases), expected_next)
    assert summary.last_run == "never ran"


def test_summary_of_a_finished_cluster_has_no_next_step(tmp_path: Path) -> None:
    model = Model.of(PHASES)
    for _, step in model.steps():
        if step.marker:
            (tmp_path / step.marker).touch()
    summary = cluster_status.summarize(Cluster("x", tmp_path, False), tmp_path, model)
    assert (summary.phases_done, summary.next_step) == (len(model.phases), "")


def test_last_run_reads_the_newest_run_of_the_history(tmp_path: Path) -> None:
    conn = history.connect(tmp_path)
    conn.execute("insert into runs (run_id, command, argv, started, ended, result, message, log) values "
                 "('r1', 'bootstrap_phased', 'doit', 1000, 1010, 'failed', '', '')")
    conn.execute("insert into runs (run_id, command, argv, started, ended, result, message, log) values "
                 "('r2', 'bootstrap_resume', 'doit', 2000, 2010, 'ok', '', '')")
    assert cluster_status.last_run(tmp_path) == "ok (bootstrap_resume, 1970-01-01 00:33:20 UTC)"


def test_table_marks_the_selected_cluster(project: Path, tmp_path: Path) -> None:
    model = Model.of(PHASES)
    rows = [cluster_status.summarize(c, endpoints.other_state_dir(project, c, {}), model)
            for c in clusters.known(project)]
    lines = cluster_status.table(rows, project, "staging").splitlines()
    assert lines[0].split() == ["cluster", "configuration", "state", "phases", "next", "step", "last", "run"]
    assert lines[1].split()[:4] == ["home-ops", "bootstrap-config.yaml", ".bootstrap-state/", f"0/{len(model.phases)}"]
    assert lines[2].split()[:4] == ["staging*", "clusters/staging/", ".bootstrap-state/staging/",
                                    f"0/{len(model.phases)}"]
    shutil.rmtree(project / "clusters")
    assert [c.name for c in clusters.known(project)] == ["home-ops"]


def test_another_clusters_problems_name_its_own_files(project: Path) -> None:
    path = project / "clusters" / "staging" / "bootstrap-config.yaml"
    path.write_text(path.read_text().replace("  name: staging", "  name: Not_A_Label", 1))
    with pytest.raises(ConfigError) as raised:
        load_settings(project, cli_vars={"CLUSTER": "staging"}, env={})
    assert any(str(p).startswith("clusters/staging/bootstrap-config.yaml: cluster.name:") for p in raised.value.problems)
    with pytest.raises(ConfigError) as raised:
        load_settings(project, cli_vars={}, env={"CLUSTER_NAME": "Not_A_Label"})  # the default: as before
    assert any(str(p).startswith("bootstrap-config.yaml: cluster.name:") for p in raised.value.problems)


def test_repository_files_of_the_pair_are_the_clusters(project: Path) -> None:
    staging = clusters.select(project, {}, {"CLUSTER": "staging"})
    assert staging.repository_file(project, "talconfig.yaml") == project / "clusters" / "staging" / "talconfig.yaml"
    assert staging.repository_file(project, ".mise.toml") == project / ".mise.toml"


def test_bootstrap_init_refuses_to_write_the_root_pair_for_another_cluster(project: Path) -> None:
    from hops.context import Context
    from hops.errors import StepError
    from hops.init import bootstrap_init

    before = (project / "bootstrap-config.yaml").read_text()
    ctx = Context(project, {"HOPS_CLUSTER": "staging"}, {})
    with pytest.raises(StepError, match="for cluster staging, edit .*clusters/staging/bootstrap-config.yaml"):
        bootstrap_init(ctx, None, yes=True, node=[], answers="")
    assert (project / "bootstrap-config.yaml").read_text() == before
    assert Context(project, {}, {}).cluster.is_default  # the default cluster is not refused by this check


def test_all_clusters_and_live_together_are_refused(project: Path) -> None:
    from hops.context import Context
    from hops.controls import show_status
    from hops.errors import StepError

    ctx = Context(project, {"HOPS_STATE_DIR": str(project / "state")}, {})
    with pytest.raises(StepError, match="--all-clusters shows the markers of every cluster; --live checks one"):
        show_status(ctx, Model.of(PHASES), live=True, all_clusters=True)


def test_all_clusters_prints_every_cluster(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hops.context import Context
    from hops.controls import show_status

    show_status(Context(project, {}, {"CLUSTER": "staging"}), Model.of(PHASES), live=False, all_clusters=True)
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[1:3]] == ["home-ops", "staging*"]
    assert "2 clusters; * = selected" in out
