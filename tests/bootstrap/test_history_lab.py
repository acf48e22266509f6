"""Run history, metrics file and logs after real bootstraps on one lab (module-scoped: two `doit
bootstrap_phased` runs, the second finding everything up to date), then the read-only commands on it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.projects import copy_project, lab_env
from tests.projects import doit as run_doit

pytestmark = pytest.mark.lab
LOG_NAME = re.compile(r"^\d{8}-\d{6}-(?P<command>[\w.-]+)-\d+\.log$")


class Lab:
    def __init__(self, base: Path) -> None:
        self.project = copy_project(base)
        self.env = lab_env(base, speed=1000)
        self.state = Path(self.env["HOPS_LAB_DIR"]) / "state"
        config = self.project / "bootstrap-config.yaml"
        text = config.read_text()
        anchor = "  command_timeout: 300"
        assert anchor in text
        config.write_text(text.replace(anchor, "  metrics_file: textfile/hops.prom\n" + anchor, 1))
        self.runs: list[subprocess.CompletedProcess] = []

    def doit(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_doit(self.project, *args, env=self.env, check=check, timeout=600)

    def logs(self) -> list[Path]:
        return sorted((self.state / "logs").iterdir())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("history"))
    try:
        lab.runs.append(lab.doit("bootstrap_phased"))
        lab.runs.append(lab.doit("bootstrap_phased"))
        yield lab
    finally:
        subprocess.run([sys.executable, "-m", "hops.lab", "down"], env=lab.env, cwd=lab.project,
                       capture_output=True, timeout=60)


def test_history_lists_both_bootstraps_with_per_phase_durations(lab: Lab) -> None:
    out = lab.doit("bootstrap_history").stdout.splitlines()
    header = next(i for i, line in enumerate(out) if line.startswith("run "))
    assert out[header].split()[-6:] == ["1:validation", "2:talos", "3:networking", "4:services", "5:gitops",
                                        "6:applications"]
    rows = [line.split() for line in out[header + 1:header + 3]]
    assert all(row[1] == "bootstrap_phased" and row[5] == "ok" for row in rows)
    first = rows[1]  # newest first: the full bootstrap is the second row
    assert all(re.fullmatch(r"\d+(m\d\ds)?s?|\d+s", cell) for cell in first[-6:]), first
    assert out[header + 3] == "2 runs: 2 ok; success rate 100%"


def test_history_as_json(lab: Lab) -> None:
    runs = json.loads(lab.doit("bootstrap_history", "--json").stdout.split("\n", 1)[1])
    assert [r["outcome"] for r in runs] == ["ok", "ok"]
    full = runs[1]
    assert set(full["phase_durations"]) == {"1", "2", "3", "4", "5", "6"}
    waited = [s for s in full["steps"] if s["step_id"] == "talos:wait-nodes-ready"][0]
    assert waited["result"] == "ok" and waited["ended"] >= waited["started"]
    assert any(span["kind"] == "wait" for span in waited["spans"])


def test_timeline_of_the_full_bootstrap(lab: Lab) -> None:
    run_id = json.loads(lab.doit("bootstrap_history", "--json").stdout.split("\n", 1)[1])[1]["run_id"]
    chart = lab.doit("bootstrap_history", "--timeline", "--run", run_id).stdout.split("\n", 1)[1]
    lines = chart.splitlines()
    assert lines[0] == "gantt" and run_id in lines[1]
    assert [line.split()[2] for line in lines if line.startswith("    section ")] == ["1", "2", "3", "4", "5", "6"]
    assert any(line.startswith("    wait nodes to finish installing") for line in lines)


def test_timeline_of_an_unknown_run_says_how_to_find_one(lab: Lab) -> None:
    refused = lab.doit("bootstrap_history", "--timeline", "--run", "19990101-000000-1", check=False)
    assert refused.returncode == 1
    assert "no run '19990101-000000-1'" in refused.stdout and "`doit bootstrap_history` lists" in refused.stdout
    assert "TaskFailed" not in refused.stdout + refused.stderr and "Traceback" not in refused.stderr


def test_metrics_file_parses(lab: Lab) -> None:
    text = (lab.state / "textfile" / "hops.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["hops_bootstrap_last_run_success"].samples[0].value == 1
    assert {s.labels["result"]: s.value for s in families["hops_bootstrap_runs"].samples} == {"ok": 2}
    assert families["hops_bootstrap_last_run_timestamp_seconds"].samples[0].value > 0


def test_logs_are_named_by_command_and_latest_points_to_the_newest(lab: Lab) -> None:
    logs = [p for p in lab.logs() if p.name != "latest.log"]
    assert all(LOG_NAME.match(p.name) for p in logs), logs
    assert "bootstrap_phased" in {LOG_NAME.match(p.name)["command"] for p in logs}  # (a failed command logs too)
    latest = lab.state / "logs" / "latest.log"
    runs = [p for p in logs if LOG_NAME.match(p.name)["command"] == "bootstrap_phased"]
    assert latest.is_symlink() and latest.resolve() == max(runs, key=lambda p: p.name)  # not a failed query's


def test_read_only_commands_leave_no_log_file(lab: Lab) -> None:
    before = lab.logs()
    for args in (("bootstrap_status",), ("bootstrap_history",), ("bootstrap_log", "--tail", "1"), ("list",)):
        lab.doit(*args)
    assert lab.logs() == before


def test_bootstrap_log_prints_the_last_runs_log(lab: Lab) -> None:
    latest = (lab.state / "logs" / "latest.log").resolve()
    shown = lab.doit("bootstrap_log").stdout
    assert f"# {latest}" in shown
    assert latest.read_text().strip().splitlines()[-1] in shown
    tail = lab.doit("bootstrap_log", "--tail", "2").stdout.splitlines()
    assert tail[-2:] == latest.read_text().strip().splitlines()[-2:] and len(tail) == 4  # doit's line, header
    first_log = min((p for p in lab.logs() if p.name != "latest.log"), key=lambda p: p.name)
    stamp, pid = first_log.stem.split("-")[:2], first_log.stem.rsplit("-", 1)[1]
    other = lab.doit("bootstrap_log", "--run", f"{stamp[0]}-{stamp[1]}-{pid}", "--tail", "1").stdout
    assert f"# {first_log}" in other
