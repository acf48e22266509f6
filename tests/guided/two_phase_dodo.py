"""A two-phase dodo for the interactive-mode tests: each step appends its name to runs.log; `world-<step>` files
are the world its live checks look at."""

from pathlib import Path

from hops import tasks
from hops.taskmodel import Check, Component, Step

ROOT = Path(__file__).resolve().parent


def _act(name):
    def act(ctx):
        with open(ROOT / "runs.log", "a") as log:
            log.write(name + "\n")
        (ROOT / f"world-{name}").touch()

    act.__name__ = name.replace("-", "_")
    return act


def _exists(name):
    return lambda ctx: (ROOT / f"world-{name}").exists()


def _step(name, deps=()):
    return Step(name, f"Make {name}", _act(name), marker=f"{name}-done", deps=deps,
                status=(Check(f"{name} exists", _exists(name)),), would_do=lambda ctx, n=name: [f"create world-{n}"])


FIRST = Component(group="first", title="first things", steps=(_step("alpha"), _step("beta", ("alpha",))))
SECOND = Component(group="second", title="second things", steps=(_step("gamma"), _step("delta")), needs=("first",))

globals().update(tasks.load(ROOT, phases=(FIRST, SECOND)))
