"""Figures, images, tables and dataset inputs in the local store: what is written is what MLflow
writes (file layout, table JSON, dataset digests), it reads back, and bad input fails at the
call naming what it got and what is accepted."""

from __future__ import annotations

import io
import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402

import trackbridge as tb  # noqa: E402
from trackbridge.cli import cli  # noqa: E402
from trackbridge.errors import ValidationError  # noqa: E402

SERIES = re.compile(r"images/samples~train\+step\+3\+timestamp\+(\d+)\+[0-9a-f-]{36}"
                    r"(\+compressed\.webp|\.png)$")


def read(run, path, store, tmp_path):
    return tb.download_artifacts(run.id, path, tmp_path / "dl", config=store).read_bytes()


def files(run, store, folder):
    return sorted(a.path for a in tb.list_artifacts(run.id, folder, config=store))


def test_matplotlib_figure_in_each_format(store, tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [2, 1, 3])
    with tb.start_run(config=store) as run:
        for ext in ("png", "svg", "pdf"):
            run.log_figure(fig, f"plots/line.{ext}")
    plt.close(fig)
    assert read(run, "plots/line.png", store, tmp_path).startswith(b"\x89PNG")
    assert b"<svg" in read(run, "plots/line.svg", store, tmp_path)
    assert read(run, "plots/line.pdf", store, tmp_path).startswith(b"%PDF")


def test_plotly_figure_as_html_and_png_needs_kaleido(store, tmp_path):
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="roc"))
    with tb.start_run(config=store) as run:
        tb.log_figure(fig, "plots/roc.html")
        with pytest.raises(ValidationError, match="needs kaleido"):
            run.log_figure(fig, "plots/roc.png")
    html = read(run, "plots/roc.html", store, tmp_path).decode()
    assert "plotly" in html and '"roc"' in html


@pytest.mark.parametrize(("figure", "file", "needle"), [
    ({"x": 1}, "a.png", "got a builtins.dict; it takes a matplotlib.figure.Figure or a plotly"),
    ("fig", "a.png", "got a builtins.str"),
    (None, "a.gif", "extension must be one of png, svg, pdf, jpg, jpeg"),
])
def test_bad_figure_fails_naming_type_and_accepted(store, figure, file, needle):
    if figure is None:
        figure = plt.figure()
    with tb.start_run(config=store) as run:
        with pytest.raises(ValidationError, match=re.escape(needle)):
            run.log_figure(figure, file)
    plt.close("all")


def test_image_series_uses_mlflows_layout_and_round_trips(store, tmp_path):
    pixels = np.arange(40 * 300 * 3, dtype=np.uint8).reshape(40, 300, 3)
    with tb.start_run(config=store) as run:
        run.log_image(pixels, key="samples/train", step=3, timestamp=1_700_000_000_123)
    names = files(run, store, "images")
    assert len(names) == 2 and all(SERIES.match(n) for n in names), names
    assert {SERIES.match(n).group(1) for n in names} == {"1700000000123"}
    png = next(n for n in names if n.endswith(".png"))
    back = np.asarray(Image.open(io.BytesIO(read(run, png, store, tmp_path))))
    np.testing.assert_array_equal(back, pixels)
    thumb = Image.open(io.BytesIO(read(run, png.replace(".png", "+compressed.webp"), store,
                                       tmp_path / "t")))
    assert thumb.format == "WEBP" and max(thumb.size) == 256
    assert tb.get_run(run.id, config=store).tags["mlflow.loggedImages"] == "True"


def test_static_images_from_floats_greys_and_pil(store, tmp_path):
    grey = np.linspace(0, 1, 12).reshape(3, 4)
    with tb.start_run(config=store) as run:
        tb.log_image(grey, "images/grey.png")
        run.log_image(np.zeros((5, 5, 4), dtype=np.uint8), "images/rgba.png")
        run.log_image(Image.new("RGB", (7, 3), (10, 20, 30)), "images/pil.png")
    back = np.asarray(Image.open(io.BytesIO(read(run, "images/grey.png", store, tmp_path))))
    np.testing.assert_array_equal(back, (grey * 255).round().astype(np.uint8))
    assert files(run, store, "images") == ["images/grey.png", "images/pil.png", "images/rgba.png"]


@pytest.mark.parametrize(("image", "needle"), [
    (np.zeros((4, 4, 2), dtype=np.uint8), "shape (4, 4, 2); it takes HxW"),
    (np.zeros(16, dtype=np.uint8), "shape (16,)"),
    (np.full((2, 2), 1.5), "from 1.5 to 1.5; float pixels must be in [0, 1]"),
    (np.full((2, 2), 300), "integer pixels must be in [0, 255]"),
    (np.zeros((2, 2), dtype=complex), "dtype complex128; it takes uint8"),
    ([[0, 1], [1, 0]], "got a builtins.list; it takes a numpy array"),
])
def test_bad_image_fails_naming_what_it_got(store, image, needle):
    with tb.start_run(config=store) as run:
        with pytest.raises(ValidationError, match=re.escape(needle)):
            run.log_image(image, key="x")
    assert tb.list_artifacts(run.id, config=store) == []  # nothing half-written


def test_table_json_is_mlflows_and_relogging_appends(store, tmp_path):
    with tb.start_run(config=store) as run:
        run.log_table({"text": ["a", "b"], "score": np.array([0.5, 0.25])}, "tables/preds.json")
        tb.log_table(pd.DataFrame({"text": ["c"], "score": [float("nan")], "extra": [1]}),
                     "tables/preds.json")
    body = json.loads(read(run, "tables/preds.json", store, tmp_path))
    assert body == {"columns": ["text", "score", "extra"],
                    "data": [["a", 0.5, None], ["b", 0.25, None], ["c", None, 1]]}
    frame = pd.read_json(io.StringIO(json.dumps(body)), orient="split")  # MLflow's reader
    assert list(frame["text"]) == ["a", "b", "c"]
    logged = json.loads(tb.get_run(run.id, config=store).tags["mlflow.loggedArtifacts"])
    assert logged == [{"path": "tables/preds.json", "type": "table"}]


@pytest.mark.parametrize(("data", "file", "needle"), [
    ({"a": [1, 2], "b": [1]}, "t.json", "ragged columns (lengths {'a': 2, 'b': 1})"),
    ([[1, 2]], "t.json", "got a builtins.list; it takes a dict of columns"),
    ({"a": [1]}, "t.csv", "'t.csv' must end with .json"),
])
def test_bad_table_fails_naming_what_it_got(store, data, file, needle):
    with tb.start_run(config=store) as run:
        with pytest.raises(ValidationError, match=re.escape(needle)):
            run.log_table(data, file)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=50), "n": np.arange(50), "s": ["a", "b"] * 25})


def test_datasets_match_mlflows_digest_schema_and_profile(frame):
    import mlflow.data

    ours, theirs = tb.data.from_pandas(frame, name="churn"), mlflow.data.from_pandas(frame,
                                                                                    name="churn")
    expected = theirs.to_dict()
    assert (ours.name, ours.digest) == (expected["name"], expected["digest"])
    assert json.loads(ours.schema) == json.loads(expected["schema"])
    assert json.loads(ours.profile) == json.loads(expected["profile"])
    features, targets = np.arange(12.0).reshape(4, 3), np.array([0, 1, 0, 1])
    ours, theirs = tb.data.from_numpy(features, targets=targets), \
        mlflow.data.from_numpy(features, targets=targets)
    assert ours.digest == theirs.digest
    assert json.loads(ours.profile) == json.loads(theirs.to_dict()["profile"])


def test_inputs_stored_once_and_shown_by_runs_show(store, frame, tmp_path):
    (tmp_path / "raw.csv").write_text("a,b\n1,2\n")
    with tb.start_run(config=store) as run:
        run.log_input(tb.data.from_pandas(frame, name="churn"), context="training",
                      tags={"version": "v2"})
        run.log_input(tb.data.from_pandas(frame, name="churn"))  # the same again: kept once
        tb.log_input(np.ones((3, 2)), context="eval")
        run.log_input(tmp_path / "raw.csv", context=None)
    from trackbridge.config import load_config
    from trackbridge.registry import open_backend

    inputs = open_backend(load_config(store)).get_inputs(run.id)
    assert [(i.dataset.name, i.context) for i in inputs] == \
        [("churn", "training"), ("dataset", "eval"), ("raw.csv", None)]
    assert inputs[0].tags == {"mlflow.data.context": "training", "version": "v2"}
    assert json.loads(inputs[2].dataset.source)["uri"].endswith("raw.csv")
    result = CliRunner().invoke(cli, ["runs", "show", run.id, "--json"],
                                env={"TRACKBRIDGE_CONFIG": _write(store, tmp_path)})
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)["inputs"]
    assert [(i["name"], i["digest"], i["context"]) for i in shown] == \
        [(i.dataset.name, i.dataset.digest, i.context) for i in inputs]
    text = CliRunner().invoke(cli, ["runs", "show", run.id],
                              env={"TRACKBRIDGE_CONFIG": _write(store, tmp_path)}).output
    assert "Dataset inputs" in text and inputs[0].dataset.digest in text


def _write(store, tmp_path):
    path = tmp_path / "tb.toml"
    path.write_text(f'[local]\npath = "{store["local"]["path"]}"\n')
    return str(path)


def test_log_input_of_something_else_fails_naming_it(store):
    with tb.start_run(config=store) as run:
        with pytest.raises(ValidationError, match="log_input got a builtins.dict; it takes"):
            run.log_input({"a": [1]})
