"""A dodo for the check-skipping tests (hops.actions): one step whose live check and action append to
calls.log; the check holds while the file `holds` exists."""

from pathlib import Path

from hops import tasks
from hops.taskmodel import Check, Component, Step

ROOT = Path(__file__).resolve().parent


def _note(what: str) -> None:
    with open(ROOT / "calls.log", "a") as log:
        log.write(what + "\n")


def act(ctx) -> None:
    _note("action")


def cluster_says(ctx) -> tuple[bool, str]:
    _note("check")
    holds = (ROOT / "holds").exists()
    return holds, "the file says so" if holds else "no file"


ONLY = Component(group="checked", title="a checked step", steps=(
    Step("step", "Act unless the check holds", act, marker="step-done", status=(Check("file holds", cluster_says),)),
))

globals().update(tasks.load(ROOT, phases=(ONLY,)))
