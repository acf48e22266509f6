"""The lab daemon and its lifecycle: start, readiness, idempotent up, down/up persistence, reset, loopback only."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from hops.lab import lifecycle
from hops.lab.layout import LabLayout
from lab_helpers import apply_insecure, wait_running

CP1 = "172.29.51.11"


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_lab_json_describes_loopback_endpoints(lab: dict, lab_layout: LabLayout, lab_project: Path) -> None:
    info = json.loads(lab_layout.info_file.read_text())
    assert info == lab
    assert info["root"] == str(lab_project)
    assert info["api_url"].startswith("http://127.0.0.1:") and info["control_url"].startswith("http://127.0.0.1:")
    assert info["speed"] == 1000.0 and info["pid"] != os.getpid()
    assert info["cluster_endpoint"] == "https://172.29.51.10:6443"
    assert {n: v["address"] for n, v in info["nodes"].items()} == {
        "talos-cp-1": "172.29.51.11", "talos-cp-2": "172.29.51.12", "talos-cp-3": "172.29.51.13"}
    assert all(v["endpoint"].startswith("127.0.0.1:") for v in info["nodes"].values())
    assert info["tool_versions"]["talosctl"] == "1.8.3"
    assert {p.name for p in lab_layout.bin_dir.iterdir()} >= {"mise", "op", "talhelper", "talosctl"}


def _listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(hex local address, port) of every TCP socket in LISTEN state owned by `pid` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                address, port = fields[1].split(":")
                found.append((address, int(port, 16)))
    return found


def test_daemon_listens_only_on_loopback(lab: dict) -> None:
    sockets = _listening_sockets(lab["pid"])
    assert len(sockets) == 3 + len(lab["nodes"])          # api, control, chart repository, one per node
    assert {address for address, _ in sockets} == {"0100007F"}   # 127.0.0.1 (little-endian hex)
    ports = {port for _, port in sockets}
    assert {int(v["endpoint"].rsplit(":", 1)[1]) for v in lab["nodes"].values()} <= ports
    assert int(lab["chart_repo_url"].rsplit(":", 1)[1]) in ports


def test_api_is_gated_until_bootstrap(lab: dict) -> None:
    code, body = _get(lab["api_url"] + "/api/v1/namespaces")
    assert code == 503 and "etcdserver: request timed out" in json.dumps(body)


def test_up_is_idempotent_and_status_reports(lab: dict, lab_layout: LabLayout, lab_project: Path) -> None:
    again = lifecycle.up(lab_layout, lab_project)
    assert again["pid"] == lab["pid"]
    state = lifecycle.status(lab_layout)
    assert state["running"] and state["simulation"]["etcd"] == "none"
    assert state["simulation"]["nodes"]["talos-cp-1"]["phase"] == "maintenance"


def test_healthz_answers_at_once_and_any_http_answer_counts_as_a_running_daemon(lab: dict) -> None:
    assert _get(lab["control_url"] + "/healthz") == (200, {"ok": True})
    assert lifecycle._healthy(lab)
    assert lifecycle._healthy({**lab, "control_url": lab["control_url"] + "/no-such"})  # an older daemon: 404
    assert not lifecycle._healthy({**lab, "control_url": lab["api_url"].rsplit(":", 1)[0] + ":9"})  # nothing


def test_status_counts_objects_by_kind(lab: dict, lab_layout: LabLayout) -> None:
    objects = lifecycle.status(lab_layout)["simulation"]["objects"]
    assert objects["Namespace"] >= 4 and all(isinstance(n, int) and n > 0 for n in objects.values())


def test_down_stops_and_state_persists_across_up(lab: dict, lab_layout: LabLayout, lab_project: Path,
                                                 run_tool, talos_configs: Path) -> None:
    apply_insecure(run_tool, talos_configs, lab)
    wait_running(lab)
    tc = ["--talosconfig", str(talos_configs / "talosconfig"), "-n", CP1]
    assert run_tool("talosctl", *tc, "bootstrap").returncode == 0
    for name in lab["nodes"]:
        assert lifecycle.wait_registered(lab, name, 10)
    assert lifecycle.down(lab_layout)
    assert not lab_layout.info_file.exists()
    assert not lifecycle.status(lab_layout)["running"]
    assert lifecycle.status(lab_layout)["state_saved"]

    info = lifecycle.up(lab_layout, lab_project)
    assert info["pid"] != lab["pid"]
    assert info["api_url"] == lab["api_url"]  # the endpoint stays put: kubeconfigs fetched before still work
    sim = lifecycle.status(lab_layout)["simulation"]
    assert sim["etcd"] == "healthy" and sim["api"] == "up" and sim["bootstrap_calls"] == 1
    assert all(n["phase"] == "running" and n["registered"] for n in sim["nodes"].values())
    code, nodes = _get(info["api_url"] + "/api/v1/nodes")
    assert code == 200
    assert sorted(n["metadata"]["name"] for n in nodes["items"]) == ["talos-cp-1", "talos-cp-2", "talos-cp-3"]
    again = run_tool("talosctl", *tc, "bootstrap")
    assert again.returncode == 1 and "AlreadyExists" in again.stderr


def test_first_start_seeds_the_vault_and_signs_in(lab: dict, run_tool) -> None:
    who = run_tool("op", "whoami")
    assert who.returncode == 0, who.stderr
    assert run_tool("op", "read", "op://homelab/1password-connect-token/token").stdout.startswith("hops-lab-fake-")


def test_reset_empties_the_lab_dir(lab: dict, lab_layout: LabLayout) -> None:
    lifecycle.reset(lab_layout)
    assert list(lab_layout.root.iterdir()) == []
    assert not lifecycle.status(lab_layout)["running"]


def test_cli_status_and_calls(lab: dict, lab_env: dict, lab_project: Path, run_tool) -> None:
    import subprocess
    import sys
    run_tool("talosctl", "version", "--client")
    cli = [sys.executable, "-m", "hops.lab"]
    status = subprocess.run([*cli, "status"], env=lab_env, cwd=lab_project, capture_output=True, text=True)
    assert status.returncode == 0 and "lab: running" in status.stdout and "talos-cp-2" in status.stdout
    calls = subprocess.run([*cli, "calls", "talosctl"], env=lab_env, cwd=lab_project, capture_output=True, text=True)
    assert json.loads(calls.stdout.splitlines()[-1])["argv"] == ["version", "--client"]


def test_concurrent_ups_start_one_daemon(lab_layout, lab_project, lab_env, monkeypatch) -> None:
    """`doit -n 4` workers call ensure_up at the same moment: exactly one daemon may come of it."""
    import subprocess
    import sys

    for key in ("HOPS_LAB_DIR", "HOPS_LAB_SPEED", "HOME"):
        monkeypatch.setenv(key, lab_env[key])
    code = "import sys; from pathlib import Path; from hops.lab import lifecycle; from hops.lab.layout import LabLayout;" \
           f"print(lifecycle.up(LabLayout(Path({str(lab_layout.root)!r})), Path({str(lab_project)!r}))['pid'])"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=lab_env, stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    try:
        pids = {proc.communicate(timeout=60)[0].strip() for proc in procs}
        assert len(pids) == 1, pids
        daemons = subprocess.run(["pgrep", "-f", f"hops.lab.daemon --dir {lab_layout.root}"], capture_output=True,
                                 text=True).stdout.split()
        assert daemons == list(pids), daemons
    finally:
        lifecycle.down(lab_layout)


def test_api_port_taken_while_down_repoints_the_issued_kubeconfig(lab: dict, lab_layout: LabLayout,
                                                                    lab_project: Path) -> None:
    import socket

    kubeconfig = lab_layout.cluster_dir / "kubeconfig"
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    kubeconfig.write_text(f"clusters:\n- cluster:\n    server: {lab['api_url']}\n")
    old_port = int(lab["api_url"].rsplit(":", 1)[1])
    assert lifecycle.down(lab_layout)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        info = lifecycle.up(lab_layout, lab_project)
    assert info["api_url"] != lab["api_url"]
    assert kubeconfig.read_text() == f"clusters:\n- cluster:\n    server: {info['api_url']}\n"
    assert _get(info["api_url"] + "/version")[0] == 200


def _ends_within(pid: int, seconds: float) -> bool:
    """Waits on the process itself (a pidfd becomes readable when it exits), not on a sleep loop."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


def test_a_lab_whose_folder_is_removed_stops_by_itself(lab: dict, lab_layout: LabLayout) -> None:
    # `rm -rf .lab` (or a test's temporary folder cleaned up) would otherwise leave a daemon nobody can reach
    import shutil

    assert not _ends_within(lab["pid"], 0.5)  # true case: with its folder, the lab keeps running
    shutil.rmtree(lab_layout.root)
    assert _ends_within(lab["pid"], 15)


def test_the_pause_before_a_state_write_grows_with_what_writes_cost(tmp_path: Path) -> None:
    """A 50-node lab changes all the time; writing its whole store five times a second starved its controllers
    (flux bootstrap timed out at speed 1000). After a write that cost c seconds the next waits c / SAVE_SHARE."""
    import json as _json

    from hops.lab.daemon import Persister

    layout = LabLayout(tmp_path / "lab")
    layout.root.mkdir(parents=True)
    persister = Persister(layout, lambda: {"store": {"n": 1}}, debounce=0.2)
    assert persister.pause() == 0.2                                  # nothing written yet
    persister.save()
    assert _json.loads(layout.sim_state_file.read_text())["store"] == {"n": 1}
    persister._last_cost = 0.05                                     # as measured by the writer thread
    assert persister.pause() == 0.05 / Persister.SAVE_SHARE == 0.5
    persister._last_cost = 0.001
    assert persister.pause() == 0.2                                  # cheap writes: the debounce
