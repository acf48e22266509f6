"""The run's metrics as a Prometheus text file (node_exporter's textfile collector reads `*.prom` files from a
folder): written atomically at the end of every recorded run when bootstrap.metrics_file is set.

    hops_bootstrap_last_run_success{cluster,command}              1 or 0
    hops_bootstrap_last_run_timestamp_seconds{cluster,command}    when it ended
    hops_bootstrap_last_run_duration_seconds{cluster,command}
    hops_bootstrap_phase_duration_seconds{cluster,phase,group}    of the last run, per phase it ran
    hops_bootstrap_step_duration_seconds{cluster,step}            of the last run, per step it ran
    hops_bootstrap_step_attempts{cluster,step}                    runs that started the step, up to this one
    hops_bootstrap_step_retries{cluster,step}                     transient failures retried inside the step
    hops_bootstrap_runs_total{cluster,result}                     recorded runs by result (the history's)
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from hops.history import RunRecord


def _labels(**labels: str | int) -> str:
    def escape(value: str | int) -> str:
        return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


def render(cluster: str, run: RunRecord, history: list[RunRecord]) -> str:
    """The text exposition of `run` (the one that just ended) and the result counts of `history`."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{labels} {value:.6g}" if isinstance(value, float) else f"{name}{labels} {value}"
                   for labels, value in samples)

    key = _labels(cluster=cluster, command=run.command)
    family("hops_bootstrap_last_run_success", "gauge", "Whether the last hops run succeeded (1) or not (0).",
           [(key, 1 if run.outcome == "ok" else 0)])
    family("hops_bootstrap_last_run_timestamp_seconds", "gauge", "When the last hops run ended (epoch seconds).",
           [(key, float(run.finished))])
    family("hops_bootstrap_last_run_duration_seconds", "gauge", "How long the last hops run took.",
           [(key, float(run.finished - run.started))])
    groups = {s.phase: s.step_id.partition(":")[0] for s in run.steps}
    family("hops_bootstrap_phase_duration_seconds", "gauge", "Seconds per phase in the last run.",
           [(_labels(cluster=cluster, phase=p, group=groups[p]), float(d)) for p, d in run.phase_durations().items()])
    done = [s for s in run.steps if s.duration is not None]
    family("hops_bootstrap_step_duration_seconds", "gauge", "Seconds per step in the last run.",
           [(_labels(cluster=cluster, step=s.step_id), float(s.duration or 0.0)) for s in done])
    family("hops_bootstrap_step_attempts", "gauge", "Runs that started the step, up to and including the last.",
           [(_labels(cluster=cluster, step=s.step_id), s.attempt) for s in run.steps])
    family("hops_bootstrap_step_retries", "gauge", "Transient failures retried inside the step in the last run.",
           [(_labels(cluster=cluster, step=s.step_id), s.retries) for s in run.steps])
    counts = Counter(r.outcome for r in history)
    family("hops_bootstrap_runs_total", "counter", "Recorded hops runs by result.",
           [(_labels(cluster=cluster, result=result), n) for result, n in sorted(counts.items())])
    return "\n".join(out) + "\n"


def write(path: Path, text: str) -> None:
    """Replace `path` atomically (the collector never reads half a file); a `.prom` file only once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
