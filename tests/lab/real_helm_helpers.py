"""The real Helm 3 in lab tests: where it is (skip cleanly, naming the install command, when it is not)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hops.lab import real_helm


def real_helm_or_skip() -> Path:
    """The binary `python -m hops.lab.real_helm install` put in place (looked up with the test runner's HOME,
    before a lab environment moves HOME), or a skip saying how to install it."""
    binary = real_helm.installed()
    if binary is None:
        pytest.skip(f"the real helm is not installed: run `{real_helm.INSTALL_COMMAND}` (see the README's lab "
                    "section)")
    return binary
