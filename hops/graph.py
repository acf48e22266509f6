"""The bootstrap's task graph, drawn from the wired model: Mermaid (the original design's format) or Graphviz dot.
Phases are subgraphs; an edge A --> B means B waits for A (a step's deps, and each phase's first steps waiting
for the previous phase's `complete`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from hops.taskmodel import Model

if TYPE_CHECKING:
    from hops.context import Context

FORMAT_PARAM = {"name": "format", "long": "format", "type": str, "default": "mermaid", "choices": (
    ("mermaid", "Mermaid flowchart (the README's diagram)"), ("dot", "Graphviz dot")),
    "help": "mermaid (default) or dot"}


def _node(step_id: str) -> str:
    return step_id.replace(":", "__").replace("-", "_")


def edges(model: Model) -> Iterator[tuple[str, str]]:
    """(from step id, to step id) for every dependency, in phase order."""
    for comp, step in model.steps():
        for dep in step.deps:
            yield comp.step_id(dep), comp.step_id(step.name)


def mermaid(model: Model) -> str:
    """The graph as a Mermaid flowchart, top to bottom."""
    lines = ["flowchart TD"]
    for comp in model.phases:
        lines.append(f'  subgraph phase{comp.phase}["phase {comp.phase}: {comp.title}"]')
        lines += [f'    {_node(comp.step_id(s.name))}["{comp.step_id(s.name)}"]' for s in comp.steps]
        lines.append("  end")
    lines += [f"  {_node(a)} --> {_node(b)}" for a, b in edges(model)]
    return "\n".join(lines) + "\n"


def dot(model: Model) -> str:
    """The graph in Graphviz dot, phases as clusters."""
    lines = ["digraph bootstrap {", "  rankdir=TB;", "  node [shape=box];"]
    for comp in model.phases:
        lines.append(f'  subgraph cluster_phase{comp.phase} {{ label="phase {comp.phase}: {comp.title}";')
        lines += [f'    "{comp.step_id(s.name)}";' for s in comp.steps]
        lines.append("  }")
    lines += [f'  "{a}" -> "{b}";' for a, b in edges(model)]
    return "\n".join(lines + ["}"]) + "\n"


def show(ctx: Context, model: Model, format: str = "mermaid") -> None:
    """`bootstrap_graph [--format mermaid|dot]`: print the graph."""
    print(dot(model) if format == "dot" else mermaid(model), end="")
