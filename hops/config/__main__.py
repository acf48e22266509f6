"""`python -m hops.config check [--root DIR] [VAR=value ...]`: validate the configuration, exit 1 on problems.

`python -m hops.config overrides` prints the override variable table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hops.config.errors import ConfigError
from hops.config.overrides import describe


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hops.config", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate bootstrap-config.yaml and talconfig.yaml")
    check.add_argument("--root", type=Path, default=Path.cwd(), help="project root (default: current folder)")
    check.add_argument("variables", nargs="*", metavar="VAR=value",
                       help="override variables, as on the doit command line (e.g. NODE_1_IP=10.0.1.10)")
    commands.add_parser("overrides", help="print the override variables and the fields they set")
    return parser.parse_args(argv)


def _cli_vars(pairs: list[str]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            return None
        out[name] = value
    return out


def check(root: Path, pairs: list[str]) -> int:
    """The `check` command: load the configuration in root with the VAR=value overrides and print the outcome;
    returns the exit status (0 OK, 1 configuration problems, 2 bad arguments)."""
    from hops.config import targets
    from hops.config.load import load_settings
    from hops.phases import PHASES
    from hops.taskmodel import Model

    targets.declare_steps(Model.of(PHASES).step_ids())  # the names hooks: and checks: may use

    cli_vars = _cli_vars(pairs)
    if cli_vars is None:
        print(f"expected VAR=value arguments, got: {' '.join(pairs)}", file=sys.stderr)
        return 2
    from hops.config.overrides import unknown_variables

    unknown = unknown_variables(n for n in cli_vars if n != "CLUSTER")  # CLUSTER= picks the cluster; a typo would be ignored, as doit would (hops.cmdline refuses it)
    if unknown:
        print("unknown override variable" + ("s" if len(unknown) > 1 else "") + ":", file=sys.stderr)
        for line in unknown:
            print(f"  {line}", file=sys.stderr)
        return 2
    try:
        settings = load_settings(root, cli_vars=cli_vars)
    except ConfigError as error:
        print(f"configuration has {len(error.problems)} problem{'s' if len(error.problems) != 1 else ''}:",
              file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    nodes = len(settings.config.network.nodes)
    print(f"configuration OK: {settings.config.cluster.name} ({nodes} node{'s' if nodes != 1 else ''})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the `check` or `overrides` command of argv (default: sys.argv[1:]); returns the exit status."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.command == "overrides":
        for variable, field, description in describe():
            print(f"{variable:<18} {field:<30} {description}")
        return 0
    return check(args.root, args.variables)


if __name__ == "__main__":
    sys.exit(main())
