"""The Taskfile semantics hops maps onto doit, each shown with a real doit process on a small dodo."""

from __future__ import annotations

import os
import shutil
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.projects import doit, write_config

HERE = Path(__file__).resolve().parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    shutil.copy(HERE / "demo_dodo.py", tmp_path / "dodo.py")
    (tmp_path / "input.txt").write_text("v1\n")
    return tmp_path


def runs(project: Path) -> list[str]:
    log = project / "runs.log"
    return log.read_text().split() if log.exists() else []


def run_ok(project: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    result = doit(project, *args, **kw)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def state(project: Path) -> Path:
    return project / ".bootstrap-state"


def test_completed_step_is_skipped(project: Path) -> None:
    run_ok(project, "demo")
    assert runs(project) == ["prepare", "configure", "deploy", "bootstrap"]
    second = run_ok(project, "demo")
    assert runs(project) == ["prepare", "configure", "deploy", "bootstrap"]
    assert "-- demo:prepare" in second.stdout  # doit's "up to date" line


def test_deleted_marker_reruns_only_that_step(project: Path) -> None:
    run_ok(project, "demo")
    (state(project) / "prepared").unlink()
    run_ok(project, "demo")
    assert runs(project).count("prepare") == 2
    assert runs(project).count("configure") == 1


def test_changed_source_reruns(project: Path) -> None:
    run_ok(project, "demo")
    (project / "input.txt").write_text("v2\n")
    run_ok(project, "demo")
    assert runs(project).count("configure") == 2
    assert runs(project).count("prepare") == 1


def test_changed_configuration_dependent_source_reruns_and_a_touch_alone_does_not(project: Path) -> None:
    generated = project / "generated.txt"
    generated.write_text("one\n")
    run_ok(project, "demo")
    run_ok(project, "demo")
    assert runs(project).count("configure") == 1  # unchanged: up to date (no content read: equal stamps)
    stat = generated.stat()
    generated.write_text("two\n")  # same size: the modification time tells it changed
    os.utime(generated, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    run_ok(project, "demo")
    assert runs(project).count("configure") == 2
    os.utime(generated, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000))  # touched, content as before
    run_ok(project, "demo")
    assert runs(project).count("configure") == 2
    generated.unlink()  # a source gone counts as a change
    run_ok(project, "demo")
    assert runs(project).count("configure") == 3


def test_failed_live_check_reruns(project: Path) -> None:
    run_ok(project, "demo")
    (project / "world-prepared").unlink()  # the world no longer agrees with the marker
    run_ok(project, "demo")
    assert runs(project).count("prepare") == 2


def test_forget_step_and_group_rerun_despite_live_checks(project: Path) -> None:
    run_ok(project, "demo")
    run_ok(project, "forget", "demo:prepare")
    run_ok(project, "demo")
    assert runs(project).count("prepare") == 2  # its live check holds: only run_once makes forget effective
    run_ok(project, "forget", "demo")
    run_ok(project, "demo")
    assert runs(project).count("prepare") == 3
    assert runs(project).count("configure") == 2
    assert runs(project).count("deploy") == 2


def test_exception_in_status_check_counts_as_not_up_to_date(project: Path) -> None:
    run_ok(project, "demo")
    (project / "raise").touch()
    result = run_ok(project, "demo")
    assert runs(project).count("configure") == 2
    assert "status check 'flaky' could not run (RuntimeError: the API said no)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    logs = list((state(project) / "logs").glob("*.log"))
    assert any("the API said no" in log.read_text() for log in logs)


def test_precondition_failure_names_step_and_message(project: Path) -> None:
    (project / "block").touch()
    result = doit(project, "demo")
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "demo:deploy: precondition failed: the block file must be removed first (block file present)" in out
    assert "deploy" not in runs(project)
    assert (state(project) / "configured").exists()  # earlier steps stay done: the next run resumes at deploy
    (project / "block").unlink()
    run_ok(project, "demo")
    assert runs(project) == ["prepare", "configure", "deploy", "bootstrap"]


def test_once_guard_prevents_a_second_bootstrap_after_forget(project: Path) -> None:
    run_ok(project, "demo")
    (state(project) / "bootstrapped").unlink()
    run_ok(project, "forget", "demo:bootstrap")
    result = run_ok(project, "demo:bootstrap")
    assert runs(project).count("bootstrap") == 1
    assert "already done" in result.stdout
    assert (state(project) / "bootstrapped").exists()


def test_when_false_skips_and_true_runs(project: Path) -> None:
    result = run_ok(project, "demo:optional")
    assert "optional" not in runs(project)
    assert "skipped: not applicable" in result.stdout
    (state(project) / "optional-done").unlink()
    run_ok(project, "forget", "demo:optional")
    run_ok(project, "demo:optional", env={"DEMO_OPTIONAL": "1"})
    assert runs(project) == ["optional"]


def test_settings_come_from_one_resolved_object_with_overrides(project: Path) -> None:
    run_ok(project, "demo", "CLUSTER_NAME=override-name")
    seen = (project / "seen-settings").read_text().split("\n")
    ids = {line.split()[0] for line in seen if line}
    names = {line.split()[1] for line in seen if line}
    assert len(ids) == 1  # both steps saw the same Settings object (loaded once per run)
    assert names == {"override-name"}


def test_bad_configuration_fails_with_file_and_field(project: Path) -> None:
    config = project / "bootstrap-config.yaml"
    config.write_text(config.read_text().replace("address: 127.0.51.12", "address: not-an-ip"))
    result = doit(project, "demo:prepare")
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "bootstrap-config.yaml" in out and "network.nodes[1].address" in out
    assert "Traceback" not in out


def wait_for_fifo_line(path: Path, proc: subprocess.Popen, timeout: float = 60) -> str:
    """Read one line from a FIFO, but give up if the writer process dies first (no blind blocking)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    data = b""
    try:
        while b"\n" not in data:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise AssertionError(f"no signal from the step within {timeout}s")
            chunk = os.read(fd, 1024)
            if not chunk and proc.poll() is not None:
                raise AssertionError(f"doit exited with {proc.returncode} before the step started")
            data += chunk
    finally:
        os.close(fd)
    return data.decode().strip()


@pytest.mark.parametrize("backend,survives", [("hops-sqlite", True), ("json", False)])
def test_progress_survives_sigkill(project: Path, backend: str, survives: bool) -> None:
    os.mkfifo(project / "started.fifo")
    options = [] if backend == "hops-sqlite" else ["--backend", backend, "--db-file", str(project / "plain.db")]
    args = [sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), *options, "demo"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}
    proc = subprocess.Popen(args, cwd=project, env={**env, "DEMO_BLOCK": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_fifo_line(project / "started.fifo", proc) == "deploy started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert runs(project) == ["prepare", "configure", "deploy"]
    run_ok(project, *options, "demo")
    if survives:
        assert runs(project) == ["prepare", "configure", "deploy", "deploy", "bootstrap"]
    else:  # doit's own backends lose every record of the killed run: finished steps run again
        assert runs(project).count("prepare") == 2


def test_second_run_is_refused_while_one_is_running_but_status_works(project: Path) -> None:
    os.mkfifo(project / "started.fifo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}
    proc = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), "-n", "2", "demo"],
                            cwd=project, env={**env, "DEMO_BLOCK": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for_fifo_line(project / "started.fifo", proc) == "deploy started"
        second = doit(project, "demo")
        assert second.returncode != 0
        assert f"another hops run (pid {proc.pid}) is working on this cluster" in second.stdout + second.stderr
        status = run_ok(project, "bootstrap_status")
        assert "steps complete" in status.stdout
    finally:  # kill doit and its forked workers: a surviving worker would rightly keep the lock
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    run_ok(project, "demo")  # the kernel released the killed run's lock
