"""A small dodo for the task-model semantics tests: one component whose steps touch files in this folder.

The test copies it into a temporary project as dodo.py. World state is simulated with files: `world-*` files
are what live checks look at, `runs.log` records every action that really ran."""

import os
import signal
from pathlib import Path

from hops import tasks
from hops.taskmodel import Check, Component, Operation, Precondition, Step

ROOT = Path(__file__).resolve().parent


def ran(name: str) -> None:
    with open(ROOT / "runs.log", "a") as log:
        log.write(name + "\n")


def act_prepare(ctx):
    ran("prepare")
    (ROOT / "world-prepared").touch()


def act_configure(ctx):
    ran("configure")
    # semantic 6: settings come from the one resolved object (the doit variable CLUSTER_NAME wins)
    (ROOT / "seen-settings").write_text(f"{id(ctx.settings)} {ctx.config.cluster.name}\n")


def act_deploy(ctx):
    ran("deploy")
    (ROOT / "seen-settings").open("a").write(f"{id(ctx.settings)} {ctx.config.cluster.name}\n")
    if os.environ.get("DEMO_BLOCK") == "1":
        # signal the test through a FIFO, then hang until killed
        with open(ROOT / "started.fifo", "w") as fifo:
            fifo.write("deploy started\n")
        signal.pause()


def act_bootstrap(ctx):
    ran("bootstrap")
    (ROOT / "world-bootstrapped").touch()


def prepared(ctx) -> bool:
    return (ROOT / "world-prepared").exists()


def generated_inputs(ctx) -> list[Path]:
    """A configuration-dependent source (a callable: hops digests it, doit's file_dep cannot)."""
    return [ROOT / "generated.txt"]


def flaky(ctx) -> bool:
    if (ROOT / "raise").exists():
        raise RuntimeError("the API said no")
    return True


def not_blocked(ctx):
    return True if not (ROOT / "block").exists() else "block file present"


def bootstrapped(ctx) -> bool:
    return (ROOT / "world-bootstrapped").exists()


def optional_enabled(ctx) -> bool:
    return os.environ.get("DEMO_OPTIONAL", "0") == "1"


def act_optional(ctx):
    ran("optional")


def cluster_health(ctx):
    """A read-only top-level operation that needs the configuration (like the real cluster_health)."""
    print(f"cluster {ctx.config.cluster.name}: fine")


DEMO = Component(
    group="demo", title="demo",
    steps=(
        Step("prepare", "Prepare", act_prepare, marker="prepared", status=(Check("prepared", prepared),)),
        Step("configure", "Configure", act_configure, marker="configured", deps=("prepare",),
             sources=("input.txt", generated_inputs), status=(Check("flaky", flaky),)),
        Step("deploy", "Deploy", act_deploy, marker="deployed", deps=("configure",),
             preconditions=(Precondition(not_blocked, "the block file must be removed first"),)),
        Step("bootstrap", "Once only", act_bootstrap, marker="bootstrapped", deps=("deploy",), once=bootstrapped),
        Step("optional", "Only when enabled", act_optional, marker="optional-done", when=optional_enabled),
    ),
    operations=(Operation("cluster_health", "Report", cluster_health, read_only=True, top_level=True),),
)

globals().update(tasks.load(ROOT, phases=(DEMO,)))
