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


# The lab end-to-end tests: real doit runs of the bootstrap on a lab, and the lab's own tests that run its daemon,
# its emulated tools as processes or its simulated timelines. `python -m pytest -m "not lab"` is the fast suite
# (the task model, the step actions in-process, configuration, the API emulation's contract, the run guard).
LAB_PATHS = ("tests/bootstrap/",)
FAST_LAB_MODULES = ("test_apiserver_client.py", "test_apiserver_kubectl.py", "test_kustomize.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: an end-to-end test on the lab (real doit, lab processes, simulated time)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        path = Path(str(item.path)).relative_to(root).as_posix()
        in_lab = path.startswith("tests/lab/") and Path(path).name not in FAST_LAB_MODULES
        if path.startswith(LAB_PATHS) or in_lab:
            item.add_marker(pytest.mark.lab)
            # under pytest-xdist (pyproject addopts) the lab tests run one after another on one worker, as they
            # were written to (each starts daemons and simulated clocks); the fast tests share the other worker
            item.add_marker(pytest.mark.xdist_group("lab"))
