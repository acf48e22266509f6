"""A doit dependency backend that survives hard kills.

doit keeps its DB in memory and writes it once, when a run ends, so SIGKILL or SIGTERM lose the record of every
task finished in that run. This backend (registered as the doit backend "hops-sqlite" through an entry point)
writes each task's record through to SQLite as soon as doit stores it, so a kill loses at most the step in flight.

PyPI's doit-sqlite-sync has the same idea but does not start with doit 0.37 (its constructor lacks the
`module_name` keyword doit now passes) and commits a partial record per field; here one task's record is one row.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from doit.dependency import DatabaseException, SqliteDB

_TABLE = "create table if not exists doit (task_id text not null primary key, task_data json)"


class DurableSqliteDB(SqliteDB):
    """doit's SqliteDB, but every change to a task's record is committed at once (WAL, one row per task).

    With `-P thread` an action runs in a worker thread and may change the DB itself (force_phase forgets its
    phase's steps): the one connection is shared between threads, each use under one lock."""

    desc = "SQLite, committed per task (survives kill -9)"

    def _sqlite3(self, name: str) -> sqlite3.Connection:
        self._lock = threading.RLock()
        sqlite3.register_adapter(list, self.codec.encode)
        sqlite3.register_adapter(dict, self.codec.encode)
        sqlite3.register_converter("json", lambda data: self.codec.decode(data.decode("utf-8")))
        conn = sqlite3.connect(name, detect_types=sqlite3.PARSE_DECLTYPES | sqlite3.PARSE_COLNAMES,
                               isolation_level="DEFERRED", check_same_thread=False)
        conn.row_factory = lambda cursor, row: {col[0]: row[i] for i, col in enumerate(cursor.description)}
        try:
            conn.execute(_TABLE)
        except sqlite3.DatabaseError as exc:
            raise DatabaseException(f"the doit DB {name} is not an SQLite database or is damaged ({exc}); "
                                    "remove it (every step then runs its live checks again)") from None
        conn.execute("pragma busy_timeout = 10000")  # nested doit runs (force_phase) share the file
        conn.execute("pragma journal_mode = wal")
        conn.execute("pragma synchronous = normal")
        return conn

    def get(self, task_id: str, dependency: str) -> Any:
        with self._lock:
            return super().get(task_id, dependency)

    def in_(self, task_id: str) -> bool:
        with self._lock:
            return bool(super().in_(task_id))

    def dump(self) -> None:
        with self._lock:
            super().dump()

    def set(self, task_id: str, dependency: str, value: object) -> None:
        with self._lock:
            super().set(task_id, dependency, value)
            self._write(task_id)

    def remove(self, task_id: str) -> None:
        with self._lock:
            super().remove(task_id)
            self._conn.commit()

    def remove_all(self) -> None:
        with self._lock:
            super().remove_all()
            self._conn.commit()

    def _write(self, task_id: str) -> None:
        # The whole record in one statement: a kill between two fields never leaves a half-written row.
        self._conn.execute(
            "insert or replace into doit values (?,?)", (task_id, self.codec.encode(self._cache[task_id]))
        )
        self._conn.commit()
        self._dirty.discard(task_id)
