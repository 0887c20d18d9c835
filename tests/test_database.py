"""fenta.db is opened by many processes and threads at once: a new file must open for all of them."""

from __future__ import annotations

import threading

from fenta.database import open_database


def _open_at_once(path, start: threading.Barrier, errors: list[BaseException]) -> None:
    start.wait()
    try:
        db = open_database(
            path,
            "the test database",
            ensure=lambda conn: conn.execute("CREATE TABLE IF NOT EXISTS t (x)"),
        )
        db.conn.close()
    except BaseException as e:  # noqa: BLE001 - collected and shown below
        errors.append(e)


def test_a_new_database_opened_by_many_threads_at_once_opens_for_every_one(tmp_path):
    # Switching a new file to WAL needs it to itself; SQLite does not wait for that (no busy timeout).
    for attempt in range(80):  # the race is at creation: a fresh file each time
        path = tmp_path / f"new{attempt}" / "fenta.db"
        start = threading.Barrier(8)
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_open_at_once, args=(path, start, errors)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


def test_the_database_is_in_wal_mode_with_foreign_keys_on(tmp_path):
    db = open_database(tmp_path / "fenta.db", "the test database")
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_prefix_pattern_takes_like_wildcards_and_backslashes_literally(tmp_path):
    from fenta.database import PREFIX_MATCH, prefix_pattern

    def table(conn):
        return conn.execute("CREATE TABLE t (id TEXT)")

    db = open_database(tmp_path / "t.db", "the test", ensure=table)
    try:
        db.conn.executemany("INSERT INTO t VALUES (?)", [("abc",), ("a_c",), ("a%c",), ("a\\c",)])

        def found(prefix: str) -> list[str]:
            query = f"SELECT id FROM t WHERE id {PREFIX_MATCH}"
            return sorted(r[0] for r in db.conn.execute(query, [prefix_pattern(prefix)]))

        assert found("%") == [] and found("a_") == ["a_c"] and found("a%") == ["a%c"]
        assert found("a\\") == ["a\\c"]
        assert found("a") == found("") == ["a%c", "a\\c", "a_c", "abc"]
    finally:
        db.conn.close()
