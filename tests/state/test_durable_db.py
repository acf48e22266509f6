"""The durable doit backend: each task's record is committed as soon as doit stores it (a kill loses nothing that
finished), and removals are committed at once."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from doit.dependency import DatabaseException, JSONCodec

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


def test_a_worker_thread_may_change_the_database_the_main_thread_opened(tmp_path: Path) -> None:
    # doit -P thread: force_phase's action forgets its steps from a worker thread (was sqlite3.ProgrammingError)
    path = tmp_path / "doit.sqlite"
    db = DurableSqliteDB(str(path), JSONCodec())
    db.set("a:one", "run-once", True)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            db.remove("a:one")
            db.set("a:two", "run-once", True)
            assert db.get("a:two", "run-once") is True and db.in_("a:two")
        except BaseException as exc:  # reported by the assertion below, in the test's thread
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert errors == [] and set(rows(path)) == {"a:two"}
    db.dump()  # doit closes it from the main thread at the end
    assert set(rows(path)) == {"a:two"}


def test_a_damaged_database_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "doit.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseException, match=r"is not an SQLite database or is damaged .*; remove it"):
        DurableSqliteDB(str(path), JSONCodec())
