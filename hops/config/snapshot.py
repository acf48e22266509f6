"""The validated configuration as plain frozen records: what hops.config.cache keeps between processes.

Reading back pickled pydantic models needs pydantic and every model class (~85 ms of each command that reads the
configuration: pydantic's import and the models' class creation); records need neither. A record holds its
model's field values as attributes and its model's behaviour (the *Behaviour mixins below, which the pydantic
models inherit too, so both answer alike), is frozen and compares by value. What it lacks is validation, which
happened before the record was made, and pydantic's API (model_dump and friends), which only the configuration
code itself uses, on models it has just validated.

Code that reads the configuration is typed against the models (hops.config.model: what an editor follows); the
records have the same attributes. This module imports nothing of pydantic; tests/config/test_snapshot.py keeps one record class per model class.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import TYPE_CHECKING, Any


# --- behaviour shared by a model and its record ----------------------------------------------------------------
class NodeBehaviour:
    if TYPE_CHECKING:
        role: str

    @property
    def is_control_plane(self) -> bool:
        return self.role == "controlplane"


class TimeoutsBehaviour:
    def for_group(self, group: str) -> float:
        """Deadline in seconds for a phase group name (KeyError for an unknown group)."""
        if group not in vars(self):  # a model's and a record's __dict__ hold exactly their fields
            raise KeyError(f"no timeout for group {group!r}; known: {', '.join(vars(self))}")
        return float(getattr(self, group))


class CommandBehaviour:
    if TYPE_CHECKING:
        name: str | None
        run: list[str]

    @property
    def label(self) -> str:
        """The name reports use."""
        return self.name or " ".join(self.run)


# --- records ---------------------------------------------------------------------------------------------------
class Record:
    """A validated model's field values, frozen."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen (validated)")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}: {type(self).__name__} is frozen (validated)")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(vars(self))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Cluster(Record): ...
class Node(NodeBehaviour, Record): ...
class Network(Record): ...
class OnePasswordItems(Record): ...
class OnePassword(Record): ...
class Talos(Record): ...
class Networking(Record): ...
class GitOps(Record): ...
class Timeouts(TimeoutsBehaviour, Record): ...
class Retry(Record): ...
class Bootstrap(Record): ...
class Tools(Record): ...
class BootstrapConfig(Record): ...
class When(Record): ...
class Command(CommandBehaviour, Record): ...
class Hooks(Record): ...
class Checks(Record): ...


RECORDS: dict[str, type[Record]] = {cls.__name__: cls for cls in Record.__subclasses__()}


def freeze(value: Any) -> Any:
    """`value` with every pydantic model in it (at any depth) replaced by its record."""
    fields = getattr(type(value), "model_fields", None)
    if fields is not None:
        record = RECORDS[type(value).__name__]  # KeyError: a model class without a record (the test says which)
        return record(**{name: freeze(getattr(value, name)) for name in fields})
    if isinstance(value, list):
        return [freeze(item) for item in value]
    if isinstance(value, tuple):
        return tuple(freeze(item) for item in value)
    if isinstance(value, dict):
        return {key: freeze(item) for key, item in value.items()}
    return value
