"""The durable doit backend: each task's record is committed as soon as doit stores it (a kill loses nothing that
finished), and removals are committed at once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from doit.dependency import JSONCodec

from hops.state.durable_db import DurableSqliteDB


def rows(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:  # another connection: sees only committed data
        return dict(conn.execute("select task_id, task_data from doit").fetchall())


def test_a_stored_value_is_committed_without_dump(tmp_path: Path) -> None:
    path = tmp_path / "doit.sqlite"
    db = DurableSqliteDB(str(path), JSONCodec())
    db.set("networking:wait", "run-once", True)
    assert '"run-once": true' in rows(path)["networking:wait"]  # before any dump(): as a SIGKILL would see it
    db.set("networking:wait", "sources-digest", "abc")
    record = rows(path)["networking:wait"]
    assert '"run-once": true' in record and '"sources-digest": "abc"' in record  # one row, the whole record


def test_remove_and_remove_all_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "doit.sqlite"
    db = DurableSqliteDB(str(path), JSONCodec())
    db.set("a:one", "run-once", True)
    db.set("a:two", "run-once", True)
    db.remove("a:one")
    assert set(rows(path)) == {"a:two"}
    db.remove_all()
    assert rows(path) == {}


def test_the_database_uses_wal_and_waits_for_a_busy_file(tmp_path: Path) -> None:
    path = tmp_path / "doit.sqlite"
    db = DurableSqliteDB(str(path), JSONCodec())
    with sqlite3.connect(path) as conn:  # WAL is a property of the file
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    row = db._conn.execute("pragma busy_timeout").fetchone()  # per connection (doit's rows are dict-like)
    assert list(dict(row).values()) == [10000]
