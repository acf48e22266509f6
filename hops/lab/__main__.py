"""python -m hops.lab up|down|status|reset|fault add SPEC|fault clear|fault show|calls [TOOL]"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hops.lab import faults, lifecycle
from hops.lab.layout import LabLayout
from hops.lab.summary import summary
from hops.lab.tools.common import read_calls

USAGE = __doc__.strip()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    layout = LabLayout.from_env()
    command = args[0] if args else ""
    try:
        if command == "up":
            info = lifecycle.up(layout, Path.cwd())
            print(f"lab up: api {info['api_url']} (pid {info['pid']}); tools in {layout.bin_dir}")
        elif command == "down":
            print("lab stopped; state kept" if lifecycle.down(layout) else "lab was not running")
        elif command == "status":
            print("\n".join(summary(lifecycle.status(layout))))
        elif command == "reset":
            lifecycle.reset(layout)
            print(f"lab reset: {layout.root} emptied")
        elif command == "fault":
            return faults.main(args[1:])
        elif command == "calls":
            for call in read_calls(layout, args[1] if len(args) > 1 else None):
                print(json.dumps(call))
        else:
            print(USAGE, file=sys.stderr)
            return 0 if command in ("-h", "--help") else 2
    except lifecycle.LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
