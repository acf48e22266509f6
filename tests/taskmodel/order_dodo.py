"""A dodo for the run-order tests (hops.run_order): two independent branches, each an install and a wait, with
a step after the first wait, in the phase after another (so its first steps wait for that phase's end). Declared in the order a serial run must take; doit's own choice would run
`wait-b` as soon as `start-b` is done, before `after-a`. Each action appends its name to runs.log; a step
named in the file `fail` fails."""

from pathlib import Path

from hops import tasks
from hops.errors import StepError
from hops.taskmodel import Component, Step

ROOT = Path(__file__).resolve().parent


def _act(name: str):
    def act(ctx) -> None:
        with open(ROOT / "runs.log", "a") as log:
            log.write(name + "\n")
        failing = ROOT / "fail"
        if failing.exists() and failing.read_text().strip() == name:
            raise StepError(f"{name} failed (the test asked for it)")

    act.__name__ = act.__qualname__ = f"act_{name.replace('-', '_')}"
    return act


FIRST = Component(group="first", title="a phase before", steps=(Step("only", "Come first", _act("only"), marker="only"),))
ORDER = Component(
    group="order", title="run order", needs=("first",),
    steps=(
        Step("start-a", "Install A", _act("start-a"), marker="a-started"),
        Step("start-b", "Install B", _act("start-b"), marker="b-started"),
        Step("wait-a", "Wait for A", _act("wait-a"), marker="a-ready", deps=("start-a",)),
        Step("after-a", "Use A", _act("after-a"), marker="a-used", deps=("wait-a",)),
        Step("wait-b", "Wait for B", _act("wait-b"), marker="b-ready", deps=("start-b",)),
    ),
)

globals().update(tasks.load(ROOT, phases=(FIRST, ORDER)))
