"""Wheels of installed pure-Python distributions (trackbridge and a target's plugin), for
remote jobs that must run exactly the client's code (dev versions, no package index).

A wheel is rebuilt from what is importable here: the distribution's top-level packages
(``__pycache__`` left out) plus its installed metadata (``METADATA``, ``entry_points.txt``),
so editable installs work too. Entries are sorted and dated 1980-01-01, so the same code is
the same bytes, and its sha256 (in the wheel's folder name) says whether it was uploaded.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ProjectError

_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Wheel:
    path: Path
    filename: str
    sha256: str


def build_wheel(distribution: str, dest_dir: Path) -> Wheel:
    """Write a wheel of the installed ``distribution`` into ``dest_dir``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import distribution as find

    try:
        dist = find(distribution)
    except PackageNotFoundError:
        raise ProjectError(f"cannot build a wheel of {distribution}: it is not installed") from None
    name = dist.metadata["Name"].replace("-", "_")
    version = dist.version
    info = f"{name}-{version}.dist-info"
    files: dict[str, bytes] = {}
    for top in _top_level(dist):
        root = _package_dir(top)
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[f"{top}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    files[f"{info}/METADATA"] = (dist.read_text("METADATA") or "").encode()
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        files[f"{info}/entry_points.txt"] = entry_points.encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: trackbridge\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in sorted(files.items())]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in sorted(files.items()):
            entry = zipfile.ZipInfo(path, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    payload = buffer.getvalue()
    filename = f"{name}-{version}-py3-none-any.whl"
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / filename
    path.write_bytes(payload)
    return Wheel(path=path, filename=filename, sha256=hashlib.sha256(payload).hexdigest())


def _top_level(dist) -> list[str]:  # noqa: ANN001 - importlib.metadata.Distribution
    declared = dist.read_text("top_level.txt")
    if declared:
        return [line.strip() for line in declared.splitlines() if line.strip()]
    return [dist.metadata["Name"].replace("-", "_")]


def _package_dir(top: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise ProjectError(f"cannot build a wheel: package {top!r} is not importable here")
    return Path(list(spec.submodule_search_locations)[0])


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
