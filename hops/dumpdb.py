"""`doit dumpdb`: print doit's record of every task from hops's own DB.

doit's built-in dumpdb reads only dbm files at `--db-file` (default `.doit.db`), so with hops (the
`hops-sqlite` backend, the DB at `.bootstrap-state/doit.sqlite` or the selected cluster's folder, set by
DOIT_CONFIG) it found nothing to read. This one loads the dodo like `doit run` (same backend, same file, same
CLUSTER=) and prints each task's record — what doit decides up-to-dateness with: `run-once`, the sources'
digest, checked files — one task per line, `TASK -> {...}`, by task name; `--json` prints one object.
Read-only."""

from __future__ import annotations

import json
import pprint
from typing import Any

from doit.cmd_base import DoitCmdBase

JSON_OPTION = {"name": "as_json", "long": "json", "type": bool, "default": False,
               "help": "print every task's record as one JSON object"}


class DumpDB(DoitCmdBase):
    """doit command `dumpdb` for hops's DB (see the module docstring)."""

    name = "dumpdb"
    doc_purpose = "print doit's stored record of every task (hops's DB, read-only)"
    doc_usage = ""
    doc_description = __doc__
    cmd_options = (JSON_OPTION,)

    def _execute(self, as_json: bool = False) -> int:
        records = stored_records(self.dep_manager.backend)
        if as_json:
            self.outstream.write(json.dumps(records, indent=1, sort_keys=True) + "\n")
        else:
            for task, record in records.items():
                self.outstream.write(f"{task} -> {pprint.pformat(record, indent=4, width=100)}\n")
        return 0


def stored_records(backend: Any) -> dict[str, dict]:
    """{task name: its record} from a doit DB backend: hops's SQLite (and doit's), or the in-memory dict of
    doit's json/dbm backends."""
    conn = getattr(backend, "_conn", None)
    if conn is not None:  # SqliteDB: committed rows, plus what this process has not written yet
        rows = {row["task_id"]: row["task_data"] for row in conn.execute("select task_id, task_data from doit")}
        return dict(sorted({**rows, **backend._cache}.items()))
    return dict(sorted(getattr(backend, "_db", {}).items()))
