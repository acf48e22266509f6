"""hops.config.cache: a load with the same inputs is answered from the cache; any changed input is a fresh load."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from hops.config import ConfigError, load, load_settings
from hops.config.targets import declare_steps, known_steps
from cfg_helpers import BASE, talconfig_for


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("HOPS_CONFIG_CACHE", str(folder))
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "bootstrap-config.yaml").write_text(yaml.safe_dump(BASE))
    tal = talconfig_for(BASE)
    tal["nodes"][0]["installDisk"] = "${INSTALL_DISK:-/dev/sda}"
    tal["clusterName"] = "${CLUSTER_NAME:-lab}"
    (root / "talconfig.yaml").write_text(yaml.safe_dump(tal))
    return root


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The roots of every load that did the work (validation) instead of answering from the cache."""
    done: list[Path] = []
    real = load._load

    def counted(root, folder, cli_vars, env):
        done.append(root)
        return real(root, folder, cli_vars, env)

    monkeypatch.setattr(load, "_load", counted)
    return done


def test_the_same_inputs_are_answered_from_the_cache(project: Path, cache_dir: Path, loads: list[Path]) -> None:
    first = load_settings(project, env={})
    second = load_settings(project, env={})
    assert len(loads) == 1
    assert second == first and second is not first
    assert second.config.cluster.name == "lab" and [n.name for n in second.control_plane_nodes] == ["cp-1", "cp-2"]


@pytest.mark.parametrize("change", ["bootstrap file", "talconfig", "override variable", "referenced variable",
                                    "command line", "cluster variable", "declared steps"])
def test_any_changed_input_is_a_fresh_load(project: Path, cache_dir: Path, loads: list[Path], change: str) -> None:
    env: dict[str, str] = {}
    cli: dict[str, str] = {}
    before = load_settings(project, cli_vars=cli, env=env)
    saved_steps = known_steps()
    if change == "bootstrap file":
        (project / "bootstrap-config.yaml").write_text(yaml.safe_dump({**BASE, "gitops": {"owner": "someone"}}))
    elif change == "talconfig":
        (project / "talconfig.yaml").write_text((project / "talconfig.yaml").read_text() + "\n# edited\n")
    elif change == "override variable":
        env = {"CLUSTER_NAME": "other"}
    elif change == "referenced variable":
        env = {"INSTALL_DISK": "/dev/nvme0n1"}
    elif change == "command line":
        cli = {"CLUSTER_NAME": "other"}
    elif change == "cluster variable":
        env = {"HOPS_CLUSTER": "nothere"}
    else:
        declare_steps(["demo:prepare"])
    try:
        after = load_settings(project, cli_vars=cli, env=env)
    except ConfigError as exc:  # an unknown cluster: refused, as without a cache
        assert change == "cluster variable" and "unknown cluster 'nothere'" in str(exc)
        return
    finally:
        declare_steps(list(saved_steps or ()))
    assert len(loads) == 2, f"a changed {change} was answered from the cache"
    if change in ("override variable", "command line"):
        assert after.config.cluster.name == "other" != before.config.cluster.name
    if change == "referenced variable":
        assert after.talconfig.raw["nodes"][0]["installDisk"] == "/dev/nvme0n1" != before.talconfig.raw["nodes"][0]["installDisk"]


def test_an_unrelated_environment_variable_still_hits(project: Path, cache_dir: Path, loads: list[Path]) -> None:
    load_settings(project, env={"TERM": "xterm"})
    load_settings(project, env={"TERM": "dumb", "OLDPWD": "/tmp"})
    assert len(loads) == 1


def test_a_configuration_with_problems_is_never_cached(project: Path, cache_dir: Path, loads: list[Path]) -> None:
    (project / "bootstrap-config.yaml").write_text(yaml.safe_dump({**BASE, "cluster": {"name": "Bad_Name"}}))
    for _ in range(2):
        with pytest.raises(ConfigError, match="cluster"):
            load_settings(project, env={})
    assert len(loads) == 2
    assert not list(cache_dir.glob("*.pickle")) if cache_dir.exists() else True


def test_copies_are_private_to_the_user(project: Path, cache_dir: Path) -> None:
    load_settings(project, env={})
    (copy,) = cache_dir.glob("*.pickle")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700


def test_a_damaged_copy_is_a_fresh_load(project: Path, cache_dir: Path, loads: list[Path]) -> None:
    first = load_settings(project, env={})
    (copy,) = cache_dir.glob("*.pickle")
    copy.write_bytes(b"not a pickle")
    assert load_settings(project, env={}) == first
    assert len(loads) == 2
    assert load_settings(project, env={}) == first and len(loads) == 2  # written again by the fresh load


def test_hops_config_cache_0_turns_it_off(project: Path, loads: list[Path], monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("HOPS_CONFIG_CACHE", "0")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load_settings(project, env={})
    load_settings(project, env={})
    assert len(loads) == 2 and not (tmp_path / "xdg").exists()


def test_only_the_newest_copies_are_kept(project: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hops.config import cache

    monkeypatch.setattr(cache, "KEEP", 3)
    for n in range(5):
        load_settings(project, env={"CLUSTER_NAME": f"lab{n}"})
    assert len(list(cache_dir.glob("*.pickle"))) == 3


def test_a_root_given_another_way_is_another_entry(project: Path, cache_dir: Path, loads: list[Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings keeps the root as given: a copy written for `.` must not answer for the absolute path (or for `.`
    from another working directory)."""
    monkeypatch.chdir(project)
    relative = load_settings(Path("."), env={})
    absolute = load_settings(project, env={})
    assert len(loads) == 2 and relative.root == Path(".") and absolute.root == project


def test_a_write_cut_short_leaves_no_partial_copy(project: Path, cache_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from hops import user_cache

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # after the copy's bytes are written to its temporary file, before it is renamed

    monkeypatch.setattr(user_cache.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_settings(project, env={})
    assert list(cache_dir.iterdir()) == []
