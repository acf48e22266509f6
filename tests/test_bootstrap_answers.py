"""Which `talosctl bootstrap` answers mean "not yet" and which are failures, and how bootstrap-etcd acts on them,
with scripted talosctl results (no lab, no processes)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from hops import bootstrap_answers as answers
from hops.components import talos
from hops.errors import ToolFailed, WaitTimeout
from hops.runner import Result

PREFIX = "error executing bootstrap: rpc error: code = "
NOT_AVAILABLE = PREFIX + "FailedPrecondition desc = bootstrap is not available yet\n"
NOT_IN_SYNC = PREFIX + "FailedPrecondition desc = time is not in sync yet\n"
ALREADY = PREFIX + "AlreadyExists desc = etcd data directory is not empty\n"
REFUSED = (PREFIX + 'Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp '
           '172.29.51.11:50000: connect: connection refused"\n')
MEMBERS = ("NODE           ID               HOSTNAME     PEER URLS                  CLIENT URLS                LEARNER\n"
           "172.29.51.11   3f0c1a2b4d5e6f70 talos-cp-1   https://172.29.51.11:2380  https://172.29.51.11:2379  false\n")
NO_ETCD = ('error getting members: rpc error: code = Unknown desc = failed to create etcd client: dial tcp [::1]:6443: '
           'connect: connection refused\n')


@pytest.mark.parametrize("code,stderr,kind", [
    (0, "", answers.BOOTSTRAPPED),
    (1, ALREADY, answers.ALREADY),
    (1, NOT_AVAILABLE, answers.NOT_YET),
    (1, NOT_IN_SYNC, answers.NOT_YET),
    (1, REFUSED, answers.NOT_YET),
    (1, PREFIX + 'Unavailable desc = connection error: desc = "transport: authentication handshake failed: remote '
     'error: tls: internal error"', answers.NOT_YET),
    (1, PREFIX + "Unavailable desc = error reading from server: EOF", answers.NOT_YET),
    (124, "\ntimed out after 300s", answers.NOT_YET),           # the answer was lost
    # failures: the tool's message is the answer
    (1, PREFIX + 'Unavailable desc = connection error: desc = "transport: authentication handshake failed: tls: '
     'failed to verify certificate: x509: certificate signed by unknown authority"', answers.FAILED),
    (1, PREFIX + 'Unavailable desc = connection error: desc = "error reading server preface: remote error: tls: '
     'bad certificate"', answers.FAILED),
    (1, PREFIX + "FailedPrecondition desc = bootstrap can only be performed on a control plane node",
     answers.FAILED),
    (1, "Error: talosctl bootstrap: injected failure (hops lab fault)", answers.FAILED),
    (1, "connection refused", answers.FAILED),                 # not a gRPC Unavailable answer
    (1, "bootstrap is not available yet", answers.FAILED),     # the text without Talos' gRPC code
    (1, "", answers.FAILED),
])
def test_classify(code: int, stderr: str, kind: str) -> None:
    assert answers.classify(code, "", stderr).kind == kind


def test_details_name_the_cause_and_failures_keep_the_tools_words() -> None:
    assert answers.classify(1, "", NOT_AVAILABLE).detail == ("its container runtime is not up yet "
                                                             "(bootstrap is not available yet)")
    assert answers.classify(1, "", NOT_IN_SYNC).detail == "its clock is not in sync yet (time is not in sync yet)"
    assert answers.classify(1, "", "noise\nError: boom\n").detail == "Error: boom"
    assert answers.classify(3, "", "").detail == "exit 3"


class ScriptedTalosctl:
    """ctx.runner: answers `talosctl <verb>` from per-verb scripts (the last answer repeats); records each call."""

    def __init__(self, **scripts: list[tuple[int, str, str]]) -> None:
        self.scripts = scripts
        self.calls: list[str] = []

    def run(self, tool: str, args: list[str], *, check: bool = False, timeout: float | None = None,
            **_: object) -> Result:
        verb = "etcd_members" if args[:2] == ["etcd", "members"] else args[0]
        self.calls.append(verb)
        script = self.scripts[verb]
        code, out, err = script.pop(0) if len(script) > 1 else script[0]
        return Result([tool, *args], code, out, err, 0.0)


def scripted_ctx(runner: ScriptedTalosctl, tmp_path: Path, timeout: float = 30.0) -> SimpleNamespace:
    said: list[str] = []
    node = SimpleNamespace(name="talos-cp-1", address="172.29.51.11")
    return SimpleNamespace(
        runner=runner, said=said, settings=SimpleNamespace(control_plane_nodes=[node]),
        endpoints=SimpleNamespace(talosconfig=tmp_path / "talosconfig"),
        config=SimpleNamespace(bootstrap=SimpleNamespace(check_interval=0.01)),
        log=SimpleNamespace(say=said.append, write=lambda text: None), timeout=lambda group: timeout,
        state_dir=tmp_path / "state")  # the phase's deadline is kept there (hops.phase_clock)


def test_waits_through_not_yet_and_checks_members_before_every_new_attempt(tmp_path: Path) -> None:
    runner = ScriptedTalosctl(bootstrap=[(1, "", NOT_AVAILABLE), (1, "", NOT_AVAILABLE), (1, "", NOT_IN_SYNC),
                                         (0, "", "")],
                              etcd_members=[(1, "", NO_ETCD)])
    ctx = scripted_ctx(runner, tmp_path)
    talos.bootstrap_etcd(ctx)
    assert runner.calls == ["bootstrap", "etcd_members", "bootstrap", "etcd_members", "bootstrap",
                            "etcd_members", "bootstrap"]
    waits = [line for line in ctx.said if line.strip().startswith("waiting for")]
    assert len(waits) == 2          # once per change of the answer, not once per attempt
    assert "bootstrap is not available yet" in waits[0] and "time is not in sync yet" in waits[1]
    assert ctx.said[-1] == "  etcd bootstrapped on talos-cp-1 (172.29.51.11)"


def test_a_lost_answer_that_bootstrapped_is_never_followed_by_another_bootstrap(tmp_path: Path) -> None:
    runner = ScriptedTalosctl(bootstrap=[(124, "", "\ntimed out after 300s")], etcd_members=[(0, MEMBERS, "")])
    ctx = scripted_ctx(runner, tmp_path)
    talos.bootstrap_etcd(ctx)
    assert runner.calls == ["bootstrap", "etcd_members"]
    assert "an earlier attempt bootstrapped it" in ctx.said[-1]


def test_already_exists_after_not_yet_is_done(tmp_path: Path) -> None:
    runner = ScriptedTalosctl(bootstrap=[(1, "", REFUSED), (1, "", ALREADY)], etcd_members=[(1, "", NO_ETCD)])
    ctx = scripted_ctx(runner, tmp_path)
    talos.bootstrap_etcd(ctx)
    assert runner.calls.count("bootstrap") == 2
    assert "answered AlreadyExists (etcd data directory is not empty)" in ctx.said[-1]


def test_a_permanent_answer_fails_at_once_with_the_tools_message(tmp_path: Path) -> None:
    worker = PREFIX + "FailedPrecondition desc = bootstrap can only be performed on a control plane node\n"
    runner = ScriptedTalosctl(bootstrap=[(1, "", NOT_AVAILABLE), (1, "", worker)], etcd_members=[(1, "", NO_ETCD)])
    with pytest.raises(ToolFailed) as failed:
        talos.bootstrap_etcd(scripted_ctx(runner, tmp_path))
    assert "bootstrap can only be performed on a control plane node" in str(failed.value)
    assert str(failed.value).startswith("`talosctl bootstrap -n 172.29.51.11 -e 172.29.51.11")
    assert runner.calls.count("bootstrap") == 2


def test_not_yet_until_the_deadline_names_the_last_answer_and_what_to_check(tmp_path: Path) -> None:
    runner = ScriptedTalosctl(bootstrap=[(1, "", NOT_IN_SYNC)], etcd_members=[(1, "", NO_ETCD)])
    with pytest.raises(WaitTimeout) as timed_out:
        talos.bootstrap_etcd(scripted_ctx(runner, tmp_path, timeout=0.0))
    message = str(timed_out.value)
    assert message.startswith("timed out waiting for talos-cp-1 (172.29.51.11) to accept the etcd bootstrap: its "
                              "clock is not in sync yet")
    assert "time servers" in message and "talosctl -n 172.29.51.11 dmesg" in message
    assert runner.calls == ["bootstrap"]


@pytest.mark.parametrize("answer,members", [
    ((0, MEMBERS, ""), [{"hostname": "talos-cp-1", "peer_urls": "https://172.29.51.11:2380"}]),
    ((0, "", "WARNING: 1 error occurred:\n\t* 172.29.51.11: " + NO_ETCD.split(": ", 1)[1] + "\n"), None),  # v1.8
    ((1, "", NO_ETCD), None),
    ((1, "", REFUSED.replace("executing bootstrap", "getting members")), None),
])
def test_etcd_members_reads_a_table_and_no_etcd_in_either_form(tmp_path: Path, answer: tuple, members) -> None:
    ctx = scripted_ctx(ScriptedTalosctl(etcd_members=[answer]), tmp_path)
    assert talos.etcd_members(ctx, ctx.settings.control_plane_nodes[0]) == members
