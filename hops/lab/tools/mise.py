"""Emulated mise: `exec -- CMD` replaces itself with CMD (so its exit code and output come through unchanged),
`current`, `ls --current`, `--version`, `doctor`, `install`, `use`. Tool versions are the configured
tools.required (lab.json): the lab's shims are those versions, so `install` of exactly them is "already installed"
and any other tool or version fails as an install mise could not perform (the lab downloads nothing)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import yaml

from hops.lab.tools.common import ToolExit, _record, lab_info, layout, run_tool

MISE_VERSION = "2024.11.37 linux-x64 (2024-11-30)"


def _versions() -> dict[str, str]:
    """tools.required of the project: from the running lab, else read from ./bootstrap-config.yaml."""
    info = lab_info(required=False) or {}
    if info.get("tool_versions"):
        return dict(info["tool_versions"])
    from hops.clusters import ClusterError, current

    try:  # the selected cluster's file (HOPS_CLUSTER: hops.clusters)
        config = yaml.safe_load(current(Path.cwd()).config_file("bootstrap-config.yaml").read_text()) or {}
    except (FileNotFoundError, yaml.YAMLError, ClusterError):
        return {}
    return {str(k): str(v) for k, v in ((config.get("tools") or {}).get("required") or {}).items()}


def _source() -> str:
    root = (lab_info(required=False) or {}).get("root") or str(Path.cwd())
    return str(Path(root) / "bootstrap-config.yaml").replace(str(Path.home()), "~", 1)


def cmd_exec(args: list[str]) -> int:
    # `mise exec tool@version -- cmd` without `--` means no command: mise opens a shell; we refuse
    command = args[args.index("--") + 1:] if "--" in args else []
    if not command:
        raise ToolExit("mise ERROR no command provided\nmise ERROR Run with --verbose or MISE_VERBOSE=1 for more "
                       "information", 1)
    path = os.environ.get("PATH", "")
    if shutil.which(command[0], path=path) is None:
        raise ToolExit(f"mise ERROR {command[0]}: command not found", 127)
    sys.stdout.flush()
    _record(layout(), "mise", ["exec", "--", *command], 0)    # exec replaces this process: log the hand-over now
    os.execvp(command[0], command)
    return 127   # not reached


def cmd_current(args: list[str]) -> int:
    versions = _versions()
    if args:
        tool = args[0]
        if tool not in versions:
            raise ToolExit(f"mise WARN  {tool} is not installed or not configured\nmise ERROR tool {tool} not found",
                           1)
        print(versions[tool])
        return 0
    for tool, version in versions.items():
        print(f"{tool} {version}")
    return 0


def cmd_ls(args: list[str]) -> int:
    versions = _versions()
    if not versions:
        return 0
    width = max(len(t) for t in versions)
    vwidth = max(len(v) for v in versions.values())
    source = _source()
    for tool, version in versions.items():
        print(f"{tool.ljust(width)}  {version.ljust(vwidth)}  {source}  {version}")
    return 0


CONFIG_FILES = ("mise.toml", ".mise.toml", "mise/config.toml", ".config/mise.toml", ".config/mise/config.toml")
SPEC = re.compile(r"^(?:[a-z]+:)?(?:[\w.-]+/)?(?P<tool>[\w.-]+)(?:@(?P<version>\S+))?$")
ALIASES = {"talos": "talosctl", "talosctl": "talosctl", "1password-cli": "op", "1password": "op", "op": "op",
           "fluxcd": "flux", "flux2": "flux", "flux": "flux", "cilium-cli": "cilium", "cilium": "cilium",
           "helm": "helm", "talhelper": "talhelper"}


def _config_pins(start: Path) -> tuple[Path | None, dict[str, str]]:
    """[tools] of the nearest mise config file (cwd, then parents), or .tool-versions; (None, {}) without one."""
    for folder in (start, *start.parents):
        for name in CONFIG_FILES:
            path = folder / name
            if path.is_file():
                return path, _toml_tools(path)
        legacy = folder / ".tool-versions"
        if legacy.is_file():
            pairs = (line.split()[:2] for line in legacy.read_text().splitlines() if line.strip()
                     and not line.startswith("#"))
            return legacy, {p[0]: p[1] for p in pairs if len(p) == 2}
    return None, {}


def _toml_tools(path: Path) -> dict[str, str]:
    import tomllib  # only for a .mise.toml; `mise exec` and `--version` never read one

    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ToolExit(f"mise ERROR error parsing config file: {path}\nmise ERROR {exc}", 1) from None
    tools = data.get("tools") or {}
    pins = {}
    for tool, value in tools.items():
        version = value.get("version") if isinstance(value, dict) else value[0] if isinstance(value, list) else value
        pins[str(tool)] = str(version)
    return pins


def _lab_tool(spec: str) -> str | None:
    """`aqua:siderolabs/talos` / `talosctl` / `ubi:cilium/cilium-cli` -> the lab tool it names, if any."""
    match = SPEC.match(spec)
    return ALIASES.get(match.group("tool").lower()) if match else None


def _check_install(spec: str, version: str, shipped: dict[str, str]) -> str:
    """The line mise prints for a pin the lab satisfies; ToolExit for one it cannot."""
    tool = _lab_tool(spec)
    if tool is None or tool not in shipped:
        raise ToolExit(f"mise ERROR Failed to install {spec}@{version}: the hops lab cannot download tools; it "
                       f"ships only {', '.join(f'{t}@{v}' for t, v in shipped.items())}", 1)
    wanted = version.removeprefix("v")
    if wanted not in ("latest", shipped[tool]) and not shipped[tool].startswith(wanted + "."):
        raise ToolExit(f"mise ERROR Failed to install {spec}@{version}: no such version in the hops lab (its "
                       f"shim is {tool}@{shipped[tool]}; pin that version)", 1)
    return f"{spec}@{shipped[tool]}"


def _install_args(args: list[str]) -> list[str]:
    specs = [a for a in args if not a.startswith("-")]
    for flag in (a for a in args if a.startswith("-")):
        if flag.split("=")[0] not in ("-f", "--force", "-y", "--yes", "-v", "--verbose", "-q", "--quiet",
                                      "--raw", "-j", "--jobs", "--dry-run", "-n"):
            raise ToolExit(f"error: unexpected argument '{flag}' found\n\nUsage: mise install [OPTIONS] "
                           "[TOOL@VERSION]...\n\nFor more information, try '--help'.", 2)
    return specs


def cmd_install(args: list[str]) -> int:
    shipped = _versions()
    specs = _install_args(args)
    if specs:
        pins = {s.split("@", 1)[0]: (s.split("@", 1)[1] if "@" in s else "latest") for s in specs}
    else:
        _, pins = _config_pins(Path.cwd())
    for spec, version in pins.items():
        _check_install(spec, version, shipped)
    # every pin is a shim the lab already has: mise reports nothing to do
    print("mise all tools are installed", file=sys.stderr)
    return 0


def cmd_use(args: list[str]) -> int:
    shipped = _versions()
    specs = _install_args([a for a in args if a not in ("-g", "--global")])
    if not specs:
        raise ToolExit("error: the following required arguments were not provided:\n  <TOOL@VERSION>...\n\n"
                       "Usage: mise use <TOOL@VERSION>...\n\nFor more information, try '--help'.", 2)
    path = Path.home() / ".config" / "mise" / "config.toml" if {"-g", "--global"} & set(args) \
        else Path.cwd() / "mise.toml"
    lines = path.read_text().splitlines() if path.exists() else []
    if "[tools]" not in lines:
        lines.append("[tools]")
    for spec in specs:
        name, _, version = spec.partition("@")
        resolved = _check_install(name, version or "latest", shipped).rsplit("@", 1)[1]
        lines = [line for line in lines if not line.startswith(f'{name} = ') and not line.startswith(f'"{name}" = ')]
        lines.insert(lines.index("[tools]") + 1, f'"{name}" = "{version or resolved}"')
        shown = str(path).replace(str(Path.home()), "~", 1)
        print(f"mise {shown} tools: {name}@{resolved}", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return 0


def cmd_doctor(args: list[str]) -> int:
    versions = _versions()
    print(f"version: {MISE_VERSION}\nactivated: no\nshims_on_path: no\n\ndirs:\n  data: {layout().root}\n\n"
          f"toolset:\n" + "".join(f"  {t}@{v}\n" for t, v in versions.items()) + "\nNo problems found")
    return 0


def handle(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("mise manages dev tools (hops lab emulation)\n\nCommands: exec, current, install, use, ls, doctor, --version")
        return 0
    if argv[0] in ("--version", "-V", "version"):
        print(MISE_VERSION)
        return 0
    commands = {"exec": cmd_exec, "x": cmd_exec, "current": cmd_current, "ls": cmd_ls, "list": cmd_ls,
                "doctor": cmd_doctor, "install": cmd_install, "i": cmd_install, "use": cmd_use, "u": cmd_use}
    command = commands.get(argv[0])
    if command is None:
        raise ToolExit(f"mise ERROR unrecognized subcommand '{argv[0]}'\nmise ERROR Run with --verbose or "
                       "MISE_VERBOSE=1 for more information", 2)
    return command(argv[1:])


def main(argv: list[str] | None = None) -> int:
    return run_tool("mise", handle, argv)


if __name__ == "__main__":
    raise SystemExit(main())
