"""The local store's SQLite schema and its forward migrations.

``PRAGMA user_version`` holds the number of migrations applied. Migrations only ever go
forward; a store written by a newer trackbridge is refused rather than damaged.
"""

from __future__ import annotations

import sqlite3

from ..errors import StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE experiments (
        experiment_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_time INTEGER NOT NULL
    );
    CREATE TABLE runs (
        run_pk INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
        name TEXT,
        status TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        end_time INTEGER,
        parent_run_id TEXT,
        host TEXT,
        pid INTEGER,
        pid_started TEXT
    );
    CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time);
    CREATE TABLE params (
        run_pk INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (run_pk, key)
    ) WITHOUT ROWID;
    CREATE TABLE tags (
        run_pk INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (run_pk, key)
    ) WITHOUT ROWID;
    -- seq orders every point ever written: sync uses it as its high-water mark.
    -- value NULL stands for NaN (SQLite stores NaN as NULL anyway).
    CREATE TABLE metrics (
        seq INTEGER PRIMARY KEY,
        run_pk INTEGER NOT NULL,
        key TEXT NOT NULL,
        value REAL,
        timestamp INTEGER NOT NULL,
        step INTEGER NOT NULL
    );
    CREATE INDEX metrics_by_run_key ON metrics(run_pk, key);
    CREATE TABLE latest_metrics (
        run_pk INTEGER NOT NULL, key TEXT NOT NULL, value REAL,
        timestamp INTEGER NOT NULL, step INTEGER NOT NULL,
        PRIMARY KEY (run_pk, key)
    ) WITHOUT ROWID;
    CREATE TABLE artifacts (
        run_pk INTEGER NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
        PRIMARY KEY (run_pk, path)
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, where: str) -> None:
    """Bring the schema up to :data:`SCHEMA_VERSION` (safe when several processes race)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the local store at {where} has schema version {version}, newer than this "
            f"trackbridge understands ({SCHEMA_VERSION}); upgrade trackbridge"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # re-read under the lock
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
