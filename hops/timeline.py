"""A run as a Mermaid `gantt` chart: each step from its start to its end, grouped by phase, with its waits
(the spans hops.waiting recorded) as bars of their own and retries of transient failures as milestones.

Times are milliseconds since the epoch (`dateFormat x`); task names drop the characters Mermaid's gantt
grammar reserves (`:` ends a name, `#` and `;` start comments and entities)."""

from __future__ import annotations

import re

from hops.history import RunRecord, StepRecord
from hops.progress import duration

_RESERVED = re.compile(r"[:;#\n\r]+")
TAGS = {"ok": "done", "skipped": "done", "already done": "done", "running": "active", "interrupted": "crit",
        "failed": "crit"}


def name(text: str, limit: int = 70) -> str:
    """A task name Mermaid parses as one name."""
    clean = " ".join(_RESERVED.sub(" ", text).split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def gantt(run: RunRecord) -> str:
    """The chart of `run` (newline-terminated)."""
    lines = ["gantt", f"    title {name(f'hops {run.command} run {run.run_id} ({run.outcome})', 120)}",
             "    dateFormat x", "    axisFormat %H:%M:%S"]
    current = None
    for index, step in enumerate(run.steps):
        group = step.step_id.partition(":")[0]
        if group != current:
            current = group
            lines.append(f"    section phase {step.phase} {group}" if step.phase else f"    section {group}")
        lines += _step_lines(run, step, index)
    return "\n".join(lines) + "\n"


def _step_lines(run: RunRecord, step: StepRecord, index: int) -> list[str]:
    end = step.ended if step.ended is not None else run.finished
    label = step.step_id.partition(":")[2] or step.step_id
    extra = [f"attempt {step.attempt}"] if step.attempt > 1 else []
    extra += [step.result] if step.result not in ("ok",) else []
    title = name(f"{label} {duration(end - step.started)}" + (f" ({', '.join(extra)})" if extra else ""))
    lines = [f"    {title} :{TAGS.get(step.result, 'done')}, s{index}, {_ms(step.started)}, {_ms(max(end, step.started))}"]
    for n, span in enumerate(step.spans):
        ident = f"s{index}w{n}"
        if span["kind"] == "retry":
            lines.append(f"    {name('retry ' + span['label'])} :milestone, {ident}, {_ms(span['started'])}, 0d")
        else:
            tag = "crit" if span["result"] in ("timed out", "failed", "interrupted") else "active"
            lines.append(f"    {name('wait ' + span['label'])} :{tag}, {ident}, {_ms(span['started'])}, "
                         f"{_ms(max(span['ended'], span['started']))}")
    return lines
