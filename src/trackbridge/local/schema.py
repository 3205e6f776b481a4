"""The local store's SQLite schema and its forward migrations.

``PRAGMA user_version`` holds the number of migrations applied. Migrations only ever go
forward; a store written by a newer trackbridge is refused rather than damaged.
"""

from __future__ import annotations

import sqlite3

from ..errors import StoreError

#: One script per schema version. Statements are separated by ";" at the end of a line.
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
    -- metric points, one row per flushed chunk (see local/columns.py), chunk_id orders
    -- the chunks of a store: sync uses it as its high-water mark
    CREATE TABLE metric_chunks (
        chunk_id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_pk INTEGER NOT NULL,
        n INTEGER NOT NULL,
        keys TEXT NOT NULL,
        key_index BLOB,
        vals BLOB NOT NULL,
        timestamps BLOB NOT NULL,
        steps BLOB NOT NULL
    );
    CREATE INDEX metric_chunks_by_run ON metric_chunks(run_pk, chunk_id);
    CREATE TABLE metric_chunk_keys (
        run_pk INTEGER NOT NULL, key TEXT NOT NULL, chunk_id INTEGER NOT NULL,
        PRIMARY KEY (run_pk, key, chunk_id)
    ) WITHOUT ROWID;
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
    # 2: the sync ledger, per (source run, destination); see trackbridge/sync/ledger.py
    """
    CREATE TABLE sync_runs (
        source_run_id TEXT NOT NULL,
        destination TEXT NOT NULL,
        remote_run_id TEXT NOT NULL,
        metric_cursor TEXT NOT NULL,
        in_doubt INTEGER NOT NULL DEFAULT 0,
        status TEXT,
        end_time INTEGER,
        updated_time INTEGER NOT NULL,
        PRIMARY KEY (source_run_id, destination)
    ) WITHOUT ROWID;
    CREATE TABLE sync_params (
        source_run_id TEXT NOT NULL, destination TEXT NOT NULL, key TEXT NOT NULL,
        PRIMARY KEY (source_run_id, destination, key)
    ) WITHOUT ROWID;
    CREATE TABLE sync_tags (
        source_run_id TEXT NOT NULL, destination TEXT NOT NULL, key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (source_run_id, destination, key)
    ) WITHOUT ROWID;
    CREATE TABLE sync_artifacts (
        source_run_id TEXT NOT NULL, destination TEXT NOT NULL, path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (source_run_id, destination, path)
    ) WITHOUT ROWID;
    -- who is syncing a run to a destination right now (one syncer at a time)
    CREATE TABLE sync_leases (
        source_run_id TEXT NOT NULL, destination TEXT NOT NULL, owner TEXT NOT NULL,
        host TEXT NOT NULL, pid INTEGER NOT NULL, pid_started TEXT, expires INTEGER NOT NULL,
        PRIMARY KEY (source_run_id, destination)
    ) WITHOUT ROWID;
    """,
    # 3: the model registry; see trackbridge/models/local_registry.py
    """
    CREATE TABLE registered_models (
        name TEXT PRIMARY KEY,
        created_time INTEGER NOT NULL,
        description TEXT
    ) WITHOUT ROWID;
    CREATE TABLE model_versions (
        name TEXT NOT NULL REFERENCES registered_models(name),
        version INTEGER NOT NULL,
        source_uri TEXT NOT NULL,
        source_run_id TEXT,
        created_time INTEGER NOT NULL,
        description TEXT,
        tags TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE TABLE model_aliases (
        name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
        PRIMARY KEY (name, alias)
    ) WITHOUT ROWID;
    """,
    # 4: how a chunk stores its timestamps (local/columns.py): 0 int64 ms, 1 float64 ms
    """
    ALTER TABLE metric_chunks ADD COLUMN layout INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: the last error of a sync per (source run, destination), cleared by a pass that ends
    # well; see trackbridge/sync/ledger.py (shown by `trackbridge status` and the UI)
    """
    CREATE TABLE sync_errors (
        source_run_id TEXT NOT NULL, destination TEXT NOT NULL, message TEXT NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (source_run_id, destination)
    ) WITHOUT ROWID;
    """,
    # 6: dataset inputs of runs (MLflow's log-inputs) and what sync acknowledged of them
    """
    CREATE TABLE run_inputs (
        input_id INTEGER PRIMARY KEY,
        run_pk INTEGER NOT NULL,
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        context TEXT NOT NULL,
        source_type TEXT NOT NULL,
        source TEXT NOT NULL,
        schema TEXT,
        profile TEXT,
        tags TEXT NOT NULL,
        UNIQUE (run_pk, name, digest, context)
    );
    CREATE TABLE sync_inputs (
        source_run_id TEXT NOT NULL, destination TEXT NOT NULL, name TEXT NOT NULL,
        digest TEXT NOT NULL, context TEXT NOT NULL,
        PRIMARY KEY (source_run_id, destination, name, digest, context)
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
            for statement in MIGRATIONS[number].split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
