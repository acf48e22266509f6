"""A doit dependency backend that survives hard kills.

doit keeps its DB in memory and writes it once, when a run ends, so SIGKILL or SIGTERM lose the record of every
task finished in that run. This backend (registered as the doit backend "hops-sqlite" through an entry point)
writes each task's record through to SQLite as soon as doit stores it, so a kill loses at most the step in flight.

PyPI's doit-sqlite-sync has the same idea but does not start with doit 0.37 (its constructor lacks the
`module_name` keyword doit now passes) and commits a partial record per field; here one task's record is one row.
"""

from __future__ import annotations

import sqlite3

from doit.dependency import SqliteDB


class DurableSqliteDB(SqliteDB):
    """doit's SqliteDB, but every change to a task's record is committed at once (WAL, one row per task)."""

    desc = "SQLite, committed per task (survives kill -9)"

    def _sqlite3(self, name: str) -> sqlite3.Connection:
        conn: sqlite3.Connection = super()._sqlite3(name)
        conn.execute("pragma busy_timeout = 10000")  # nested doit runs (force_phase) share the file
        conn.execute("pragma journal_mode = wal")
        conn.execute("pragma synchronous = normal")
        return conn

    def set(self, task_id: str, dependency: str, value: object) -> None:
        super().set(task_id, dependency, value)
        self._write(task_id)

    def remove(self, task_id: str) -> None:
        super().remove(task_id)
        self._conn.commit()

    def remove_all(self) -> None:
        super().remove_all()
        self._conn.commit()

    def _write(self, task_id: str) -> None:
        # The whole record in one statement: a kill between two fields never leaves a half-written row.
        self._conn.execute(
            "insert or replace into doit values (?,?)", (task_id, self.codec.encode(self._cache[task_id]))
        )
        self._conn.commit()
        self._dirty.discard(task_id)
