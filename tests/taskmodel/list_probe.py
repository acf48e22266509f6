"""`python -m tests.taskmodel.list_probe <doit args>`: doit as `python -m doit` runs it, then one line on stderr
saying whether any component module was imported (the fork server's interpreter has imported none of hops)."""

import runpy
import sys

if __name__ == "__main__":
    sys.argv[0] = "doit"
    try:
        runpy.run_module("doit", run_name="__main__", alter_sys=True)
    finally:
        loaded = any(name.startswith("hops.components") for name in sys.modules)
        print(f"COMPONENTS-IMPORTED={loaded}", file=sys.stderr)
