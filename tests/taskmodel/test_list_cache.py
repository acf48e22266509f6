"""`doit list` from the copy a full load kept (hops.task_list_cache): the same output as the full load, without
importing any component; a full load again whenever an input changed or the options need the real tasks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests import forkserver
from tests.projects import REPO, copy_project, write_config

LISTINGS = [["--all"], [], ["-q"], ["--all", "-p"], ["--all", "--sort", "definition"], ["--all", "talos"],
            ["--template", "{name}|{doc}"], ["phase3", "bootstrap_status"]]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = copy_project(tmp_path)
    write_config(project)
    return project


def listing(project: Path, cache: Path | str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`doit list` (a real doit, forked from the test fork server) and, on stderr, whether a component module was
    imported (tests/taskmodel/list_probe.py)."""
    full_env = {"PATH": "/usr/bin:/bin", "HOME": str(project.parent), "PYTHONPATH": str(REPO),
                "HOPS_LIST_CACHE": str(cache), **env}
    return forkserver.run_module("tests.taskmodel.list_probe", ["-f", str(project / "dodo.py"), "list", *args],
                                 project, full_env, 120)


def loaded_components(result: subprocess.CompletedProcess) -> bool:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "COMPONENTS-IMPORTED=" in result.stderr, result.stderr
    return "COMPONENTS-IMPORTED=True" in result.stderr


def copies(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.json"))


@pytest.mark.parametrize("args", LISTINGS, ids=" ".join)
def test_a_kept_list_prints_what_the_full_load_prints_without_importing_a_component(project: Path, tmp_path: Path,
                                                                                  args: list[str]) -> None:
    cache = tmp_path / "cache"
    full = listing(project, "0", *args)
    first = listing(project, cache, *args)
    second = listing(project, cache, *args)
    assert loaded_components(full) and loaded_components(first) and not loaded_components(second)
    assert len(full.stdout.splitlines()) >= 2
    assert second.stdout == first.stdout == full.stdout


def test_status_and_deps_need_the_real_tasks(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    listing(project, cache, "--all")
    for args in (["--status"], ["--deps", "networking:deploy-cilium"]):
        result = listing(project, cache, *args)
        assert loaded_components(result), args
    deps = listing(project, cache, "--deps", "networking:deploy-cilium").stdout
    assert "infrastructure/networking/cilium/values.yaml" in deps


def test_a_changed_input_is_a_full_load_that_keeps_a_new_copy(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    listing(project, cache)
    assert not loaded_components(listing(project, cache))
    config = project / "bootstrap-config.yaml"
    config.write_text(config.read_text() + "\n")  # size and time: a cluster could be named differently now
    assert loaded_components(listing(project, cache))
    assert not loaded_components(listing(project, cache))
    (project / "clusters" / "staging").mkdir(parents=True)  # the clusters/ folder changed
    assert loaded_components(listing(project, cache))
    assert not loaded_components(listing(project, cache))


def test_a_changed_hops_module_is_a_full_load(project: Path, tmp_path: Path) -> None:
    """The copy records each module the load imported: a stamp that differs (an edited or upgraded hops) misses."""
    cache = tmp_path / "cache"
    listing(project, cache)
    (path,) = copies(cache)
    record = json.loads(path.read_text())
    files = record["inputs"]["files"]
    module = next(f for f in files if f.endswith("components/networking.py"))
    files[module] = [files[module][0] + 1, files[module][1]]
    path.write_text(json.dumps(record))
    assert loaded_components(listing(project, cache))
    assert not loaded_components(listing(project, cache))


def test_each_environment_has_its_own_copy(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    listing(project, cache)
    staging = listing(project, cache, HOPS_CLUSTER="staging")  # unknown here: the full load refuses it
    assert staging.returncode == 3 and "unknown cluster 'staging'" in staging.stdout + staging.stderr
    assert len(copies(cache)) == 1
    assert loaded_components(listing(project, cache, HOPS_LAB="1", HOPS_LAB_DIR=str(tmp_path / "lab")))
    assert not loaded_components(listing(project, cache, HOPS_LAB="1", HOPS_LAB_DIR=str(tmp_path / "lab")))
    assert not loaded_components(listing(project, cache))
    assert len(copies(cache)) == 2


def test_what_the_kept_list_cannot_answer_gets_the_full_load_s_answer(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    listing(project, cache)
    misspelt = listing(project, cache, "netwrking")
    assert misspelt.returncode == 3 and "networking" in misspelt.stdout + misspelt.stderr  # did you mean
    variable = listing(project, cache, "CLUSTR_NAME=prod")
    assert variable.returncode == 3 and "unknown variable" in variable.stdout + variable.stderr


def test_without_a_writable_cache_folder_listing_still_works(project: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    result = listing(project, blocked / "cache", "--all")
    assert loaded_components(result) and "applications:ready" in result.stdout
