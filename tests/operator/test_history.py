"""Run history (hops.history), its report (hops.history_cli), the Mermaid timeline (hops.timeline) and the
Prometheus metrics file (hops.metrics), in-process on a state folder of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hops import history, history_cli, invocation, metrics, timeline
from hops.errors import StepError

GANTT_TASK = re.compile(r"^    [^:#;\s][^:#;]* :(?:(?:done|active|crit|milestone), )*[A-Za-z][\w]*, \d+, (?:\d+|0d)$")


@pytest.fixture(autouse=True)
def isolated() -> None:
    yield
    history.close()
    invocation.reset()


def record_run(state: Path, steps: list[tuple[str, int, str]], result: str | None = "ok",
               waits: dict[str, str] | None = None) -> str:
    """One recorded invocation running `steps` ((step id, phase, result)); result None: never ended (killed)."""
    invocation.reset()
    run = invocation.begin("run", ["bootstrap_phased"], records=True)
    run = invocation._current = invocation.Invocation(run.pid + len(history.runs(state)), run.started, run.command,
                                                      run.argv, True)  # a distinct id per simulated run
    history.begin_run(state)
    for step_id, phase, outcome in steps:
        history.step_started(state, step_id, phase)
        if step_id in (waits or {}):
            history.span(state, step_id, "wait", waits[step_id], *_now_pair(), "done")
            history.span(state, step_id, "retry", "retrying `talosctl health`", *_now_pair(), "retried")
        if outcome != "running":
            history.step_ended(state, step_id, outcome, "boom: token=hunter2" if outcome == "failed" else "")
    if result is not None:
        history.end_run(state, result, "")
    return run.run_id


def _now_pair() -> tuple[float, float]:
    import time

    now = time.time()
    return now, now + 0.25


def test_runs_newest_first_with_per_phase_durations_and_success_rate(tmp_path: Path) -> None:
    first = record_run(tmp_path, [("talos:generate-config", 2, "failed")], result="failed")
    second = record_run(tmp_path, [("talos:generate-config", 2, "ok"), ("networking:wait", 3, "ok")])
    runs = history.runs(tmp_path)
    assert [r.run_id for r in runs] == [second, first]
    assert set(runs[0].phase_durations()) == {2, 3}
    text = history_cli.table(runs)
    assert text.splitlines()[0].split()[-2:] == ["2:talos", "3:networking"]
    assert history_cli.success_line(runs) == "2 runs: 1 ok, 1 failed; success rate 50%"


def test_attempts_count_runs_since_the_last_success(tmp_path: Path) -> None:
    record_run(tmp_path, [("talos:health", 2, "ok")])
    record_run(tmp_path, [("talos:health", 2, "failed")], result="failed")
    record_run(tmp_path, [("talos:health", 2, "interrupted")], result=None)
    record_run(tmp_path, [("talos:health", 2, "ok")])
    assert [r.steps[0].attempt for r in history.runs(tmp_path)] == [3, 2, 1, 1]


def test_a_run_without_an_end_is_shown_as_killed_or_interrupted(tmp_path: Path) -> None:
    record_run(tmp_path, [("talos:health", 2, "ok"), ("talos:complete", 2, "running")], result=None)
    assert history.runs(tmp_path)[0].outcome == "killed (no end recorded)"
    record_run(tmp_path, [("talos:health", 2, "interrupted")], result=None)
    assert history.runs(tmp_path)[0].outcome == "interrupted"
    assert history.runs(tmp_path)[1].steps[0].result == "ok"  # the finished step's row is kept


def test_failure_messages_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hops import secrets

    monkeypatch.setattr(secrets, "redact", lambda text: text.replace("hunter2", "[REDACTED]"))
    record_run(tmp_path, [("talos:health", 2, "failed")], result="failed")
    assert history.runs(tmp_path)[0].steps[0].message == "boom: token=[REDACTED]"
    assert b"hunter2" not in (tmp_path / history.FILE).read_bytes()


def test_typical_duration_uses_successful_runs_only(tmp_path: Path) -> None:
    assert history.typical_duration(tmp_path, "talos:health") is None
    record_run(tmp_path, [("talos:health", 2, "failed")], result="failed")
    assert history.typical_duration(tmp_path, "talos:health") is None
    record_run(tmp_path, [("talos:health", 2, "ok")])
    assert history.typical_duration(tmp_path, "talos:health") is not None


def test_get_run_by_id_or_pid_and_none_when_ambiguous(tmp_path: Path) -> None:
    run_id = record_run(tmp_path, [("talos:health", 2, "ok")])
    assert history.get_run(tmp_path, run_id).run_id == run_id
    assert history.get_run(tmp_path, run_id.rsplit("-", 1)[1]).run_id == run_id
    assert history.get_run(tmp_path, "19990101-000000-1") is None


def test_timeline_is_a_mermaid_gantt_chart(tmp_path: Path) -> None:
    record_run(tmp_path, [("talos:wait-nodes-ready", 2, "ok"), ("talos:health", 2, "failed"),
                          ("networking:wait", 3, "ok")],
               waits={"talos:wait-nodes-ready": "nodes Ready: 1 of 3; #2 not yet"}, result="failed")
    chart = timeline.gantt(history.runs(tmp_path)[0])
    lines = chart.splitlines()
    assert lines[0] == "gantt" and "    dateFormat x" in lines
    sections = [line for line in lines if line.startswith("    section ")]
    assert sections == ["    section phase 2 talos", "    section phase 3 networking"]
    tasks = [line for line in lines[1:] if not line.startswith(("    title ", "    dateFormat", "    axisFormat",
                                                                "    section "))]
    assert tasks and all(GANTT_TASK.match(line) for line in tasks), tasks
    ids = [line.split(":", 1)[1].split(", ")[-3] for line in tasks]
    assert len(ids) == len(set(ids))  # every task id unique
    assert any(":crit, " in line and line.startswith("    health") for line in tasks)        # the failed step
    assert any(line.startswith("    wait nodes Ready 1 of 3 2 not yet :active") for line in tasks)  # its wait
    assert any(":milestone, " in line for line in tasks)                                      # the retry


def test_gantt_check_rejects_a_broken_task_line() -> None:
    assert not GANTT_TASK.match("    wait: nodes :active, s1, 1, 2")  # a colon in the name splits it
    assert GANTT_TASK.match("    wait nodes :active, s1, 1, 2")


def test_metrics_parse_as_prometheus_text(tmp_path: Path) -> None:
    record_run(tmp_path, [("talos:health", 2, "failed")], result="failed")
    record_run(tmp_path, [("talos:health", 2, "ok"), ("networking:wait", 3, "ok")])
    runs = history.runs(tmp_path)
    target = tmp_path / "textfile" / "hops.prom"
    metrics.write(target, metrics.render('home "lab"', runs[0], runs))
    families = {f.name: f for f in text_string_to_metric_families(target.read_text())}
    assert families["hops_bootstrap_last_run_success"].samples[0].value == 1
    phases = {s.labels["group"]: s.value for s in families["hops_bootstrap_phase_duration_seconds"].samples}
    assert set(phases) == {"talos", "networking"}
    attempts = {s.labels["step"]: s.value for s in families["hops_bootstrap_step_attempts"].samples}
    assert attempts == {"talos:health": 2, "networking:wait": 1}
    totals = {s.labels["result"]: s.value for s in families["hops_bootstrap_runs"].samples}
    assert totals == {"ok": 1, "failed": 1}
    assert families["hops_bootstrap_last_run_success"].samples[0].labels["cluster"] == 'home "lab"'
    assert [p.name for p in target.parent.iterdir()] == ["hops.prom"]  # no temporary file left


def test_metrics_of_a_failed_run(tmp_path: Path) -> None:
    record_run(tmp_path, [("talos:health", 2, "failed")], result="failed")
    runs = history.runs(tmp_path)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render("lab", runs[0], runs))}
    assert families["hops_bootstrap_last_run_success"].samples[0].value == 0


# --- logs --------------------------------------------------------------------------------------------------------
def test_find_log_latest_by_id_or_pid(tmp_path: Path) -> None:
    from hops.runlog import point_latest

    old = tmp_path / "20261202-061500-bootstrap_phased-1234.log"
    new = tmp_path / "20261202-071500-talos_wait-nodes-ready-99.log"
    for path in (old, new):
        path.write_text("x\n")
    point_latest(new)
    assert history_cli.find_log(tmp_path, "") == new
    assert history_cli.find_log(tmp_path, "20261202-061500-1234") == old
    assert history_cli.find_log(tmp_path, "1234") == old
    with pytest.raises(StepError, match="run '777' has no log in .*recent runs: 20261202-061500-1234"):
        history_cli.find_log(tmp_path, "777")


def test_find_log_without_any(tmp_path: Path) -> None:
    with pytest.raises(StepError, match="no run logs in"):
        history_cli.find_log(tmp_path, "")


def test_history_before_any_run_says_how_to_record_one(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ctx = type("Ctx", (), {"state_dir": tmp_path})()
    history_cli.show_history(ctx, None, as_json=False, timeline=False, run="", limit=20)
    assert capsys.readouterr().out.startswith("no runs recorded yet in ")
    with pytest.raises(StepError, match="no runs recorded yet .* run `doit bootstrap_phased` first"):
        history_cli.show_history(ctx, None, as_json=False, timeline=True, run="", limit=20)
    assert not (tmp_path / history.FILE).exists()  # asking created nothing
