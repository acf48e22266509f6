"""Which phase and step names bootstrap-config.yaml `hooks:` and `checks:` may refer to.

The task model knows them; the configuration must not import it (nor may the task list import pydantic), so
hops.tasks declares them here when the task list is built (`python -m hops.config check` declares hops's six
phases). Free of pydantic and yaml imports."""

from __future__ import annotations

_declared: tuple[str, ...] | None = None  # the step ids of the task model in use


def declare_steps(step_ids: list[str]) -> None:
    """The task model's step ids (`group:name`): the names hooks and checks may refer to."""
    global _declared
    _declared = tuple(step_ids)


def known_steps() -> tuple[str, ...] | None:
    """The declared step ids (None when no task model declared them: then names are not checked)."""
    return _declared
