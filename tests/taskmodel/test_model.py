"""The model itself: the phase order in one list, wiring as a pure function, names that follow the rule, and no
import cycles among hops's modules."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from hops.phases import PHASES
from hops.taskmodel import COMPLETE, RESET_VERB, Component, Model, ModelError, Step, wire

HOPS = Path(__file__).resolve().parents[2] / "hops"


def noop(ctx) -> None:
    """A step action for declarations under test."""


def comp(group: str, needs: tuple[str, ...] = (), *steps: Step) -> Component:
    return Component(group=group, title=group, steps=steps or (Step("one", "One", noop, marker=f"{group}-one"),),
                     needs=needs)


def test_phase_numbers_come_from_the_list_order() -> None:
    model = Model.of(PHASES)
    assert [c.group for c in model.phases] == ["validation", "talos", "networking", "services", "gitops",
                                               "applications"]
    assert model.numbers == [1, 2, 3, 4, 5, 6]
    assert [c.phase_marker for c in model.phases][2] == "phase-3-complete"


def test_first_steps_wait_for_the_previous_phase_and_complete_waits_for_every_step() -> None:
    first, second = wire([comp("a"), comp("b", ("a",))])
    assert first.step("one").deps == ()
    assert second.step("one").deps == ("a:complete",)
    assert second.step(COMPLETE).deps == ("one",) and second.step(COMPLETE).marker == "phase-2-complete"
    assert [o.verb for o in second.operations] == [RESET_VERB]


def test_reordering_is_one_change_of_the_list() -> None:
    a, b, c = comp("a"), comp("b"), comp("c")
    assert [x.group for x in wire([a, c, b])] == ["a", "c", "b"]
    assert wire([a, c, b])[1].step("one").deps == ("a:complete",)


def test_a_phase_whose_predecessor_is_missing_is_an_error() -> None:
    with pytest.raises(ModelError, match=r"phase 'networking' needs 'talos', which must come before it"):
        wire([c for c in PHASES if c.group != "talos"])


def test_a_phase_listed_before_what_it_needs_is_an_error() -> None:
    with pytest.raises(ModelError, match="needs 'a'"):
        wire([comp("b", ("a",)), comp("a")])


def test_a_step_depending_on_an_unknown_step_is_an_error() -> None:
    bad = comp("a", (), Step("x", "X", noop, deps=("nope",)))
    with pytest.raises(ModelError, match="a:x depends on unknown step"):
        wire([bad])


def test_wire_does_not_change_its_input() -> None:
    before = PHASES[2]
    wire(PHASES)
    assert before.phase == 0 and COMPLETE not in [s.name for s in before.steps]


def test_step_and_operation_functions_are_named_after_them() -> None:
    """The naming rule of hops/taskmodel.py: `deploy-cilium` -> `deploy_cilium`, `networking_status` -> `status`."""
    for component in PHASES:
        for step in component.steps:
            assert step.action.__name__ == step.name.replace("-", "_"), component.step_id(step.name)
        for op in component.operations:
            assert op.action.__name__ == op.verb, f"{component.group}_{op.verb}"


def test_no_product_function_is_named_like_a_test() -> None:
    offenders = [f"{path.name}:{node.name}" for path in HOPS.rglob("*.py")
                 for node in ast.walk(_tree(path))
                 if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    assert offenders == []


@functools.cache
def _tree(path: Path) -> ast.Module:
    """A hops module's syntax tree, parsed once for the tests of this file."""
    return ast.parse(path.read_text())


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (imports for type hints only never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path) -> set[str]:
    """hops modules imported anywhere in the file at run time (top level and inside functions)."""
    found: set[str] = set()
    for node in _runtime_nodes(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hops") and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("hops"))
    return found


@functools.cache
def _module_graph() -> dict[str, set[str]]:
    modules = {".".join(p.relative_to(HOPS.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in HOPS.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_no_import_cycle_among_hops_modules() -> None:
    graph = _module_graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    packages = {n for n in graph if (HOPS.parent / n.replace(".", "/") / "__init__.py").exists()}
    real = [c for c in cycles if not (set(c) & packages)]  # a package importing its own submodules is fine
    assert real == []


def test_the_core_imports_no_component() -> None:
    graph = _module_graph()
    core = [n for n in graph if not n.startswith(("hops.components", "hops.lab")) and n != "hops.phases"]
    offenders = {n: sorted(m for m in graph[n] if m.startswith("hops.components")) for n in core}
    assert {n: m for n, m in offenders.items() if m} == {}
