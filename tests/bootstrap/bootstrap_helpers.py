"""Helpers for bootstrap tests (a uniquely named module: `conftest` is ambiguous across test folders)."""

from __future__ import annotations

import subprocess


def executed(result: subprocess.CompletedProcess) -> list[str]:
    """Task names doit executed in a run (lines `.  name`), as opposed to skipped (`-- name`)."""
    return [line[3:].strip() for line in result.stdout.splitlines() if line.startswith(".  ")]
