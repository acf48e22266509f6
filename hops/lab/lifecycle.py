"""Starting, stopping, inspecting and wiping the lab (the daemon runs detached; its state persists across down/up)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import util as import_util
from pathlib import Path
from urllib.parse import quote

from hops import processes
from hops.errors import StepError
from hops.lab import faults
from hops.lab.layout import LabLayout
from hops.lab.tools.common import TOOLS, launcher_script

START_DEADLINE = 15.0    # seconds for the daemon to write lab.json (it takes well under 1 s)
STOP_DEADLINE = 10.0


class LabError(StepError):
    """The lab could not be started or stopped; the message says why and where the log is (a StepError, so a step
    that needed the lab fails with this message and no traceback)."""


def _running_info(layout: LabLayout) -> dict | None:
    info = layout.read_info()
    if info and processes.alive(int(info.get("pid", 0))):
        return info
    return None


def _healthy(info: dict) -> bool:
    """The daemon answers on its control port. /healthz, not /status: every hops process asks, and the status
    summarises the whole simulation. Any HTTP answer counts (a daemon from an older hops has no /healthz)."""
    try:
        with urllib.request.urlopen(info["control_url"] + "/healthz", timeout=2) as reply:
            return reply.status == 200
    except urllib.error.HTTPError:
        return True
    except (OSError, KeyError, ValueError):
        return False


# `mise exec -- CMD` is on every tool call hops makes: hand over at once from sh (a real mise exec adds a few
# milliseconds; a Python start would add ~70 ms to every call). Anything else, or a mise fault, goes to Python.
MISE_LAUNCHER = """#!/bin/sh
if [ "$1" = exec -o "$1" = x ] && [ "$2" = "--" ] && [ $# -gt 2 ] && ! grep -qs '"tool": "mise"' '{faults}'; then
  shift 2
  exec "$@"
fi
exec '{python}' -c 'import sys; from hops.lab.tools.mise import main; sys.exit(main())' "$@"
"""


def install_launchers(layout: LabLayout) -> list[str]:
    """One executable per emulated tool in <lab>/bin; tools whose module does not exist yet are skipped. `helm`
    runs the real Helm 3 instead when it is installed or HOPS_LAB_REAL_HELM names one (hops.lab.real_helm
    decides); the helm launcher notes which, for `status`."""
    from hops.lab import real_helm  # starting or inspecting the lab only (tarfile, argparse): not every command

    layout.bin_dir.mkdir(parents=True, exist_ok=True)
    installed = []
    real = _real_helm()
    for tool in TOOLS:
        module = f"hops.lab.tools.{tool}"
        target = layout.bin_dir / tool
        if import_util.find_spec(module) is None:
            target.unlink(missing_ok=True)
            continue
        if tool == "helm" and real is not None:
            text = real_helm.launcher(real, real_helm.choice())
        elif tool == "mise":
            text = MISE_LAUNCHER.format(python=sys.executable, faults=layout.faults_file)
        else:
            note = f"{real_helm.NOTE}{real_helm.choice()}\n" if tool == "helm" else ""
            text = launcher_script(f"from {module} import main\nsys.exit(main())\n", note)
        target.write_text(text)
        target.chmod(0o755)
        installed.append(tool)
    return installed


def _real_helm() -> Path | None:
    """The real helm the lab uses, None for the emulated one; asked for and missing is a LabError."""
    from hops.lab import real_helm

    try:
        return real_helm.configured()
    except real_helm.RealHelmError as exc:
        raise LabError(str(exc)) from None


@contextmanager
def _serialized(layout: LabLayout) -> Iterator[None]:
    """One lifecycle change at a time per lab: `doit -n 4` workers all call ensure_up at once, and without this
    each would start its own daemon on the same state."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.root / "lifecycle.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def up(layout: LabLayout, project_root: Path) -> dict:
    """Start the lab (idempotent: a running, healthy lab is returned as is). Returns lab.json's content."""
    with _serialized(layout):
        return _up(layout, project_root)


def _up(layout: LabLayout, project_root: Path) -> dict:
    info = _running_info(layout)
    if info and _healthy(info):
        return info
    if info:
        _down(layout)
    install_launchers(layout)
    env_faults = os.environ.get("HOPS_LAB_FAULTS", "").strip()
    if env_faults:
        faults.add(layout, env_faults)
    return _spawn(layout, project_root.resolve())


def _spawn(layout: LabLayout, root: Path) -> dict:
    layout.info_file.unlink(missing_ok=True)
    read_fd, write_fd = os.pipe()
    with open(layout.daemon_log, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hops.lab.daemon", "--dir", str(layout.root), "--root", str(root),
             "--ready-fd", str(write_fd)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            pass_fds=(write_fd,), cwd=str(root), env={**os.environ, "HOPS_LAB_DIR": str(layout.root)})
    os.close(write_fd)
    try:
        line = _read_line(read_fd, START_DEADLINE)
    finally:
        os.close(read_fd)
    info = layout.read_info()
    if line != "ready" or info is None:
        code = proc.poll()
        if code is None:
            proc.terminate()
        raise LabError(f"the lab daemon did not become ready ({'exit ' + str(code) if code is not None else 'timeout'});"
                       f" see {layout.daemon_log}:\n{_tail(layout.daemon_log)}")
    return info


def _read_line(fd: int, deadline_s: float) -> str:
    """One line from the readiness pipe, or '' on EOF (daemon died) or when the deadline passes."""
    deadline = time.monotonic() + deadline_s
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return ""
        chunk = os.read(fd, 64)
        if not chunk:
            return ""
        data += chunk
    return data.decode().strip()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def down(layout: LabLayout) -> bool:
    """Stop the daemon (it saves its state first). True when a running lab was stopped."""
    if not layout.root.exists():
        return False
    with _serialized(layout):
        return _down(layout)


def _down(layout: LabLayout) -> bool:
    info = layout.read_info()
    pid = int(info["pid"]) if info else 0
    stopped = False
    if pid and processes.alive(pid):
        os.kill(pid, signal.SIGTERM)
        if not _wait_exit(pid, STOP_DEADLINE):
            os.kill(pid, signal.SIGKILL)
            _wait_exit(pid, STOP_DEADLINE)
        stopped = True
    layout.info_file.unlink(missing_ok=True)
    return stopped


def _wait_exit(pid: int, deadline_s: float) -> bool:
    """Wait for `pid` to exit: pidfd readiness where available (no polling), else a short back-off loop."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, ProcessLookupError, OSError):
        fd = None
    if fd is not None:
        try:
            select.select([fd], [], [], deadline_s)
        finally:
            os.close(fd)
        return not processes.alive(pid)
    deadline = time.monotonic() + deadline_s
    while processes.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not processes.alive(pid)


def status(layout: LabLayout) -> dict:
    """Running?, pid, URLs, which helm (the one in use, or the one a start would use), and (when running)
    the simulation summary from the daemon."""
    from hops.lab import real_helm

    info = _running_info(layout)
    if info is None:   # what the next start would use
        return {"running": False, "lab_dir": str(layout.root), "state_saved": layout.sim_state_file.exists(),
                "helm": real_helm.choice()}
    result = {"running": True, "lab_dir": str(layout.root), **info,
              "helm": real_helm.launcher_note(layout.bin_dir / "helm") or "unknown (no helm launcher note)"}
    try:
        with urllib.request.urlopen(info["control_url"] + "/status", timeout=5) as reply:
            result["simulation"] = json.loads(reply.read())
    except OSError as exc:
        result["simulation"] = {"error": f"the daemon did not answer: {exc}"}
    return result


def reset(layout: LabLayout) -> None:
    """Stop the lab and remove everything in the lab folder (the simulated cluster, vault, state, logs)."""
    down(layout)
    if layout.root.exists():
        for entry in layout.root.iterdir():
            if (entry / "cluster").is_file():
                continue  # .lab/<name>/: another cluster's lab inside the default one's (hops.clusters)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


SETTLE_S = 120.0  # simulated seconds a restarted lab takes to bring its nodes and workloads back (≈70 measured)


def ensure_up(layout: LabLayout, project_root: Path) -> dict:
    """The running lab's info, starting it when needed (hops.endpoints calls this in lab mode). A running lab
    built for other nodes than the configured ones is restarted with them (it keeps the state of the nodes both
    have; a step would otherwise ask for a node the lab does not simulate); a HOPS_LAB_SPEED other than the
    running lab's is said once (the speed is fixed when the lab starts)."""
    with _serialized(layout):
        info = _up(layout, project_root)
        changed = node_changes(info, configured_nodes(project_root))
        if changed:
            print(f"lab: the configured nodes changed ({changed}); restarting the lab with them", file=sys.stderr)
            _down(layout)
            info = _up(layout, project_root)
    warning = speed_warning(info, os.environ.get("HOPS_LAB_SPEED", "1"))
    if warning:
        print(warning, file=sys.stderr)
    return info


def configured_nodes(project_root: Path) -> dict[str, tuple[str, str]] | None:
    """name -> (address, role) as the daemon would read them (same files and environment); None when the
    configuration is not valid (the step that needs it reports that)."""
    from hops.config import ConfigError, load_settings

    try:
        settings = load_settings(project_root)
    except ConfigError:
        return None
    return {n.name: (str(n.address), n.role) for n in settings.config.network.nodes}


def node_changes(info: dict, configured: dict[str, tuple[str, str]] | None) -> str:
    """'' when the running lab simulates exactly the configured nodes, else what differs (for the message)."""
    if configured is None:
        return ""
    running = {name: (str(n.get("address")), str(n.get("role"))) for name, n in (info.get("nodes") or {}).items()}
    added = sorted(set(configured) - set(running))
    removed = sorted(set(running) - set(configured))
    moved = sorted(n for n in set(configured) & set(running) if configured[n] != running[n])
    parts = [f"{label} {', '.join(names)}" for label, names in (("added", added), ("removed", removed),
                                                                 ("address or role changed:", moved)) if names]
    return "; ".join(parts)


def speed_warning(info: dict, wanted: str) -> str:
    """A warning when HOPS_LAB_SPEED differs from the speed the running lab started with, else ''."""
    try:
        asked = float(wanted)
    except ValueError:
        return ""  # hops.lab.clock reports a bad value where it is used
    running = float(info.get("speed") or 1)
    if abs(asked - running) < 1e-9:
        return ""
    return (f"lab: HOPS_LAB_SPEED={wanted} but the running lab runs at x{running:g} (fixed when it started); "
            "`python -m hops.lab down` and run again to use the new speed")


def coming_back(info: dict, now: float | None = None) -> str:
    """A note when the lab (re)started so recently that its nodes and workloads may not all be back, else ''."""
    from datetime import datetime

    try:
        started = datetime.fromisoformat(str(info["started_at"])).timestamp()
    except (KeyError, ValueError):
        return ""
    elapsed = max(0.0, (time.time() if now is None else now) - started)
    speed = float(info.get("speed") or 1)
    if elapsed * speed >= SETTLE_S:
        return ""
    return (f"the lab started {elapsed:.0f}s ago (x{speed:g}) and may still be bringing its nodes and workloads "
            f"back (about {SETTLE_S / speed:.0f}s): wait and run the checks again")


def _wait(info: dict, query: str, timeout: float) -> bool:
    url = f"{info['control_url']}/wait?{query}&timeout={timeout}"
    try:
        with urllib.request.urlopen(url, timeout=timeout + 5) as reply:
            return bool(json.loads(reply.read()).get("reached"))
    except urllib.error.HTTPError as exc:
        if exc.code == 408:
            return False
        raise LabError(f"the lab could not wait for {query}: {exc.read().decode(errors='replace')}") from None


def wait_node(info: dict, node: str, phase: str = "running", timeout: float = 30.0) -> bool:
    """Block until the simulated node reaches `phase` (the daemon answers when it happens; no polling)."""
    return _wait(info, f"node={quote(node)}&phase={quote(phase)}", timeout)


def wait_listening(info: dict, node: str, listening: bool, timeout: float = 30.0) -> bool:
    """Block until something listens on the node's Talos API port (or, with False, nothing does)."""
    return _wait(info, f"node={quote(node)}&listening={int(listening)}", timeout)


def wait_registered(info: dict, node: str, timeout: float = 30.0) -> bool:
    """Block until the node's kubelet registered its Node object."""
    return _wait(info, f"node={quote(node)}&registered=1", timeout)


def wait_cluster(info: dict, field: str, value: str, timeout: float = 30.0) -> bool:
    """Block until cluster field `etcd` (none|bootstrapping|healthy) or `api` (down|starting|up) has `value`."""
    return _wait(info, f"cluster={quote(field)}&value={quote(value)}", timeout)
