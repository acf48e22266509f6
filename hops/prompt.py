"""Asking the user to confirm a destructive action: a terminal prompt, or `--yes` for scripts."""

from __future__ import annotations

import sys


def confirm(question: str, yes: bool) -> bool:
    """True when `yes` was given or the user answers y/yes on a terminal; never asks without one."""
    if yes:
        return True
    if not sys.stdin or not sys.stdin.isatty():
        print(f"{question} — no terminal to ask on; pass --yes to confirm.")
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False
