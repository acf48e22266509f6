"""`doit bootstrap_phased --interactive` on a two-phase dodo with a real doit on a pseudo-terminal: each phase's
plan, then continue or stop; stopping leaves the next phase unstarted and a plain run resumes from there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hops.interactive import first_steps, requested
from hops.taskmodel import Model
from tests.guided.terminal import Terminal
from tests.projects import doit, write_config

HERE = Path(__file__).resolve().parent
QUESTION = "[c]ontinue / [s]top: "


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    shutil.copy(HERE / "two_phase_dodo.py", tmp_path / "dodo.py")
    return tmp_path


def runs(project: Path) -> list[str]:
    log = project / "runs.log"
    return log.read_text().split() if log.exists() else []


def markers(project: Path) -> set[str]:
    return {p.name for p in (project / ".bootstrap-state").glob("*-done")} | \
        {p.name for p in (project / ".bootstrap-state").glob("phase-*-complete")}


def test_stop_at_phase_one_shows_its_plan_and_runs_nothing(project: Path) -> None:
    term = Terminal(project, "bootstrap_phased", "--interactive")
    plan = term.answer("Run phase 1 now? " + QUESTION, "s")
    assert "Phase 1 (first: first things), plan:" in plan
    assert "RUN         first:alpha" in plan and "would: create world-alpha" in plan
    assert "second:" not in plan  # only this phase's steps
    rest, code = term.finish()
    assert code == 0, term.text
    assert "Stopped before phase 1 (first) as asked" in rest and "Traceback" not in term.text
    assert runs(project) == [] and markers(project) == set()


def test_continue_then_stop_leaves_phase_two_unstarted_and_a_plain_run_resumes(project: Path) -> None:
    term = Terminal(project, "bootstrap_phased", "--interactive")
    term.answer("Run phase 1 now? " + QUESTION, "x")
    term.expect("answer c (continue) or s (stop)")
    term.answer("Run phase 1 now? " + QUESTION, "c")
    plan = term.answer("Run phase 2 now? " + QUESTION, "stop")
    assert ".  first:alpha" in plan and ".  first:beta" in plan  # phase 1 ran before phase 2's plan was made
    assert "RUN         second:gamma" in plan and "RUN         second:delta" in plan
    assert "first:alpha" not in plan.split("Phase 2 (second")[1]  # phase 2's plan lists phase 2 only
    rest, code = term.finish()
    assert code == 0, term.text
    assert "Stopped before phase 2 (second) as asked: phases 1..1 are complete" in rest
    assert runs(project) == ["alpha", "beta"]
    assert markers(project) == {"alpha-done", "beta-done", "phase-1-complete"}
    resumed = doit(project, "bootstrap_phased", check=True)
    assert runs(project)[:2] == ["alpha", "beta"] and sorted(runs(project)[2:]) == ["delta", "gamma"]  # 1 not again
    assert "Bootstrap complete" in resumed.stdout


def test_a_phase_with_nothing_to_run_is_not_asked_about(project: Path) -> None:
    doit(project, "bootstrap_phased", check=True)
    (project / ".bootstrap-state" / "delta-done").unlink()  # phase 2 has one step to run again
    term = Terminal(project, "bootstrap_resume", "--interactive")
    plan = term.answer("Run phase 2 now? " + QUESTION, "c")
    assert "Phase 1 (first: first things): nothing to run, continuing." in plan
    assert "Run phase 1 now?" not in plan
    assert "up to date  second:gamma" in plan and "RUN         second:delta" in plan
    assert "1 of 3 steps would run" in plan
    _, code = term.finish()
    assert code == 0, term.text
    assert sorted(runs(project)) == ["alpha", "beta", "delta", "delta", "gamma"]  # only delta again


def test_the_configuration_setting_asks_without_the_flag_and_no_interactive_overrides_it(project: Path) -> None:
    config = project / "bootstrap-config.yaml"
    config.write_text(config.read_text().replace("  log_dir: logs", "  log_dir: logs\n  interactive: true"))
    term = Terminal(project, "bootstrap_phased")
    term.answer("Run phase 1 now? " + QUESTION, "s")
    _, code = term.finish()
    assert code == 0 and runs(project) == []
    overridden = doit(project, "bootstrap_phased", "--no-interactive", check=True)  # no terminal: not asked
    assert len(runs(project)) == 4 and QUESTION not in overridden.stdout


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_without_a_terminal_interactive_mode_refuses_before_anything_runs(project: Path, how: str) -> None:
    if how == "setting":
        config = project / "bootstrap-config.yaml"
        config.write_text(config.read_text().replace("  log_dir: logs", "  log_dir: logs\n  interactive: true"))
    result = doit(project, "bootstrap_phased", *(["--interactive"] if how == "flag" else []))
    assert result.returncode == 3
    assert "there is no terminal to ask on" in result.stderr and "Traceback" not in result.stderr
    assert runs(project) == []


def test_interactive_mode_refuses_parallel_workers(project: Path) -> None:
    term = Terminal(project, "-n", "2", "bootstrap_phased", "--interactive")
    rest, code = term.finish()
    assert code == 3 and "cannot be combined with -n" in rest
    assert runs(project) == []


def test_without_interactive_mode_the_graph_has_no_gates(project: Path) -> None:
    listed = doit(project, "list", "--all", "-p", check=True).stdout
    assert "_gate_phase" not in listed
    plain = doit(project, "bootstrap_phased", check=True)
    assert "_gate" not in plain.stdout and len(runs(project)) == 4


@pytest.mark.parametrize(("args", "expected"), [
    (["bootstrap_phased", "--interactive"], (True, True)),
    (["bootstrap_resume", "--no-interactive"], (True, False)),
    (["bootstrap_phased"], (True, None)),
    (["--interactive", "bootstrap_phased"], (True, None)),  # doit's own option position: not the task's
    (["bootstrap_status"], (False, None)),
    (["force_phase", "--phase", "2"], (False, None)),
])
def test_requested_reads_the_flag_of_the_bootstrap_task(args: list[str], expected: tuple) -> None:
    assert requested(args) == expected


def test_first_steps_are_those_without_a_dependency_inside_the_phase() -> None:
    source = (HERE / "two_phase_dodo.py").read_text().split("globals().update")[0]
    namespace: dict = {"__file__": str(HERE / "two_phase_dodo.py")}
    exec(compile(source, "two_phase_dodo.py", "exec"), namespace)  # the components, without loading tasks
    first, second = Model.of((namespace["FIRST"], namespace["SECOND"])).phases
    assert first_steps(first) == {"alpha"}
    assert first_steps(second) == {"gamma", "delta"}  # both wait only for phase 1's complete
