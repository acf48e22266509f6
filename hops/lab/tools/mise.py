"""Emulated mise: `exec -- CMD` replaces itself with CMD (so its exit code and output come through unchanged),
`current`, `ls --current`, `--version`, `doctor`. Tool versions are the configured tools.required (lab.json)."""

from __future__ import annotations

import os
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
    try:
        config = yaml.safe_load((Path.cwd() / "bootstrap-config.yaml").read_text()) or {}
    except (FileNotFoundError, yaml.YAMLError):
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


def cmd_doctor(args: list[str]) -> int:
    versions = _versions()
    print(f"version: {MISE_VERSION}\nactivated: no\nshims_on_path: no\n\ndirs:\n  data: {layout().root}\n\n"
          f"toolset:\n" + "".join(f"  {t}@{v}\n" for t, v in versions.items()) + "\nNo problems found")
    return 0


def handle(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("mise manages dev tools (hops lab emulation)\n\nCommands: exec, current, ls, doctor, --version")
        return 0
    if argv[0] in ("--version", "-V", "version"):
        print(MISE_VERSION)
        return 0
    commands = {"exec": cmd_exec, "x": cmd_exec, "current": cmd_current, "ls": cmd_ls, "list": cmd_ls,
                "doctor": cmd_doctor}
    command = commands.get(argv[0])
    if command is None:
        raise ToolExit(f"mise ERROR unrecognized subcommand '{argv[0]}'\nmise ERROR Run with --verbose or "
                       "MISE_VERBOSE=1 for more information", 2)
    return command(argv[1:])


def main(argv: list[str] | None = None) -> int:
    return run_tool("mise", handle, argv)


if __name__ == "__main__":
    raise SystemExit(main())
