"""A run's artifacts: the whole tree, a preview of one file, the bytes of one file, a folder
as a zip. A path that is not a file of the run (``..``, absolute, unknown) is "not found":
the local store serves only paths listed in the run's manifest, never a filesystem path."""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path
from typing import Any

from ...artifact_tree import walk_files
from ...errors import ArtifactNotFoundError, ValidationError
from ...local.store import LocalBackend
from ...validation import check_artifact_path
from ..rendering import url_path
from ..state import UIState

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".svg": "image/svg+xml", ".webp": "image/webp", ".bmp": "image/bmp"}
TEXT_SUFFIXES = {".txt", ".log", ".json", ".yaml", ".yml", ".toml", ".md", ".py", ".cfg", ".ini",
                 ".xml", ".sh", ".out", ".err", ""}
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
HTML_SUFFIXES = {".html", ".htm"}
PREVIEW_BYTES = 256 * 1024
TABLE_ROWS = 50


def list_files(state: UIState, run_id: str) -> dict[str, int | None]:
    """Every artifact file of the run: path -> size."""
    backend = state.backend
    if isinstance(backend, LocalBackend):
        return {p: size for p, (_sha, size) in sorted(backend.artifact_manifest(run_id).items())}
    return dict(sorted((entry.path, entry.size) for entry in walk_files(backend, run_id)))


def tree(run_id: str, files: dict[str, int | None]) -> list[dict[str, Any]]:
    """Nested folders and files: ``{"name", "path", "is_dir", "size", "url", "children"}``."""
    root: dict[str, Any] = {"children": {}}
    for path, size in files.items():
        node = root
        parts = path.split("/")
        for depth, part in enumerate(parts):
            is_dir = depth < len(parts) - 1
            sub = "/".join(parts[:depth + 1])
            node = node["children"].setdefault(part, {
                "name": part, "path": sub, "is_dir": is_dir, "size": None if is_dir else size,
                "url": f"/runs/{url_path(run_id)}/artifacts/{url_path(sub)}", "children": {}})

    def listed(node: dict[str, Any]) -> list[dict[str, Any]]:
        items = sorted(node["children"].values(), key=lambda n: (not n["is_dir"], n["name"]))
        return [{**n, "children": listed(n)} for n in items]

    return listed(root)


def checked_path(run_id: str, path: str) -> str:
    """``path`` if it is a plain relative path, else ArtifactNotFoundError (a 404)."""
    try:
        clean = check_artifact_path(path)
    except ValidationError:
        clean = None
    if not clean or clean != path:
        raise ArtifactNotFoundError(f"no artifact {path!r} in run {run_id}")
    return clean


def kind_of(path: str) -> str:
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in IMAGE_TYPES:
        return "image"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in TABLE_SUFFIXES:
        return "table"
    return "text" if suffix in TEXT_SUFFIXES else "binary"


def media_type(path: str) -> str:
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in IMAGE_TYPES:
        return IMAGE_TYPES[suffix]
    if suffix in HTML_SUFFIXES:
        return "text/html; charset=utf-8"
    if kind_of(path) in ("text", "table"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def local_copy(state: UIState, run_id: str, path: str) -> tuple[Path, bool]:
    """(a local file with the artifact's bytes, whether it is a temporary copy to delete)."""
    path = checked_path(run_id, path)
    backend = state.backend
    if isinstance(backend, LocalBackend):
        found = backend.artifact_manifest(run_id).get(path)
        if found is None:
            raise ArtifactNotFoundError(f"no artifact {path!r} in run {run_id} ({state.title})")
        return backend.blobs.path_of(found[0]), False
    fd, name = tempfile.mkstemp(prefix="trackbridge-ui-", suffix=posixpath.splitext(path)[1])
    os.close(fd)
    try:
        backend.download_artifact(run_id, path, Path(name))
    except BaseException:
        os.unlink(name)
        raise
    return Path(name), True


def _head(file: Path, limit: int) -> tuple[bytes, bool]:
    with file.open("rb") as f:
        data = f.read(limit + 1)
    return data[:limit], len(data) > limit


def _looks_like_text(data: bytes, truncated: bool) -> bool:
    """UTF-8 without NUL bytes (a character cut at the end of a truncated head is fine):
    previewed as text whatever its suffix (``.jsonl``, ``.rst``, ``.cfg`` ...)."""
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return truncated and exc.start >= len(data) - 3
    return True


def preview(state: UIState, run_id: str, path: str) -> dict[str, Any]:
    """What the artifact page shows for ``path``: ``kind`` (image, html, table, text,
    binary), the ``raw_url`` of its bytes, and for text its first 256 KiB, for a table
    its first 50 rows. A file of another suffix is text when its head is UTF-8 without NUL
    bytes, else binary (no preview)."""
    files = list_files(state, run_id)
    path = checked_path(run_id, path)
    base = {"path": path, "name": posixpath.basename(path), "size": files.get(path),
            "raw_url": f"/files/{url_path(run_id)}/{url_path(path)}",
            "download_url": f"/files/{url_path(run_id)}/{url_path(path)}?download=1"}
    if path not in files:
        prefix = path + "/"
        if any(p.startswith(prefix) for p in files):
            return {**base, "kind": "folder", "size": None,
                    "zip_url": f"/zip/{url_path(run_id)}/{url_path(path)}"}
        raise ArtifactNotFoundError(f"no artifact {path!r} in run {run_id} ({state.title})")
    kind = kind_of(path)
    if kind in ("image", "html"):
        return {**base, "kind": kind}
    file, temporary = local_copy(state, run_id, path)
    try:
        data, truncated = _head(file, PREVIEW_BYTES)
    finally:
        if temporary:
            file.unlink(missing_ok=True)
    if kind in ("text", "binary") and not _looks_like_text(data, truncated):
        return {**base, "kind": "binary"}  # a known text suffix on binary bytes, or a model
    text = data.decode("utf-8", errors="replace")
    if kind == "table":
        import csv
        import io

        reader = csv.reader(io.StringIO(text), delimiter=TABLE_SUFFIXES[posixpath.splitext(path)[1]
                                                                        .lower()])
        rows = [row for _, row in zip(range(TABLE_ROWS + 1), reader)]
        return {**base, "kind": "table", "header": rows[0] if rows else [],
                "rows": rows[1:TABLE_ROWS + 1], "truncated": truncated or len(rows) > TABLE_ROWS}
    return {**base, "kind": "text", "text": text, "truncated": truncated}


def zip_folder(state: UIState, run_id: str, folder: str) -> Path:
    """A temporary zip of every file under ``folder`` ('' for all), paths relative to it."""
    folder = checked_path(run_id, folder) if folder else ""
    prefix = f"{folder}/" if folder else ""
    chosen = [p for p in list_files(state, run_id) if p.startswith(prefix)]
    if not chosen:
        raise ArtifactNotFoundError(f"no artifact folder {folder!r} in run {run_id} ({state.title})")
    import zipfile

    fd, name = tempfile.mkstemp(prefix="trackbridge-ui-", suffix=".zip")
    with open(fd, "wb") as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in chosen:
            file, temporary = local_copy(state, run_id, path)
            try:
                zf.write(file, path[len(prefix):])
            finally:
                if temporary:
                    file.unlink(missing_ok=True)
    return Path(name)
