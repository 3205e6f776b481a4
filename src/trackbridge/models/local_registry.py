"""The local store's model registry (tables of schema version 3, see ``local/schema.py``).

A version references the run's artifacts (``runs:/<run id>/<path>``): the local store keeps
files content-addressed, so registering copies nothing. Versions are numbered inside the
write transaction, so concurrent registrations never get the same number.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from ..errors import ValidationError
from .errors import ModelError, ModelVersionNotFoundError
from .registry import ModelRegistry, ModelSource, ModelVersion

if TYPE_CHECKING:
    import sqlite3

    from ..local.store import LocalBackend

_COLUMNS = "name, version, source_uri, source_run_id, created_time, description, tags"


def check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip() or "/" in value or "@" in value:
        raise ValidationError(f"{what} {value!r} must be a non-empty string without '/' or '@'")
    return value


class LocalModelRegistry(ModelRegistry):
    backend_name: ClassVar[str] = "local"
    backend: LocalBackend

    def _aliases(self, conn: sqlite3.Connection, name: str) -> dict[int, tuple[str, ...]]:
        out: dict[int, list[str]] = {}
        for alias, version in conn.execute(
                "SELECT alias, version FROM model_aliases WHERE name = ? ORDER BY alias", (name,)):
            out.setdefault(version, []).append(alias)
        return {v: tuple(a) for v, a in out.items()}

    @staticmethod
    def _version(row: tuple, aliases: Mapping[int, tuple[str, ...]]) -> ModelVersion:
        return ModelVersion(name=row[0], version=row[1], source=row[2], run_id=row[3],
                            created_time=row[4], description=row[5], tags=json.loads(row[6]),
                            aliases=aliases.get(row[1], ()), status="READY")

    def create_version(self, name: str, source: ModelSource, *, description: str | None = None,
                       tags: Mapping[str, str] | None = None) -> ModelVersion:
        check_name("model name", name)
        if source.run_id is None:
            raise ModelError(f"cannot register {source.artifact_path!r}: no run given")
        manifest = self.backend.artifact_manifest(source.run_id)  # RunNotFoundError if unknown
        if f"{source.artifact_path}/MLmodel" not in manifest:
            raise ModelError(f"run {source.run_id} has no model at {source.artifact_path!r} "
                             f"(no {source.artifact_path}/MLmodel) in the {self.backend.describe()}")
        now = time.time_ns() // 1_000_000
        with self.backend.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO registered_models(name, created_time) VALUES (?, ?)",
                         (name, now))
            version = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM model_versions "
                                   "WHERE name = ?", (name,)).fetchone()[0]
            conn.execute(
                f"INSERT INTO model_versions({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, version, source.uri, source.run_id, now, description,
                 json.dumps(dict(tags or {}), sort_keys=True)))
        return ModelVersion(name, version, source.uri or "", source.run_id, now, description,
                            dict(tags or {}), (), status="READY")

    def set_alias(self, name: str, alias: str, version: int) -> None:
        check_name("alias", alias)
        if alias.isdigit() or alias.lower() == "latest":
            raise ValidationError(f"alias {alias!r} is reserved (numbers and 'latest' are not aliases)")
        with self.backend.transaction() as conn:
            found = conn.execute("SELECT 1 FROM model_versions WHERE name = ? AND version = ?",
                                 (name, int(version))).fetchone()
            if found is None:
                raise ModelVersionNotFoundError(
                    f"cannot set alias {alias!r}: model {name!r} has no version {version} in the "
                    f"{self.describe()}")
            conn.execute("INSERT OR REPLACE INTO model_aliases(name, alias, version) VALUES (?, ?, ?)",
                         (name, alias, int(version)))

    def list_versions(self, name: str) -> list[ModelVersion]:
        conn = self.backend.connection()
        rows = conn.execute(f"SELECT {_COLUMNS} FROM model_versions WHERE name = ? ORDER BY version",
                            (name,)).fetchall()
        if not rows:
            raise ModelVersionNotFoundError(f"no registered model {name!r} in the {self.describe()}")
        aliases = self._aliases(conn, name)
        return [self._version(r, aliases) for r in rows]

    def get_version(self, name: str, *, version: int | None = None,
                    alias: str | None = None) -> ModelVersion:
        conn = self.backend.connection()
        if alias is not None:
            row = conn.execute("SELECT version FROM model_aliases WHERE name = ? AND alias = ?",
                               (name, alias)).fetchone()
            if row is None:
                raise ModelVersionNotFoundError(
                    f"model {name!r} has no alias {alias!r} in the {self.describe()}")
            version = row[0]
        row = conn.execute(f"SELECT {_COLUMNS} FROM model_versions WHERE name = ? AND version = ?",
                           (name, version)).fetchone()
        if row is None:
            raise ModelVersionNotFoundError(
                f"model {name!r} has no version {version} in the {self.describe()}")
        return self._version(row, self._aliases(conn, name))

    def list_models(self) -> list[str]:
        rows = self.backend.connection().execute("SELECT name FROM registered_models ORDER BY name")
        return [name for (name,) in rows]
