"""bootstrap_status and talos_status fit 80 and 60 columns without cutting step ids, markers or node names; the
live/drift state shows at every width; pipes keep the full table. Real doit in a pseudo-terminal on the demo
dodo, plus the layouts in-process with the longest real step ids and markers."""

from __future__ import annotations

import io
import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from hops import status_view
from hops.components import talos
from hops.phases import PHASES
from hops.taskmodel import Model
from tests.projects import doit, write_config

HERE = Path(__file__).resolve().parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DEMO_STEPS = ("demo:prepare", "demo:configure", "demo:deploy", "demo:bootstrap", "demo:optional", "demo:complete")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    shutil.copy(HERE / "demo_dodo.py", tmp_path / "dodo.py")
    (tmp_path / "input.txt").write_text("v1\n")
    assert doit(tmp_path, "demo").returncode == 0
    return tmp_path


def in_terminal(project: Path, columns: int, *args: str) -> list[str]:
    """The lines a real doit prints on a terminal `columns` wide (colours stripped)."""
    leader, follower = pty.openpty()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}, "COLUMNS": str(columns),
           "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), *args], cwd=project,
                            stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    proc.wait(timeout=60)
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r", "").splitlines()


@pytest.mark.parametrize("columns", [80, 60])
def test_status_fits_the_terminal_and_cuts_no_step_id_or_marker(project: Path, columns: int) -> None:
    (project / "world-prepared").unlink()  # demo:prepare's live check no longer holds: drift
    lines = in_terminal(project, columns, "bootstrap_status", "--live")
    state = str(project / ".bootstrap-state")  # the title names it whole: a long path is the one longer line
    assert any(state in line for line in lines)
    assert lines and all(len(line) <= columns for line in lines if state not in line), "\n".join(lines)
    words = {w for line in lines for w in line.split()}
    assert set(DEMO_STEPS) <= words
    assert {"prepared", "configured", "deployed", "bootstrapped", "optional-done", "phase-1-complete"} <= words
    assert any(line.startswith("      DRIFT: does not hold") for line in lines), "\n".join(lines)  # own line
    assert "6/6 steps complete" in lines


def test_status_on_a_wide_terminal_and_in_a_pipe_is_the_full_table(project: Path) -> None:
    wide = in_terminal(project, 160, "bootstrap_status", "--live")
    piped = doit(project, "bootstrap_status", "--live", env={"COLUMNS": "60"}).stdout.splitlines()
    for lines in (wide, piped):
        header = next(line for line in lines if "completed" in line)
        assert all(word in header for word in ("phase", "step", "marker", "took", "live"))
        assert any(re.search(r"demo:prepare .*prepared .*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*ok", line) for line in lines)


def rows_of_every_real_step() -> list[dict]:
    model = Model.of(PHASES)
    return [{"phase": comp.phase, "step": comp.step_id(step.name), "marker": step.marker or "", "done": True,
             "completed_at": "2026-12-02T06:00:41+00:00", "duration": "12.3s", "note": "",
             "live": "DRIFT: cilium 0/3 pods ready on talos-cp-1, talos-cp-2 and talos-cp-3 (wanted 3 of 3)"}
            for comp, step in model.steps()]


@pytest.mark.parametrize("stacked", [False, True])
def test_line_layouts_keep_every_step_id_and_marker_whole(stacked: bool) -> None:
    rows = rows_of_every_real_step()
    out = status_view.lines(rows, {}, live=True, width=60, stacked=stacked)
    texts = [t.plain for t in out]
    for row in rows:
        assert any(row["step"] in t.split() for t in texts) and any(row["marker"] in t.split() for t in texts)
    if stacked:
        assert max(map(len, texts)) <= 60
    assert sum(t.startswith("      DRIFT:") for t in texts) == len(rows)


def test_short_time_drops_the_year_seconds_and_zone() -> None:
    assert status_view.short_time({"completed_at": "2026-12-02T06:00:41+00:00"}) == "12-02 06:00"
    assert status_view.short_time({"completed_at": ""}) == ""


NODES = [["talos-cp-1", "172.29.51.11", "controlplane", "maintenance mode (insecure only)", "maintenance", "no",
          "not registered"], ["talos-w-1", "172.29.51.21", "worker", "yes", "running (ready)", "-", "Ready"]]


@pytest.mark.parametrize("columns", [80, 60])
def test_talos_status_stacks_on_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr("hops.fitting.console", lambda: Console(file=buffer, width=columns, force_terminal=True,
                                                                 color_system=None, soft_wrap=True))
    talos.show_node_rows(NODES)
    lines = buffer.getvalue().splitlines()
    assert all(len(line) <= columns for line in lines), buffer.getvalue()
    assert lines[0].split() == ["talos-cp-1", "172.29.51.11", "controlplane"]
    assert "Talos API: maintenance mode (insecure only)" in buffer.getvalue()
    assert "Kubernetes Node: not registered" in buffer.getvalue()


def test_talos_status_in_a_pipe_is_one_row_per_node(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr("hops.fitting.console", lambda: Console(file=buffer, soft_wrap=True))
    talos.show_node_rows(NODES)
    row = next(line for line in buffer.getvalue().splitlines() if "talos-w-1" in line)
    assert all(cell in row for cell in NODES[1])
