"""talconfig.yaml rules beyond agreeing with bootstrap-config.yaml once substituted (hops.config.talconfig).

- A `${NODE_1_IP:-172.29.51.11}` default must agree with bootstrap-config.yaml: hops always passes its own
  values, so the cross-check never sees the default, but talhelper run by hand (no variables set) uses it and
  generates configs for another address.
- `networkInterfaces[].interface` must be a network interface name: the value ends up in machine configs and
  in commands, and shell metacharacters there are never a real interface.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from hops.config.errors import BOOTSTRAP_FILE, TALCONFIG_FILE, Problem

_DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}")
_INTERFACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,14}$")  # Linux: at most 15 characters, no '/' or space


def default_problems(text: str, file_values: Mapping[str, str], fields: Mapping[str, str]) -> list[Problem]:
    """A problem per `${VAR:-default}` whose default differs from bootstrap-config.yaml's value for VAR.
    `file_values`: variable -> the value the file gives (overrides not applied); `fields`: variable -> field."""
    found = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith("#"):
            continue
        for match in _DEFAULTED.finditer(line):
            name, default = match.group(1), match.group(2).strip()
            ours = file_values.get(name)
            if ours is None or not default or _same(default, ours):
                continue
            found.append(Problem(TALCONFIG_FILE, f"line {number}",
                                 f"{match.group(0)}: the default {default} disagrees with {BOOTSTRAP_FILE} "
                                 f"{fields.get(name, name)} = {ours} (talhelper run without hops's variables "
                                 f"would use {default}); make them agree"))
    return found


def interface_problems(nodes: list[Any]) -> list[Problem]:
    """A problem per networkInterfaces[].interface that is not an interface name (`eth0; rm -rf /`)."""
    found = []
    for index, node in enumerate(nodes):
        interfaces = node.get("networkInterfaces") if isinstance(node, dict) else None
        for position, interface in enumerate(interfaces if isinstance(interfaces, list) else []):
            name = interface.get("interface") if isinstance(interface, dict) else None
            if name is not None and not _INTERFACE.match(str(name)):
                found.append(Problem(TALCONFIG_FILE, f"nodes[{index}].networkInterfaces[{position}].interface",
                                     f"{name!r} is not a network interface name (expected letters, digits, '-', "
                                     "'_', '.', at most 15 characters, e.g. eth0 or enp1s0)"))
    return found


def _same(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.rstrip("/") == b.rstrip("/")


def problems(text: str, tal: Any, config: Any, raw: Mapping[str, Any], applied: list[Any]) -> list[Problem]:
    """Both rules of the module docstring; `config` may be None (bootstrap-config.yaml invalid: defaults are not
    compared then)."""
    found = interface_problems([node.raw for node in tal.nodes])
    if config is not None:
        found += default_problems(text, *file_values(config, raw, applied))
    return found


def file_values(config: Any, raw: Mapping[str, Any], applied: list[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(variable -> the value bootstrap-config.yaml itself gives, variable -> its field): an overridden variable
    keeps the file's own value, or is left out when the file does not set it."""
    from hops.config import overrides

    values = overrides.resolved_variables(config)
    in_file = overrides.raw_variables(raw)
    for override in applied:
        values.pop(override.variable, None)
        if override.variable in in_file:
            values[override.variable] = in_file[override.variable]
    fields = {o.variable: o.field for o in overrides.OVERRIDES}
    for number in range(1, len(config.network.nodes) + 1):
        fields[f"NODE_{number}_IP"] = f"network.nodes[{number - 1}].address"
        fields[f"NODE_{number}_NAME"] = f"network.nodes[{number - 1}].name"
    return values, fields
