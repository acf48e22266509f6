"""`doit list` answered from a copy of the task list kept between processes, so that listing imports no component.

Building the task list imports every component and the modules they use (~70 modules) and creates ~100 doit
tasks: most of what `doit list` costs beyond doit itself. After a full load for `doit list`, the list doit printed
from (each task's name, doc and group, in definition order) is kept together with everything that decided it;
the next `doit list` with the same inputs gets the same tasks from that copy. The inputs compared, all cheap to
read: Python, doit and this dodo file; the size and modification time of every hops module the load imported,
of the dodo file, of both configuration files (the root's and the selected cluster's), of the `clusters/` folder
and of the lab's owner file; and every HOPS_* environment variable. Any difference is a full load, which writes a
new copy.

Served: `doit list` with --all, -q, -p, --sort, --template and task names that are in the list. Not served (a full
load, as before): --status and --deps (they need each task's checks and file dependencies), command-line
variables, unknown task names (the full load answers them with a did-you-mean), any other command.

The copies live in $XDG_CACHE_HOME/hops/task-lists (~/.cache/hops/task-lists; HOPS_LIST_CACHE=<folder> elsewhere,
=0 off). They hold task names and docs only.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hops import user_cache

CACHE_ENV = "HOPS_LIST_CACHE"
KEEP = 32  # copies kept (one per project folder and environment); the oldest go when a new one is written
FORMAT = 1
ROOT_FILES = ("bootstrap-config.yaml", "talconfig.yaml", "clusters")
_PACKAGE_DIR = Path(__file__).resolve().parent
_DOIT_CONFIG_KEYS = ("backend", "dep_file", "default_tasks", "verbosity")  # what `doit list` reads of DOIT_CONFIG


def served(dodo: Path) -> dict[str, Any] | None:
    """The names dodo.py exposes when this process is a `doit list` the kept copy answers, else None."""
    found = _listing()
    if found is None:
        return None
    cmd, params, args = found
    record = _read(dodo)
    if record is None or not _known(args, record["tasks"]):
        return None
    config = record["doit_config"]
    state = Path(config["dep_file"]).parent
    state.mkdir(parents=True, exist_ok=True)  # doit opens its DB even to list
    from hops import interrupts, quietpipe

    interrupts.install(state)
    quietpipe.install(cmd, params)
    return {"DOIT_CONFIG": dict(config), "task_hops": _creator(record["tasks"])}


def keep(dodo: Path, names: Mapping[str, Any]) -> None:
    """After a full load (`names`: what dodo.py exposes): when this process is a `doit list` a copy could answer,
    keep the list doit is about to print."""
    found = _listing()
    if found is None or _folder() is None:
        return
    from hops import clusters, endpoints

    watched = tuple(endpoints.selection_files(dodo.parent, clusters.current(dodo.parent)))
    cmd = found[0]
    execute = cmd._execute
    doit_config = {k: v for k, v in names["DOIT_CONFIG"].items() if k in _DOIT_CONFIG_KEYS}

    def recording(*args: Any, **kwargs: Any) -> Any:
        tasks = [[t.name, t.doc, t.subtask_of] for t in cmd.task_list]
        _write(dodo, {"doit_config": doit_config, "tasks": tasks}, watched)
        return execute(*args, **kwargs)

    import functools

    cmd._execute = functools.wraps(execute)(recording)  # doit reads _execute's signature to pass its options


def _listing() -> tuple[Any, Any, list[str]] | None:
    """The doit command importing dodo.py, when it is a `doit list` a copy can answer."""
    from hops.doit_frame import doit_command

    found = doit_command()
    if found is None or found[0].get_name() != "list":
        return None
    params = found[1]
    if params is None or params.get("status") or params.get("list_deps"):
        return None
    from doit import doit_cmd

    if doit_cmd._CMDLINE_VARS:  # variables are checked (and may select a cluster) by the full load
        return None
    return found


def _known(args: list[str], tasks: list[list[Any]]) -> bool:
    names = {task[0] for task in tasks}
    return all(arg in names for arg in args)


def _creator(tasks: list[list[Any]]) -> Callable[[], Iterator[dict[str, Any]]]:
    """One task creator yielding every task in the kept order (doit orders creators by their source line: one
    creator keeps the full load's definition order, for `--sort definition`)."""
    groups = {task[2] for task in tasks if task[2]}

    def task_hops() -> Iterator[dict[str, Any]]:
        for name, doc, group in tasks:
            if group:
                yield {"basename": group, "name": name[len(group) + 1:], "doc": doc, "actions": None}
            elif name in groups:
                yield {"basename": name, "name": None, "doc": doc}
            else:
                yield {"basename": name, "doc": doc, "actions": None}

    return task_hops


# --- the copies ------------------------------------------------------------------------------------------------
def _folder() -> Path | None:
    return user_cache.folder(CACHE_ENV, "task-lists")


def _path(folder: Path, dodo: Path) -> Path:
    """One copy per dodo file and environment (so two clusters or a lab and a real cluster do not take turns)."""
    name = hashlib.sha256(repr((str(dodo), _environment())).encode()).hexdigest()[:32]
    return folder / f"{name}.json"


def _environment() -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in os.environ.items() if k.startswith("HOPS_"))


def _inputs(dodo: Path, files: list[str]) -> dict[str, Any]:
    import doit

    inputs = {"format": FORMAT, "python": sys.version, "executable": sys.executable, "doit": doit.__version__,
              "dodo": str(dodo), "environment": _environment(), "files": {f: user_cache.stamp(f) for f in files}}
    return json.loads(json.dumps(inputs))  # tuples as lists: compared with a copy read back from JSON


def _read(dodo: Path) -> dict[str, Any] | None:
    folder = _folder()
    if folder is None:
        return None
    try:
        record = json.loads(_path(folder, dodo).read_text())
        files = list(record["inputs"]["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if record["inputs"] == _inputs(dodo, files) else None


def _write(dodo: Path, record: dict[str, Any], watched: tuple[Path, ...]) -> None:
    """Keep a copy (best effort: one that cannot be written changes nothing but speed)."""
    folder = _folder()
    if folder is None:
        return
    files = sorted({*_hops_modules(), str(dodo), *(str(dodo.parent / name) for name in ROOT_FILES),
                    *(str(path) for path in watched)})
    record = {"inputs": _inputs(dodo, files), **record}
    user_cache.keep(folder, _path(folder, dodo).name, json.dumps(record).encode(), KEEP)


def _hops_modules() -> list[str]:
    """The files of every hops module imported so far: what the task list was built from."""
    paths = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(_PACKAGE_DIR):
            paths.append(str(Path(file).resolve()))
    return paths
