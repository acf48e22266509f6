"""`doit bootstrap_graph` draws the real task graph, and the diagram in docs/architecture.md is its output."""

from __future__ import annotations

import re

import pytest

from hops import graph
from hops.phases import PHASES
from hops.taskmodel import Model
from tests.projects import REPO, doit

MODEL = Model.of(PHASES)


def documented(name: str) -> str:
    text = (REPO / name).read_text()
    block = re.search(r"<!-- graph:begin -->\n```mermaid\n(.*?)```\n<!-- graph:end -->", text, re.S)
    assert block, f"{name} has no generated graph block"
    return block.group(1)


@pytest.mark.parametrize("name", ["README.md", "docs/architecture.md"])
def test_the_documented_graph_is_the_generated_one(name: str) -> None:
    assert documented(name) == graph.mermaid(MODEL), f"regenerate the graph in {name}: doit bootstrap_graph"


def test_every_step_is_a_node_and_every_dependency_an_edge() -> None:
    text = graph.mermaid(MODEL)
    for comp, step in MODEL.steps():
        assert f'["{comp.step_id(step.name)}"]' in text
    assert "  networking__deploy_cilium --> networking__wait" in text
    assert "  talos__complete --> networking__deploy_cilium" in text  # phase 3 waits for phase 2
    assert text.count("subgraph phase") == 6


def test_doit_bootstrap_graph_prints_it_in_both_formats() -> None:
    result = doit(REPO, "bootstrap_graph", check=True)
    assert graph.mermaid(MODEL) in result.stdout
    dot = doit(REPO, "bootstrap_graph", "--format", "dot", check=True).stdout
    assert '"networking:deploy-cilium" -> "networking:wait";' in dot and "subgraph cluster_phase3" in dot
