"""The lab's daemon, started by a run that holds the run lock, must not inherit the lock's descriptor: it lives
on after the run, and holding the lock it would refuse every later run."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hops.lab import lifecycle
from hops.lab.layout import LabLayout
from tests.projects import copy_project, doit, lab_env


def test_lab_started_by_a_locked_run_does_not_hold_the_lock(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    environment = lab_env(tmp_path)
    layout = LabLayout(tmp_path / "lab")
    try:
        first = doit(project, "validation:tools", env=environment)   # takes the lock; its tools start the lab
        assert first.returncode == 0, first.stdout + first.stderr
        daemon = json.loads(layout.info_file.read_text())["pid"]
        lock = layout.root / "state" / "run.lock"
        assert lock.exists()
        held = [os.readlink(f"/proc/{daemon}/fd/{fd}") for fd in os.listdir(f"/proc/{daemon}/fd")]
        assert str(lock.resolve()) not in held
        later = doit(project, "forget", "validation", env={**environment, "HOPS_RUN_LOCK_WAIT": "0"})  # lab up, lock free
        assert later.returncode == 0, later.stdout + later.stderr
    finally:
        lifecycle.down(layout)
