"""``trackbridge models predict``: chunked reading of csv / parquet / json / jsonl, outputs in
json / jsonl / csv equal to the model's predictions, nothing half-written on failure."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from serving_support import churn_data, save_churn

from trackbridge.cli import cli
from trackbridge.serving import batch


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    pipeline, _, path = save_churn(tmp_path_factory.mktemp("batch") / "model")
    X, _ = churn_data(53)
    return pipeline, X, path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def write_input(X, path):
    suffix = path.suffix
    if suffix == ".csv":
        X.to_csv(path, index=False)
    elif suffix == ".parquet":
        X.to_parquet(path, row_group_size=10)
    elif suffix == ".jsonl":
        X.to_json(path, orient="records", lines=True)
    else:
        X.to_json(path, orient="records")
    return path


@pytest.mark.parametrize("source", ["in.csv", "in.parquet", "in.jsonl", "in.json"])
@pytest.mark.parametrize("target", ["out.json", "out.csv", "out.jsonl"])
def test_every_input_and_output_format(churn, tmp_path, source, target):
    pipeline, X, model = churn
    src = write_input(X, tmp_path / source)
    result = run("models", "predict", model, "-i", src, "-o", tmp_path / target,
                 "--chunk-rows", 7, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"] == 53
    chunks = json.loads(result.output)["chunks"]
    assert chunks == 8 if source != "in.parquet" else chunks >= 8  # row groups may split batches
    expected = pipeline.predict(X).tolist()
    out = tmp_path / target
    if target == "out.json":
        assert json.loads(out.read_text()) == {"predictions": expected}
    elif target == "out.csv":
        assert pd.read_csv(out)["prediction"].tolist() == expected
    else:
        assert [json.loads(line) for line in out.read_text().splitlines()] == expected


def test_a_json_array_is_streamed_across_read_blocks(churn, tmp_path, monkeypatch):
    pipeline, X, model = churn
    monkeypatch.setattr(batch, "_BLOCK", 64)  # every record straddles a block boundary
    src = write_input(X, tmp_path / "in.json")
    run("models", "predict", model, "-i", src, "-o", tmp_path / "out.json", "--chunk-rows", 5)
    assert json.loads((tmp_path / "out.json").read_text())["predictions"] == \
        pipeline.predict(X).tolist()


def test_a_split_document_is_read_whole(churn, tmp_path):
    pipeline, X, model = churn
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"dataframe_split": {"columns": list(X.columns),
                                                   "data": X.values.tolist()}}))
    result = run("models", "predict", model, "-i", src, "-o", tmp_path / "out.jsonl", "--json")
    assert json.loads(result.output)["chunks"] == 1
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 53


def test_a_schema_failure_names_the_rows_and_leaves_no_output(churn, tmp_path):
    _, X, model = churn
    broken = X.astype({"age": object})
    broken.loc[30, "age"] = "old"
    src = write_input(broken, tmp_path / "in.jsonl")
    result = CliRunner().invoke(cli, ["models", "predict", str(model), "-i", str(src), "-o",
                                      str(tmp_path / "out.csv"), "--chunk-rows", "10"])
    assert result.exit_code == 1
    assert "rows 30-39 of" in result.output and "Incompatible input types for column age" \
        in result.output
    assert list(tmp_path.iterdir()) == [src]  # no out.csv, no temp file left


def test_unknown_extensions_are_refused(churn, tmp_path):
    _, X, model = churn
    src = write_input(X, tmp_path / "in.csv")
    result = CliRunner().invoke(cli, ["models", "predict", str(model), "-i", str(src), "-o",
                                      str(tmp_path / "out.xlsx")])
    assert result.exit_code == 1 and "unsupported extension '.xlsx'" in result.output
