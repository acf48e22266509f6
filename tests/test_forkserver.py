"""The fork server (tests/forkserver.py) starts a module as `python -m` does: the same answers as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import forkserver

PROBE = '''
import json, os, signal, sys, tempfile
report = {"tmp": tempfile.gettempdir(), "argv": sys.argv[1:], "cwd": os.getcwd(), "path0": sys.path[0], "env": os.environ.get("PROBE"),
          "pythonpath_first": sys.path[1] if len(sys.path) > 1 else None, "main": __name__,
          "stdin": sys.stdin.read(), "sigint": str(signal.getsignal(signal.SIGINT)),
          "sigterm": str(signal.getsignal(signal.SIGTERM)), "bytecode": sys.dont_write_bytecode,
          "preloaded_hops": sorted(m for m in sys.modules if m == "hops" or m.startswith("hops."))}
import atexit
atexit.register(lambda: print("atexit ran", file=sys.stderr))
print(json.dumps(report))
print("to stderr\\r\\nline", file=sys.stderr)
if sys.argv[1:] == ["fail"]:
    raise ValueError("boom")
if sys.argv[1:] == ["interrupt"]:
    raise KeyboardInterrupt
sys.exit(int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0)
'''


@pytest.fixture
def probe(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "probe_module.py").write_text(PROBE)
    (tmp_path / "work").mkdir()
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, PROBE="ü value", TMPDIR=str(tmp_path / "tmp"), PYTHONPATH=os.pathsep.join([str(tmp_path / "lib"),
                                                                        os.environ.get("PYTHONPATH", "")]))
    return tmp_path / "work", env


def both(folder: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, ...]:
    forked = forkserver.run_module("probe_module", list(args), folder, env, timeout=60)
    plain = subprocess.run([sys.executable, "-m", "probe_module", *args], cwd=folder, env=env, capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
    return forked, plain


@pytest.mark.parametrize("args", [(), ("3",), ("fail",), ("interrupt",), ("a b", "--x=ü")])
def test_a_forked_run_answers_as_a_fresh_interpreter(probe: tuple[Path, dict[str, str]], args: tuple[str, ...]):
    forked, plain = both(*probe, *args)
    assert forked.returncode == plain.returncode
    assert forked.stdout == plain.stdout
    assert forked.stderr.replace(forkserver.__file__, "<x>").splitlines()[-1] == plain.stderr.splitlines()[-1]
    assert "to stderr\nline" in forked.stderr and "atexit ran" in forked.stderr


def test_nothing_of_hops_is_imported_before_the_module_runs(probe: tuple[Path, dict[str, str]]) -> None:
    forked, _ = both(*probe)
    assert '"preloaded_hops": []' in forked.stdout


def test_a_timeout_kills_the_child_like_subprocess(tmp_path: Path) -> None:
    (tmp_path / "sleeper.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    with pytest.raises(subprocess.TimeoutExpired) as info:
        forkserver.run_module("sleeper", [], tmp_path, env, timeout=0.5)
    assert info.value.output == b"started\n"
