"""doit entry point for hops. Thin on purpose: every task comes from the hops package.

    doit list --all          every command, phase group and step
    doit bootstrap_phased    bootstrap the configured cluster (HOPS_LAB=1 for the simulated lab)
"""

from pathlib import Path

from hops import collector, task_list_cache

DODO = Path(__file__).resolve()
with collector.paused():  # what is built here lives as long as the process (hops.collector)
    names = task_list_cache.served(DODO)  # `doit list`: the list kept by the last full load, when nothing changed
    if names is None:
        from hops.phases import PHASES
        from hops.tasks import load

        names = load(DODO.parent, PHASES)
        task_list_cache.keep(DODO, names)
globals().update(names)
