"""load_settings(): read both files, apply overrides, validate, cross-check; Settings is the result."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hops.config import overrides
from hops.config.errors import BOOTSTRAP_FILE, TALCONFIG_FILE, ConfigError, Problem, join_path

if TYPE_CHECKING:
    from hops.config.model import BootstrapConfig, Node
    from hops.config.talconfig import TalConfig

SOURCE_FILE = BOOTSTRAP_FILE
SOURCE_DEFAULT = "default"


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one project root, with where each value came from."""

    root: Path
    config: BootstrapConfig
    talconfig: TalConfig
    sources: dict[str, str]
    applied: list[overrides.AppliedOverride] = field(default_factory=list)

    @property
    def control_plane_nodes(self) -> list[Node]:
        return [node for node in self.config.network.nodes if node.is_control_plane]

    @property
    def worker_nodes(self) -> list[Node]:
        return [node for node in self.config.network.nodes if not node.is_control_plane]

    def node_by_name(self, name: str) -> Node:
        for node in self.config.network.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.config.network.nodes)
        raise KeyError(f"no node named {name!r} in {BOOTSTRAP_FILE} (known: {known})")

    def env_for_tools(self) -> dict[str, str]:
        """Every override variable with its resolved value, so talhelper's ${VAR} sees what hops validated."""
        return overrides.resolved_variables(self.config)


def load_settings(root: Path | str, cli_vars: Mapping[str, str] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Load and validate; raises ConfigError listing every problem found in both files. A load with the same
    inputs as an earlier one is answered from hops.config.cache. The configuration's models come back as plain
    records (hops.config.snapshot), fresh or cached alike."""
    from hops.config import cache
    from hops.config.targets import known_steps

    root = Path(root)
    env = os.environ if env is None else env
    folder = _cluster_folder(root, env, cli_vars)
    cache_key = cache.key(root, folder, cli_vars, env, known_steps())
    cached = cache.read(cache_key, Settings)
    if cached is not None:
        return cached
    settings = frozen(_load(root, folder, cli_vars, env))  # as the cache hands it back: one kind of Settings
    cache.write(cache_key, settings)
    return settings


def frozen(settings: Settings) -> Settings:
    """The same settings with the configuration's models as plain records (hops.config.snapshot): what the cache
    keeps, so reading it back needs no pydantic."""
    from dataclasses import replace

    from hops.config.snapshot import freeze

    return replace(settings, config=freeze(settings.config))


def _load(root: Path, folder: Path, cli_vars: Mapping[str, str] | None, env: Mapping[str, str]) -> Settings:
    from hops.config import references
    from hops.config.model import validate_config
    from hops.config.talconfig import cross_check, parse_talconfig
    from hops.config.yamlio import parse_yaml

    problems: list[Problem] = []
    raw: dict[str, Any] | None = None
    merged: dict[str, Any] = {}
    applied: list[overrides.AppliedOverride] = []
    config = None
    text = _read(folder, BOOTSTRAP_FILE, problems)
    if text is not None:
        raw, yaml_problems = parse_yaml(text, BOOTSTRAP_FILE)
        problems += yaml_problems
        raw = _top_mapping(raw, yaml_problems, problems)
    if raw is not None:
        applied = overrides.collect(cli_vars, env)
        merged, override_problems = overrides.apply(raw, applied)
        config, model_problems = validate_config(merged, {o.field: o.source for o in applied})
        problems += override_problems + model_problems
        reference_problems = references.reference_problems(merged)
        problems += reference_problems
        if reference_problems:
            config = None
        if override_problems:
            config = None
    tal = None
    tal_text = _read(folder, TALCONFIG_FILE, problems)
    if tal_text is not None:
        variables = _substitution_variables(env, merged, config)
        # with an invalid bootstrap-config an override variable may be unresolvable: that is not talconfig's fault
        quiet = overrides.is_override_variable if config is None else (lambda name: False)
        tal, tal_problems = parse_talconfig(tal_text, variables, quiet)
        problems += tal_problems
    if config is not None and tal is not None:
        problems += cross_check(config, tal, {o.field: o.source for o in applied})
    if tal is not None and tal_text is not None:
        from hops.config import talconfig_rules  # defaults that disagree, interface names

        problems += talconfig_rules.problems(tal_text, tal, config, raw or {}, applied)
    if problems or config is None or tal is None:
        raise ConfigError(_located(problems, root, folder))
    return Settings(root, config, tal, sources_of(config, raw or {}, applied), applied)


def _cluster_folder(root: Path, env: Mapping[str, str], cli_vars: Mapping[str, str] | None) -> Path:
    """Where the selected cluster's two files are: the root, or clusters/<name>/ (hops.clusters)."""
    from hops import clusters

    try:
        return clusters.select(root, env, cli_vars).config_dir
    except clusters.ClusterError as exc:
        raise ConfigError([Problem(clusters.CLUSTER_VAR, "", str(exc))]) from None


def _located(problems: list[Problem], root: Path, folder: Path) -> list[Problem]:
    """Another cluster's problems name its own files (`clusters/staging/talconfig.yaml: ...`)."""
    if folder.resolve() == root.resolve():
        return problems
    from dataclasses import replace

    where = folder.resolve().relative_to(root.resolve())
    return [replace(p, file=f"{where}/{p.file}") if p.file in (BOOTSTRAP_FILE, TALCONFIG_FILE) else p
            for p in problems]


def _read(root: Path, name: str, problems: list[Problem]) -> str | None:
    """The file's text with line ends made "\n" (as read_text does); bytes that are not UTF-8 are problems."""
    from hops.config.characters import decode

    path = root / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems.append(Problem(name, "", _missing_message(path)))
        return None
    except OSError as exc:
        problems.append(Problem(name, "", f"cannot be read: {exc}"))
        return None
    text, undecodable = decode(data, name)
    problems += undecodable
    return None if text is None else text.replace("\r\n", "\n").replace("\r", "\n")


def _missing_message(path: Path) -> str:
    example = Path(__file__).resolve().parents[2] / path.name   # the committed example at the repo root
    if example.is_file() and example.resolve() != path.resolve():
        return f"not found at {path}; create it by copying the example: cp {example} {path} (then edit it)"
    return (f"not found at {path}; create it by copying the example {path.name} from the hops repository root "
            "(then edit it)")


def _top_mapping(raw: Any, yaml_problems: list[Problem], problems: list[Problem]) -> dict[str, Any] | None:
    if raw is None and yaml_problems:   # syntax error: nothing to validate
        return None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(BOOTSTRAP_FILE, "", f"expected a mapping at the top level, got {type(raw).__name__}"))
        return None
    return raw


def _substitution_variables(env: Mapping[str, str], merged: Mapping[str, Any],
                            config: BootstrapConfig | None) -> dict[str, str]:
    """What talhelper's envsubst will see: the environment plus the resolved override variables.

    With an invalid bootstrap-config the values come from the merged mapping, best effort (the cross-check is
    skipped then anyway; this only keeps talconfig's own problems meaningful).
    """
    from hops.config.characters import value_message

    # an override variable holding control characters is already reported (overrides.character_problem) and not
    # applied; kept here it would be reported again by talconfig as an unusable ${VAR}
    variables = {name: value for name, value in env.items()
                 if not (overrides.is_override_variable(name) and value_message(value.strip(" \t\r\n")))}
    if config is not None:
        variables.update(overrides.resolved_variables(config))
    else:
        variables.update(overrides.raw_variables(merged))
    return variables


def sources_of(config: BootstrapConfig, raw: Mapping[str, Any],
               applied: list[overrides.AppliedOverride]) -> dict[str, str]:
    """Dotted leaf path -> 'command line X' / 'environment X' / 'bootstrap-config.yaml' / 'default'."""
    overridden = {o.field: o.source for o in applied}
    out: dict[str, str] = {}
    for path, _ in _leaves(config, ()):
        dotted = join_path(path)
        if dotted in overridden:
            out[dotted] = overridden[dotted]
        else:
            out[dotted] = SOURCE_FILE if _present(raw, path) else SOURCE_DEFAULT
    return out


def _leaves(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], Any]]:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        found = []
        for name in type(value).model_fields:
            found += _leaves(getattr(value, name), path + (name,))
        return found
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, path + (i,))]
    if isinstance(value, dict):
        return [(path + (str(key),), item) for key, item in value.items()]
    return [(path, value)]


def _present(raw: Any, path: tuple[str | int, ...]) -> bool:
    for part in path:
        if isinstance(part, int):
            if not isinstance(raw, list) or part >= len(raw):
                return False
        elif not isinstance(raw, dict) or part not in raw:
            return False
        raw = raw[part]
    return True
