"""A small dodo for the run-lock and interrupt tests: one phase whose `slow` step runs a fake tool through the
real ToolRunner (`mise exec -- slowtool bootstrap`, both fakes in <project>/bin; see tests/runguard/helpers.py).

The test copies it into a temporary project as dodo.py; `runs.log` records every step action that ran."""

from pathlib import Path

from hops import tasks
from hops.taskmodel import Check, Component, Step

ROOT = Path(__file__).resolve().parent


def ran(name: str) -> None:
    with open(ROOT / "runs.log", "a") as log:
        log.write(name + "\n")


def prepare(ctx) -> None:
    ran("prepare")
    (ROOT / "world-prepared").touch()


def slow(ctx) -> None:
    ran("slow")
    ctx.runner.run("slowtool", ["bootstrap"])


def prepared(ctx) -> bool:
    return (ROOT / "world-prepared").exists()


DEMO = Component(
    group="demo", title="demo",
    steps=(
        Step("prepare", "Prepare", prepare, marker="prepared", status=(Check("prepared", prepared),)),
        Step("slow", "Run the slow tool", slow, marker="slow-done", deps=("prepare",)),
    ),
)

globals().update(tasks.load(ROOT, phases=[DEMO]))
