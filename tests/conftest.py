"""Suite-wide: the network guard (tests/netguard/sitecustomize.py) in this process and every Python process the
tests start; the session fails if anything tried to reach an address outside 127.0.0.0/8."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

NETGUARD = Path(__file__).resolve().parent / "netguard"
_record = Path(tempfile.mkdtemp(prefix="hops-netguard-")) / "connections.log"
os.environ["TEST_NETGUARD_LOG"] = str(_record)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(NETGUARD), os.environ.get("PYTHONPATH"))))

import sys  # noqa: E402

sys.path.insert(0, str(NETGUARD))
import sitecustomize as netguard  # noqa: E402

netguard.install()


@pytest.fixture(scope="session", autouse=True)
def no_traffic_outside_loopback():
    yield
    if _record.exists() and _record.read_text().strip():
        pytest.fail("connections outside 127.0.0.0/8 were attempted during the tests:\n" + _record.read_text())
