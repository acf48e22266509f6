"""A serial `doit run` takes a phase's steps in declared order (hops.run_order), with a real doit; and only then."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from hops import doit_frame, run_order
from hops.taskmodel import Component, Model, Step
from tests.projects import doit, write_config
from tests.runguard.helpers import runs

HERE = Path(__file__).resolve().parent
DECLARED = ["only", "start-a", "start-b", "wait-a", "after-a", "wait-b"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    shutil.copy(HERE / "order_dodo.py", tmp_path / "dodo.py")
    return tmp_path


@pytest.mark.parametrize("selected", ["order", "order:complete", "phase2"])
def test_a_serial_run_takes_the_declared_order(project: Path, selected: str) -> None:
    doit(project, selected, check=True)
    assert runs(project) == DECLARED  # doit alone runs wait-b right after start-b, before after-a


def test_a_run_of_one_step_runs_only_what_it_depends_on(project: Path) -> None:
    doit(project, "order:wait-b", check=True)
    assert runs(project) == ["only", "start-b", "wait-b"]  # start-a comes before it in the declaration, but is not needed


def test_with_continue_a_failure_does_not_hold_back_independent_steps(project: Path) -> None:
    (project / "fail").write_text("start-a")
    result = doit(project, "--continue", "order")
    assert result.returncode != 0 and "order:start-a" in result.stdout
    assert sorted(runs(project)) == ["only", "start-a", "start-b", "wait-b"]  # only A's branch is skipped


def test_without_continue_a_failure_stops_the_run(project: Path) -> None:
    (project / "fail").write_text("start-a")
    assert doit(project, "order").returncode == 1
    assert runs(project) == ["only", "start-a"]


def test_info_shows_the_declared_deps_only(project: Path) -> None:
    result = doit(project, "info", "order:wait-b")  # exit 1: not up to date
    assert "task_dep" in result.stdout and "order:start-b" in result.stdout and "order:after-a" not in result.stdout


# --- the rules, in process ----------------------------------------------------------------------------------
def _step(name: str, *deps: str) -> Step:
    return Step(name, name, print, deps=deps)


def test_a_declaration_out_of_dep_order_is_followed_where_the_deps_allow() -> None:
    comp = Component("g", "g", (_step("late", "early"), _step("other"), _step("early")))
    assert run_order.declared_order(comp) == ["g:other", "g:early", "g:late"]  # never an edge against a dep


def test_a_cycle_keeps_the_declared_order_for_doit_to_report() -> None:
    comp = Component("g", "g", (_step("a", "b"), _step("b", "a")))
    assert run_order.declared_order(comp) == ["g:a", "g:b"]


def test_edges_link_only_the_steps_the_run_reaches() -> None:
    comp = Component("g", "g", (_step("a"), _step("b"), _step("c", "b")))
    assert run_order.order_edges(comp, {"g:b", "g:c"}) == {"g:c": "g:b"}
    assert run_order.order_edges(comp, {"g:a", "g:b", "g:c"}) == {"g:b": "g:a", "g:c": "g:b"}


def test_an_unknown_name_means_no_order_is_added() -> None:
    deps = {"x": ["y"], "y": []}
    assert run_order.reach(["x"], deps) == {"x", "y"}
    assert run_order.reach(["x", "g:*"], deps) is None


@pytest.mark.parametrize("command, params", [("run", {"num_process": 2}), ("run", {"continue": True}),
                                             ("info", {}), ("list", {})])
def test_no_edges_outside_a_serial_run(monkeypatch: pytest.MonkeyPatch, command: str, params: dict) -> None:
    comp = Component("g", "g", (_step("a"), _step("b")))
    model = Model.of((comp,))

    def creator():
        yield from ()

    creators = {"task_g": creator}
    cmd = SimpleNamespace(get_name=lambda: command)
    monkeypatch.setattr(doit_frame, "doit_command", lambda: (cmd, params, ["g"]))
    run_order.follow_declaration(creators, model)
    assert creators["task_g"] is creator
    monkeypatch.setattr(doit_frame, "doit_command", lambda: (cmd, {}, ["g"]))
    if command == "run":  # the same, serial: wrapped
        run_order.follow_declaration(creators, model)
        assert creators["task_g"] is not creator
