"""Suite-wide: the network guard (tests/netguard/sitecustomize.py) in this process and every Python process the
tests start; the session fails if anything tried to reach an address outside 127.0.0.0/8."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

NETGUARD = Path(__file__).resolve().parent / "netguard"
RAM_FOLDER = Path("/dev/shm")


def _temporary_files_in_memory() -> None:
    """The suite's temporary files (pytest's tmp_path, every process's tempfile) on a RAM-backed file system
    when the machine has one with room and TMPDIR is not set: a run creates and removes ~24,000 files, and on a
    disk (here ext4 with discard) that was a large part of the fast tests' time."""
    if "TMPDIR" in os.environ or not RAM_FOLDER.is_dir() or not os.access(RAM_FOLDER, os.W_OK):
        return
    if shutil.disk_usage(RAM_FOLDER).free < 4 << 30:
        return
    folder = RAM_FOLDER / f"hops-tests-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.environ["TMPDIR"] = str(folder)   # the processes the tests start, and the xdist workers
    tempfile.tempdir = None              # this process: gettempdir() reads TMPDIR again


_temporary_files_in_memory()
_record = Path(tempfile.mkdtemp(prefix="hops-netguard-")) / "connections.log"
atexit.register(shutil.rmtree, _record.parent, True)  # after the session's check of it (each process its own)
os.environ["TEST_NETGUARD_LOG"] = str(_record)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(NETGUARD), os.environ.get("PYTHONPATH"))))

# Loaded by its path: a `sitecustomize` the interpreter already imported at start (Debian's python3 has its own
# in /usr/lib/python3.11) would otherwise be the module `import sitecustomize` answers. The processes the tests
# start find ours first through PYTHONPATH.
_spec = importlib.util.spec_from_file_location("hops_netguard", NETGUARD / "sitecustomize.py")
assert _spec is not None and _spec.loader is not None
netguard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netguard)
netguard.install()

# The suite's own bytecode is written even where PYTHONDONTWRITEBYTECODE is set (this shell, some CI): pytest keeps
# each test module's assertion-rewritten code only then; without it every worker rewrote all of them (~2.7 s each).
sys.dont_write_bytecode = False


@pytest.fixture(scope="session", autouse=True)
def no_traffic_outside_loopback():
    yield
    if _record.exists() and _record.read_text().strip():
        pytest.fail("connections outside 127.0.0.0/8 were attempted during the tests:\n" + _record.read_text())


def _lab_daemons_under(folder: Path) -> list[int]:
    """Pids of lab daemons whose lab folder (--dir) is inside `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"hops.lab.daemon" in argv and b"--dir" in argv:
            lab_dir = argv[argv.index(b"--dir") + 1].decode(errors="replace")
            if Path(lab_dir).is_relative_to(folder):
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="session", autouse=True)
def no_lab_outlives_the_session(tmp_path_factory: pytest.TempPathFactory):
    """A test that started a lab (a doit run in lab mode starts one on first use) and did not stop it would leave
    its daemon running through the rest of the suite, taking CPU from the tests after it: stopped here."""
    yield
    from hops.lab.lifecycle import LabLayout, down

    base = tmp_path_factory.getbasetemp()
    for pid in _lab_daemons_under(base):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        lab_dir = Path(argv[argv.index(b"--dir") + 1].decode())
        print(f"\nnote: a lab was left running by the test of {lab_dir.relative_to(base)}; stopped", file=sys.__stderr__)
        if not down(LabLayout(lab_dir)):
            os.kill(pid, signal.SIGKILL)


# The lab end-to-end tests: real doit runs of the bootstrap on a lab, and the lab's own tests that run its daemon,
# its emulated tools as processes or its simulated timelines. `python -m pytest -m "not lab"` is the fast suite
# (the task model, the step actions in-process, configuration, the API emulation's contract, the run guard).
LAB_PATHS = ("tests/bootstrap/",)
FAST_LAB_MODULES = ("test_apiserver_client.py", "test_apiserver_kubectl.py", "test_kustomize.py")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: an end-to-end test on the lab (real doit, lab processes, simulated time)")
    if not hasattr(config, "workerinput"):  # once, in the process that starts the xdist workers
        _compile_bytecode()


def _compile_bytecode() -> None:
    """Write the bytecode of hops and the network guard before any test starts a process. With
    PYTHONDONTWRITEBYTECODE (set in some shells and CI) no process writes it, so each of the suite's hundreds of
    doit runs and emulated tool calls would compile every hops module it imports again (~0.15 s a doit run)."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for folder in (root / "hops", NETGUARD):
        compileall.compile_dir(folder, quiet=2, workers=1)


def _is_lab_test(path: str) -> bool:
    """`path` relative to the repository (tests/lab/test_x.py)."""
    in_lab = path.startswith("tests/lab/") and Path(path).name not in FAST_LAB_MODULES
    return path.startswith(LAB_PATHS) or in_lab


def pytest_itemcollected(item: pytest.Item) -> None:
    """Marks each lab test `lab` as it is collected (before any collection_modifyitems hook: `-m` sees it)."""
    if _is_lab_test(Path(str(item.path)).relative_to(Path(str(item.config.rootpath))).as_posix()):
        item.add_marker(pytest.mark.lab)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under pytest-xdist (`-n auto` in pyproject addopts) the lab tests are one unit of work, run one after another
    on one worker as they were written to (each starts daemons and simulated clocks); every other test is its own
    unit, shared by the workers. (xdist's loadgroup would do this with marks, but its nodeid suffix does not take
    with pytest 9.)"""
    from xdist.scheduler import LoadScopeScheduling

    class LabTestsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "lab" if _is_lab_test(nodeid.split("::", 1)[0]) else nodeid

    return LabTestsTogether(config, log)
