"""`doit bootstrap_status --all-clusters`: one line per cluster of the project (hops.clusters) — how many phases
are complete, the next step to run and the result of its last run — read from each cluster's own state folder
(markers and run history only: no configuration is loaded, nothing is contacted, nothing is written)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hops import clusters, endpoints

if TYPE_CHECKING:
    from hops.context import Context
    from hops.taskmodel import Model


@dataclass(frozen=True)
class Summary:
    """One cluster's phase summary."""

    cluster: clusters.Cluster
    state_dir: Path
    phases_done: int
    phases: int
    next_step: str   # "" when every step has its marker
    last_run: str    # "never ran" or `<outcome> (<command>, <UTC start>)`


def summarize(cluster: clusters.Cluster, state_dir: Path, model: Model) -> Summary:
    """The summary of one cluster from the markers and the run history in `state_dir`."""
    done = 0
    pending = ""
    for comp in model.phases:
        missing = [comp.step_id(s.name) for s in comp.steps if s.marker and not (state_dir / s.marker).exists()]
        done += not missing
        pending = pending or (missing[0] if missing else "")
    return Summary(cluster, state_dir, done, len(model.phases), pending, last_run(state_dir))


def last_run(state_dir: Path) -> str:
    """The newest run of the run history in `state_dir`, or "never ran"."""
    from hops import history
    from hops.history_cli import _utc

    if not (state_dir / history.FILE).exists():
        return "never ran"
    runs = history.runs(state_dir, limit=1)
    if not runs:
        return "never ran"
    return f"{runs[0].outcome} ({runs[0].command}, {_utc(runs[0].started)} UTC)"


def summaries(ctx: Context, model: Model) -> list[Summary]:
    """Every known cluster; this process's cluster with its actual state folder (HOPS_STATE_DIR/HOPS_LAB_DIR
    apply to it), the others with their default folders."""
    out = []
    for cluster in clusters.known(ctx.root):
        current = cluster.key == ctx.cluster.key
        state = ctx.state_dir if current else endpoints.other_state_dir(ctx.root, cluster, ctx.env)
        out.append(summarize(cluster, state, model))
    return out


def table(rows: list[Summary], root: Path, selected: str) -> str:
    """The aligned table; `*` marks the selected cluster."""
    lines = [["cluster", "configuration", "state", "phases", "next step", "last run"]]
    for row in rows:
        config = "bootstrap-config.yaml" if row.cluster.is_default else f"{clusters.CLUSTERS_DIR}/{row.cluster.name}/"
        mark = "*" if row.cluster.key == selected else ""
        lines.append([row.cluster.name + mark, config, _relative(row.state_dir, root),
                      f"{row.phases_done}/{row.phases}", row.next_step or "-", row.last_run])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def show(ctx: Context, model: Model) -> None:
    """Print the table of every cluster."""
    rows = summaries(ctx, model)
    print(table(rows, ctx.root, ctx.cluster.key))
    print(f"{len(rows)} cluster{'s' if len(rows) != 1 else ''}; * = selected (CLUSTER=<name> or HOPS_CLUSTER "
          "picks another)")


def _relative(path: Path, root: Path) -> str:
    try:
        return f"{path.relative_to(root.resolve())}/"
    except ValueError:
        return str(path)
