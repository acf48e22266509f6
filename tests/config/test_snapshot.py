"""hops.config.snapshot: the validated configuration as plain records, as load_settings and its cache hand it out.
One record class per model class, with the model's behaviour; the same values as the models; frozen; a cached
read in a new process imports no pydantic."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from cfg_helpers import BASE, talconfig_for
from hops.config import custom, load_settings, model, snapshot, targets
from hops.config.load import _load

REPO = Path(__file__).resolve().parents[2]


def model_classes() -> list[type[BaseModel]]:
    return [cls for module in (model, custom) for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, BaseModel) and cls.__module__ == module.__name__ and not cls.__name__.startswith("_")]


def behaviour(cls: type) -> set[type]:
    return {base for base in cls.__mro__ if base.__name__.endswith("Behaviour")}


def test_every_model_class_has_a_record_with_its_behaviour() -> None:
    classes = model_classes()
    assert {"Node", "Timeouts", "Command", "BootstrapConfig"} <= {cls.__name__ for cls in classes}
    for cls in classes:
        record = snapshot.RECORDS.get(cls.__name__)
        assert record is not None, f"{cls.__name__} has no record class in hops.config.snapshot"
        assert behaviour(record) == behaviour(cls), cls.__name__


def dumped(value: Any) -> Any:
    """A model or a record as nested builtins, for comparing the two."""
    if isinstance(value, (BaseModel, snapshot.Record)):
        return {name: dumped(item) for name, item in vars(value).items()}
    if isinstance(value, (list, tuple)):
        return [dumped(item) for item in value]
    if isinstance(value, dict):
        return {key: dumped(item) for key, item in value.items()}
    return value


@pytest.fixture(autouse=True)
def declared() -> Iterator[None]:
    """The step a hook below names, declared as hops.tasks declares the graph's steps; restored afterwards."""
    previous = targets.known_steps()
    targets.declare_steps(["talos:health"])
    yield
    targets._declared = previous


@pytest.fixture
def root(tmp_path: Path) -> Path:
    data = {**BASE, "hooks": {"talos:health": {"after": [{"run": ["true"], "name": "ping"}]}}}
    (tmp_path / "bootstrap-config.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "talconfig.yaml").write_text(yaml.safe_dump(talconfig_for(BASE)))
    return tmp_path


def test_records_hold_the_models_values_and_answer_like_them(root: Path) -> None:
    validated = _load(root, root, None, {})
    settings = load_settings(root, env={})
    assert isinstance(validated.config, model.BootstrapConfig)
    assert isinstance(settings.config, snapshot.BootstrapConfig)
    assert dumped(settings.config) == dumped(validated.config)
    assert [n.is_control_plane for n in settings.config.network.nodes] == [True, True, False]
    assert settings.config.bootstrap.timeouts.for_group("talos") == validated.config.bootstrap.timeouts.for_group(
        "talos") == 1800.0
    with pytest.raises(KeyError, match="no timeout for group 'nope'; known: validation, talos"):
        settings.config.bootstrap.timeouts.for_group("nope")
    (hook,) = settings.config.hooks["talos:health"].after
    assert hook.label == "ping" and hook.run == ["true"]


def test_records_are_frozen_and_compare_by_value(root: Path) -> None:
    first, second = load_settings(root, env={}), load_settings(root, env={"HOPS_CONFIG_CACHE": "0"})
    assert first.config == second.config and hash(first.config.cluster) == hash(second.config.cluster)
    assert first.config.cluster != first.config.network
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
        first.config.cluster.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del first.config.cluster.name
    assert repr(first.config.network.nodes[0]) == "Node(name='cp-1', address='127.0.0.11', role='controlplane')"


READ = """
import json, sys
from hops.config import load_settings
settings = load_settings(sys.argv[1], env={})
print(json.dumps({"pydantic": "pydantic" in sys.modules, "kind": type(settings.config).__module__,
                  "nodes": [n.name for n in settings.control_plane_nodes]}))
"""


def test_a_cached_read_in_a_new_process_imports_no_pydantic(root: Path, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOPS_CONFIG_CACHE": str(tmp_path / "cache")}
    runs = [json.loads(subprocess.run([sys.executable, "-c", READ, str(root)], cwd=REPO, env=env, check=True,
                                      capture_output=True, text=True, timeout=60).stdout) for _ in range(2)]
    assert runs[0] == {"pydantic": True, "kind": "hops.config.snapshot", "nodes": ["cp-1", "cp-2"]}  # validated
    assert runs[1] == {"pydantic": False, "kind": "hops.config.snapshot", "nodes": ["cp-1", "cp-2"]}  # cached
