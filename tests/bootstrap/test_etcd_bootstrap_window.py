"""Phase 2 against a first control-plane node that answers "not yet" to `talosctl bootstrap` (the lab's `notyet`
fault): a real doit waits through the window and bootstraps etcd exactly once, also across a SIGKILL in the
window, and a permanent error still fails at once with talosctl's message."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls

WAITING = "waiting for talos-cp-1 (172.29.51.11) to accept the etcd bootstrap: "


def talosctl_calls(lab_env: dict) -> list[dict]:
    return read_calls(LabLayout(Path(lab_env["HOPS_LAB_DIR"])), "talosctl")


def bootstraps(lab_env: dict) -> tuple[int, int]:
    """(successful, refused) `talosctl bootstrap` calls in the lab's calls log."""
    calls = [c for c in talosctl_calls(lab_env) if c["argv"][:1] == ["bootstrap"]]
    return sum(c["exit"] == 0 for c in calls), sum(c["exit"] != 0 for c in calls)


def assert_members_asked_before_each_retry(lab_env: dict) -> None:
    """Between two `talosctl bootstrap` calls hops asked etcd for members (a lost answer may have succeeded)."""
    verbs = [" ".join(c["argv"][:2]) if c["argv"][:1] == ["etcd"] else c["argv"][0] for c in talosctl_calls(lab_env)]
    positions = [i for i, verb in enumerate(verbs) if verb == "bootstrap"]
    for before, after in zip(positions, positions[1:]):
        assert "etcd members" in verbs[before + 1:after], verbs[before:after + 1]


def read_until(proc: subprocess.Popen, text: str, timeout: float) -> str:
    """doit's output up to the first line holding `text` (waits on the pipe, bounded; fails if doit ends first)."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    seen, deadline = b"", time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0 and selector.select(left), f"no {text!r} from doit within {timeout}s:\n{seen.decode()}"
        chunk = os.read(proc.stdout.fileno(), 65536)
        assert chunk, f"doit ended (exit {proc.wait()}) before {text!r}:\n{seen.decode()}"
        seen += chunk
    return seen.decode()


def test_waits_through_the_window_and_bootstraps_once(doit, lab_env: dict, state_dir: Path) -> None:
    doit("lab_up", env={"HOPS_LAB_FAULTS": "notyet:talos-cp-1:3000"})
    run = doit("talos")
    out = run.stdout
    assert out.count(WAITING + "its container runtime is not up yet (bootstrap is not available yet)") == 1, out
    assert "etcd bootstrapped on talos-cp-1 (172.29.51.11)" in out
    succeeded, refused = bootstraps(lab_env)
    assert succeeded == 1 and refused >= 1
    assert_members_asked_before_each_retry(lab_env)
    assert (state_dir / "etcd-bootstrapped").exists() and (state_dir / "phase-2-complete").exists()


def test_sigkill_in_the_window_then_rerun_bootstraps_once(project: Path, doit, lab_env: dict) -> None:
    doit("lab_up", env={"HOPS_LAB_FAULTS": "notyet:talos-cp-1:8000:time"})
    proc = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), "talos"], cwd=project,
                            env=lab_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        read_until(proc, WAITING + "its clock is not in sync yet (time is not in sync yet)", timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)   # doit and every talosctl it started
        proc.wait(timeout=30)
        proc.stdout.close()
    assert bootstraps(lab_env)[0] == 0 and bootstraps(lab_env)[1] >= 1   # killed inside the window
    rerun = doit("talos")
    assert "talos:bootstrap-etcd" in rerun.stdout
    assert bootstraps(lab_env)[0] == 1
    assert_members_asked_before_each_retry(lab_env)


def test_a_permanent_error_fails_at_once_with_the_tools_message(doit, lab_env: dict, state_dir: Path) -> None:
    doit("lab_up", env={"HOPS_LAB_FAULTS": "fail:talosctl bootstrap:1"})
    failed = doit("talos", check=False)
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "Error: talosctl bootstrap: injected failure (hops lab fault)" in out
    assert "talos:bootstrap-etcd" in out and WAITING not in out
    assert bootstraps(lab_env) == (0, 1)                 # no second attempt
    assert not (state_dir / "etcd-bootstrapped").exists()
    doit("talos")
    assert bootstraps(lab_env) == (1, 1)
