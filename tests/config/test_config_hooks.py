"""bootstrap-config.yaml `hooks:` and `checks:`: what is accepted, and every mistake named by file and field."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfg_helpers import BASE

from hops.config import ConfigError, load_settings, targets
from hops.config.custom import DEFAULT_TIMEOUT, config_value, equal
from tests import forkserver

FILE = "bootstrap-config.yaml"
STEPS = ["networking:deploy-cilium", "networking:wait", "networking:complete", "services:longhorn-ready",
         "services:complete"]


@pytest.fixture(autouse=True)
def declared() -> Iterator[None]:
    """The step names hooks may use, as hops.tasks declares them; restored afterwards."""
    previous = targets.known_steps()
    targets.declare_steps(STEPS)
    yield
    targets._declared = previous


def load(write, **sections: Any):
    config = copy.deepcopy(BASE)
    config.update(sections)
    return load_settings(write(config), env={})


def problems(write, **sections: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(write, **sections)
    found = {p.field: p.message for p in caught.value.problems}
    assert all(p.file == FILE for p in caught.value.problems)
    return found


def test_valid_sections_load_with_defaults(write) -> None:
    settings = load(write, hooks={
        "networking": {"before": [{"run": ["./scripts/check-switch.sh"], "timeout": 30, "message": "no switch"}]},
        "networking:deploy-cilium": {"after": [{"run": ["sh", "-c", "echo deployed >> notes.txt"],
                                                "when": {"env": {"ENVIRONMENT": "production"},
                                                         "config": {"networking.kube_proxy_replacement": True}}}]},
    }, checks={"services:longhorn-ready": {"preconditions": [{"run": ["test", "-e", "/dev/sdb"]}],
                                           "status": [{"name": "longhorn volume test", "run": ["true"]}]}})
    hooks = settings.config.hooks
    assert hooks["networking"].before[0].timeout == 30 and hooks["networking"].before[0].message == "no switch"
    after = hooks["networking:deploy-cilium"].after[0]
    assert after.timeout == DEFAULT_TIMEOUT and after.run == ["sh", "-c", "echo deployed >> notes.txt"]
    assert after.when.env == {"ENVIRONMENT": "production"}
    checks = settings.config.checks["services:longhorn-ready"]
    assert checks.status[0].label == "longhorn volume test"
    assert checks.preconditions[0].label == "test -e /dev/sdb"  # unnamed: the command line


def test_without_sections_there_is_nothing_configured(write) -> None:
    config = load(write).config
    assert config.hooks == {} and config.checks == {}


def test_a_string_command_says_to_use_a_list_or_sh_c(write) -> None:
    found = problems(write, hooks={"networking": {"before": [{"run": "echo hi"}]}})
    message = found["hooks.networking.before[0].run"]
    assert "'echo hi' is a string" in message
    assert '["echo", "hi"]' in message and '["sh", "-c", "echo hi"]' in message


def test_empty_run_missing_run_and_blank_arguments(write) -> None:
    found = problems(write, hooks={"networking": {"before": [{"run": []}, {"timeout": 5}],
                                                  "after": [{"run": ["echo", ""]}]}})
    assert found["hooks.networking.before[0].run"].startswith("is empty (expected the command as an argument list")
    assert found["hooks.networking.before[1].run"].startswith("is required but missing")
    assert "argument 1 ('') is not a non-empty string" in found["hooks.networking.after[0].run"]


def test_non_positive_timeouts(write) -> None:
    found = problems(write, checks={"networking:wait": {"status": [{"run": ["true"], "timeout": 0}],
                                                        "preconditions": [{"run": ["true"], "timeout": -3}]}})
    assert found["checks.networking:wait.status[0].timeout"].startswith("0 is not positive")
    assert found["checks.networking:wait.preconditions[0].timeout"].startswith("-3 is not positive")


def test_unknown_keys_in_entries_hooks_and_when(write) -> None:
    found = problems(write, hooks={"networking": {"bfore": [], "after": [{"run": ["true"], "tiemout": 3,
                                                                           "when": {"enviroment": {}}}]}},
                     checks={"networking": {"statuses": []}})
    assert found["hooks.networking.bfore"] == "unknown key (did you mean 'before'?)"
    assert found["hooks.networking.after[0].tiemout"] == "unknown key (did you mean 'timeout'?)"
    assert found["hooks.networking.after[0].when.enviroment"] == "unknown key (allowed: config, env)"
    assert found["checks.networking.statuses"] == "unknown key (did you mean 'status'?)"


def test_unknown_phase_and_step_names_with_did_you_mean(write) -> None:
    found = problems(write, hooks={"netwrking": {}, "networking:deploy-cilum": {}},
                     checks={"services:longhorn": {}, "storage": {}})
    assert found["hooks.netwrking"].startswith("no phase is called 'netwrking' (did you mean 'networking'?)")
    assert found["hooks.networking:deploy-cilum"].startswith(
        "no step is called 'networking:deploy-cilum' (did you mean 'networking:deploy-cilium'?)")
    assert "(did you mean 'services:longhorn-ready'?)" in found["checks.services:longhorn"]
    assert "(allowed: networking, services)" in found["checks.storage"]


def test_known_names_of_phases_steps_and_complete_are_accepted(write) -> None:
    config = load(write, hooks={"services": {}, "networking:complete": {}}, checks={"networking:wait": {}}).config
    assert set(config.hooks) == {"services", "networking:complete"}


def test_names_are_not_checked_when_no_task_model_declared_them(write) -> None:
    targets._declared = None
    assert "anything:at-all" in load(write, hooks={"anything:at-all": {}}).config.hooks


def test_when_config_fields_must_exist_and_fit(write) -> None:
    when = {"config": {"networking.kube_proxy_replacment": True, "networking.kube_proxy_replacement": "yes",
                       "cluster": "x", "network.nodes": 1, "bootstrap.check_interval": "2",
                       "cluster.name.first": "a", "hooks.networking": "x"}}
    found = problems(write, hooks={"networking": {"before": [{"run": ["true"], "when": when}]}})
    prefix = "hooks.networking.before[0].when.config."
    assert found[prefix + "networking.kube_proxy_replacment"] == (
        "not a configuration field: unknown 'kube_proxy_replacment' (did you mean 'kube_proxy_replacement'?)")
    assert found[prefix + "networking.kube_proxy_replacement"] == "is true or false; 'yes' can never equal it"
    assert found[prefix + "cluster"].startswith("is a section, not a value")
    assert found[prefix + "network.nodes"].startswith("network.nodes is a list")
    assert found[prefix + "bootstrap.check_interval"] == "is a number; '2' can never equal it"
    assert found[prefix + "cluster.name.first"].startswith("cluster.name has no fields")
    assert found[prefix + "hooks.networking"].startswith("not a configuration field: unknown 'hooks'")


def test_when_config_fields_that_fit_are_accepted(write) -> None:
    when = {"config": {"networking.kube_proxy_replacement": False, "bootstrap.check_interval": 2,
                       "network.vip": "127.0.0.10", "talos.config_dir": "clusterconfig", "tools.required.helm": "3"}}
    config = load(write, hooks={"networking": {"before": [{"run": ["true"], "when": when}]}}).config
    assert config.hooks["networking"].before[0].when.config == when["config"]


def test_when_env_values_are_strings(write) -> None:
    found = problems(write, hooks={"networking": {"before": [{"run": ["true"], "when": {"env": {"DEBUG": 1}}}]}})
    assert found["hooks.networking.before[0].when.env.DEBUG"] == "1 is invalid (expected a string)"


def test_configured_values_and_equality(write) -> None:
    config = load(write).config
    assert config_value(config, "networking.kube_proxy_replacement") is True
    assert config_value(config, "tools.required.nosuchtool") is None
    assert equal(True, True) and not equal(True, 1) and not equal(1, True)
    assert equal(config_value(config, "talos.config_dir"), "clusterconfig")
    assert not equal(config_value(config, "talos.config_dir"), "elsewhere")
    assert equal(config_value(config, "bootstrap.check_interval"), 5) and not equal(5.0, 6)


def test_the_commented_example_in_the_repository_is_valid(write) -> None:
    """Uncommenting the example of bootstrap-config.yaml gives a valid configuration (step names of hops's phases)."""
    text = (Path(__file__).resolve().parents[2] / "bootstrap-config.yaml").read_text()
    start = text.index("# hooks:\n")
    example = "\n".join(line[2:] for line in text[start:].splitlines() if line.startswith("# "))
    targets.declare_steps(["networking:deploy-cilium", "services:longhorn-ready"])
    sections = yaml.safe_load(example)
    config = load(write, **sections).config
    assert config.hooks["networking"].before[0].message == "the switch is not configured"
    assert config.checks["services:longhorn-ready"].status[0].label == "longhorn volume test"


def test_python_m_hops_config_check_knows_the_names_of_hopss_phases(write) -> None:
    """The command-line check has no dodo: it declares the six phases' step names itself."""
    config = copy.deepcopy(BASE)
    config["hooks"] = {"networking:deploy-cilum": {}, "networking:deploy-cilium": {}}
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    result = forkserver.run_module("hops.config", ["check", "--root", str(write(config))], env=env, timeout=60)
    assert result.returncode == 1
    assert ("bootstrap-config.yaml: hooks.networking:deploy-cilum: no step is called 'networking:deploy-cilum' "
            "(did you mean 'networking:deploy-cilium'?)") in result.stderr
    assert "configuration has 1 problem:" in result.stderr and "Traceback" not in result.stderr
