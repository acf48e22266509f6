"""doit entry point for hops. Thin on purpose: every task comes from the hops package.

    doit list --all          every command, phase group and step
    doit bootstrap_phased    bootstrap the configured cluster (HOPS_LAB=1 for the simulated lab)
"""

from pathlib import Path

from hops.phases import PHASES
from hops.tasks import load

globals().update(load(Path(__file__).resolve().parent, PHASES))
