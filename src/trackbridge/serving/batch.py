"""Batch scoring (``trackbridge models predict``): read a file in chunks, score each chunk,
append the predictions to the output; memory is bounded by the chunk, not the file.

Inputs: ``.csv`` (pandas chunks; string columns of the signature read as strings),
``.parquet`` (pyarrow record batches), ``.jsonl`` / ``.ndjson`` (one record per line), ``.json``
(a list of records, streamed; or a ``{"columns", "data"}`` / MLflow request document, read
whole). Outputs: ``.json`` (``{"predictions": [...]}``, the scoring server's answer), ``.jsonl``
(one prediction per line) or ``.csv`` (a DataFrame's columns, else ``prediction`` /
``prediction_<i>``). The output is written to a temporary file renamed at the end: a failed
run leaves no half-written file. Every chunk goes through ``LoadedModel.predict``, so the
signature is enforced exactly as in the server.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..local.artifacts import FILE_MODE
from ..models.errors import PredictionError, SchemaEnforcementError
from .encoding import jsonable

INPUTS = (".csv", ".parquet", ".json", ".jsonl", ".ndjson")
OUTPUTS = (".json", ".jsonl", ".csv")
_BLOCK = 1 << 20


def _suffix(path: str | os.PathLike[str], allowed: tuple[str, ...], what: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise ValidationError(f"{what} {path}: unsupported extension {suffix or '(none)'!r}; "
                              f"use one of {', '.join(allowed)}")
    return suffix


# -- readers: (chunk, fraction of the input read) ---------------------------------------------
def _csv_chunks(path: Path, rows: int, schema: Any) -> Iterator[tuple[Any, float]]:
    import pandas as pd

    from .parsing import fit_numbers

    strings = {s["name"]: object for s in schema or ()
               if s.get("type") == "string" and s.get("name") is not None}
    size = max(path.stat().st_size, 1)
    with open(path, newline="") as f:
        for chunk in pd.read_csv(f, chunksize=rows, dtype=strings or None):
            yield fit_numbers(chunk, schema), f.tell() / size


def _parquet_chunks(path: Path, rows: int) -> Iterator[tuple[Any, float]]:
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    total, done = max(file.metadata.num_rows, 1), 0
    for batch in file.iter_batches(batch_size=rows):
        done += batch.num_rows
        yield batch.to_pandas(), done / total


def _jsonl_chunks(path: Path, rows: int) -> Iterator[tuple[Any, float]]:
    import pandas as pd

    size, batch = max(path.stat().st_size, 1), []
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                batch.append(json.loads(line))
            except ValueError as exc:
                raise ValidationError(f"{path} line {number} is not JSON: {exc}") from None
            if len(batch) == rows:
                yield pd.DataFrame(batch), f.tell() / size
                batch = []
    if batch:
        yield pd.DataFrame(batch), 1.0


def _json_records(path: Path) -> Iterator[Any]:
    """The records of a top-level JSON array, decoded one at a time from 1 MiB blocks."""
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as f:
        buf, pos, started = f.read(_BLOCK), 0, False
        while True:
            while pos < len(buf) and (buf[pos].isspace() or buf[pos] == "," or
                                      (not started and buf[pos] == "[")):
                started = started or buf[pos] == "["
                pos += 1
            if pos < len(buf) and buf[pos] == "]":
                return
            try:
                record, end = decoder.raw_decode(buf, pos)
            except ValueError:
                more = f.read(_BLOCK)
                if not more:
                    raise ValidationError(f"{path} is not a JSON list of records (cut short or "
                                          f"malformed near character {f.tell() - len(buf) + pos})"
                                          ) from None
                buf, pos = buf[pos:] + more, 0
                continue
            yield record, f.tell()
            pos = end


def _json_chunks(path: Path, rows: int, schema: Any) -> Iterator[tuple[Any, float]]:
    import pandas as pd

    with open(path, encoding="utf-8") as f:
        head = f.read(4096).lstrip()
    if not head.startswith("["):  # a split or MLflow request document: one chunk
        from .parsing import parse_document

        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and "data" in document and "columns" in document:
            document = {"dataframe_split": document}
        yield parse_document(document, schema).data, 1.0
        return
    size, batch = max(path.stat().st_size, 1), []
    for record, offset in _json_records(path):
        batch.append(record)
        if len(batch) == rows:
            yield pd.DataFrame(batch), offset / size
            batch = []
    if batch:
        yield pd.DataFrame(batch), 1.0


def read_chunks(path: str | os.PathLike[str], rows: int, schema: Any = None
                ) -> Iterator[tuple[Any, float]]:
    """(chunk of at most ``rows`` rows, fraction of the file read so far) for every chunk."""
    source = Path(path)
    suffix = _suffix(source, INPUTS, "input")
    if suffix == ".csv":
        return _csv_chunks(source, rows, schema)
    if suffix == ".parquet":
        return _parquet_chunks(source, rows)
    if suffix == ".json":
        return _json_chunks(source, rows, schema)
    return _jsonl_chunks(source, rows)


# -- writers ----------------------------------------------------------------------------------
class _Writer:
    def __init__(self, out: Any, suffix: str) -> None:
        self.out, self.suffix, self.first = out, suffix, True
        if suffix == ".json":
            out.write('{"predictions": [')

    def write(self, predictions: Any) -> None:
        if self.suffix == ".csv":
            _as_frame(predictions).to_csv(self.out, header=self.first, index=False)
            self.first = False
            return
        rows = jsonable(predictions)
        for row in rows if isinstance(rows, list) else [rows]:
            text = json.dumps(row)
            if self.suffix == ".jsonl":
                self.out.write(text + "\n")
            else:
                self.out.write(text if self.first else "," + text)
            self.first = False

    def close(self) -> None:
        if self.suffix == ".json":
            self.out.write("]}\n")


def _as_frame(predictions: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        return predictions
    values = np.asarray(predictions)
    if values.ndim <= 1:
        return pd.DataFrame({"prediction": values.reshape(-1)})
    flat = values.reshape(len(values), -1)
    return pd.DataFrame(flat, columns=[f"prediction_{i}" for i in range(flat.shape[1])])


def _progress(enabled: bool) -> Any:
    if not (enabled and sys.stderr.isatty()):
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("scoring"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TextColumn("{task.fields[rows]} rows"), TimeRemainingColumn(),
                    transient=True, console=_stderr_console())


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def score_file(model: Any, input_path: str | os.PathLike[str], output_path: str | os.PathLike[str],
               *, chunk_rows: int = 10_000, progress: bool = True) -> dict[str, Any]:
    """Score every row of ``input_path`` with ``model`` into ``output_path``; returns
    ``{"rows", "chunks", "input", "output"}``. A bar shows on a terminal when ``progress``."""
    target = Path(output_path)
    suffix = _suffix(target, OUTPUTS, "output")
    chunks = read_chunks(input_path, chunk_rows, model.input_schema)
    bar = _progress(progress)
    rows = count = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", newline="") as out:
            writer = _Writer(out, suffix)
            task = bar.add_task("scoring", total=1.0, rows=0) if bar else None
            if bar:
                bar.start()
            for chunk, done in chunks:
                writer.write(_predict(model, chunk, rows, input_path))
                rows, count = rows + len(chunk), count + 1
                if bar:
                    bar.update(task, completed=done, rows=rows)
            writer.close()
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        if bar:
            bar.stop()
    return {"rows": rows, "chunks": count, "input": str(input_path), "output": str(target)}


def _predict(model: Any, chunk: Any, start: int, path: Any) -> Any:
    where = f"rows {start}-{start + len(chunk) - 1} of {path}"
    try:
        return model.predict(chunk)
    except SchemaEnforcementError as exc:
        raise SchemaEnforcementError(f"{where}: {exc}") from None
    except Exception as exc:
        raise PredictionError(f"the model's predict failed on {where}: "
                              f"{type(exc).__name__}: {exc}") from exc

