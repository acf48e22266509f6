"""doit reporter for hops: doit's console output, unchanged.

It used to take the run lock, which made the lock as strong as the choice of reporter: `doit -r json …` and
`doit forget …` (no reporter at all) went around it. hops.runguard now takes it for every doit command that can
change state, before the reporter exists; this class must stay free of that duty."""

from __future__ import annotations

from doit.reporter import ConsoleReporter


class HopsReporter(ConsoleReporter):
    """doit's ConsoleReporter (DOIT_CONFIG "reporter"): a named seam for hops' console output."""
