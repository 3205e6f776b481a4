"""The UI's routes through Starlette's test client: every page and its JSON twin, sampled
series, artifacts (previews, raw bytes, zip, traversal), 404s, the Host check, headers."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from starlette.testclient import TestClient
from ui_support import DIP_STEP, DIP_VALUE, SPIKE_STEP, SPIKE_VALUE, XSS_NAME, build_demo

from trackbridge import registry
from trackbridge.entities import Metric, Param
from trackbridge.errors import ValidationError
from trackbridge.local.store import LocalBackend
from trackbridge.sync import SyncPlan, sync
from trackbridge.ui.app import create_app
from trackbridge.ui.routes import ROUTES

BASE = "http://127.0.0.1:5005"


class Refusing(LocalBackend):
    """A sync destination that refuses every batch."""

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        raise ValidationError("INVALID_PARAMETER_VALUE: refused by the test destination")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-api")
    data = build_demo(root / "tbruns")
    store = LocalBackend(data.root)
    copy = LocalBackend(root / "copy")  # a destination for the sync ledger
    sync(SyncPlan(store, copy, store), [store.get_run(data.parent)])
    sync(SyncPlan(store, Refusing(root / "refusing"), store), [store.get_run(data.children[1])],
         backoff=0.001)
    yield data
    registry.close_all()


@pytest.fixture(scope="module")
def client(demo):
    app = create_app(LocalBackend(demo.root), host="127.0.0.1", port=5005)
    with TestClient(app, base_url=BASE) as c:
        yield c


def ok_json(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_home_lists_experiments_with_counts(client, demo):
    data = ok_json(client, "/api/experiments")
    by_name = {e["name"]: e for e in data["experiments"]}
    assert by_name["demo"]["runs"] == 5 and by_name["demo"]["status"]["FINISHED"] == 5
    assert by_name["other"]["runs"] == 1 and by_name["demo"]["url"] == "/experiments/demo"
    assert by_name["demo"]["last_start"] >= by_name["demo"]["last_start"] > 0
    page = client.get("/")
    assert page.status_code == 200 and 'href="/experiments/demo"' in page.text


def test_runs_table_folds_children_under_their_parent(client, demo):
    data = ok_json(client, "/api/experiments/demo")
    top = [r["id"] for r in data["runs"]]
    assert set(top) == {demo.parent, demo.xss} and data["matching_runs"] == 5
    parent = next(r for r in data["runs"] if r["id"] == demo.parent)
    assert parent["child_count"] == 3 and parent["commit"] == "0123456"
    kids = ok_json(client, f"/api/experiments/demo?parent={demo.parent}&sort=name&order=asc")
    assert [r["name"] for r in kids["runs"]] == ["child-0", "child-1", "child-2"]
    assert all(r["parent_run_id"] == demo.parent for r in kids["runs"])


def test_runs_table_sorts_pages_and_picks_columns(client, demo):
    q = f"parent={demo.parent}&columns=params.lr,metrics.acc&sort=params.lr"
    desc = ok_json(client, f"/api/experiments/demo?{q}&order=desc")
    assert [r["values"]["params.lr"] for r in desc["runs"]] == ["1.0", "0.1", "0.01"]
    assert desc["columns"] == ["params.lr", "metrics.acc"]
    page = ok_json(client, f"/api/experiments/demo?{q}&order=asc&limit=2&offset=2")
    assert page["total"] == 3 and [r["values"]["params.lr"] for r in page["runs"]] == ["1.0"]
    # runs without the value sort last either way
    for order in ("asc", "desc"):
        rows = ok_json(client, f"/api/experiments/demo?sort=metrics.acc&order={order}")["runs"]
        assert rows[-1]["id"] == demo.xss
    for order in ("asc", "desc"):  # an attribute column held in a tag, and a tag
        commits = [r["commit"] for r in ok_json(
            client, f"/api/experiments/demo?sort=commit&order={order}")["runs"]]
        assert "0123456" in commits and commits == sorted(commits, reverse=order == "desc")
        rows = ok_json(client, f"/api/experiments/demo?sort=tags.team&order={order}")["runs"]
        assert [r["id"] for r in rows] == [demo.parent, demo.xss]  # no team: last either way
    assert desc["available"]["params"] == ["depth", "lr", "optimizer"]  # the experiment's keys
    html = client.get(f"/experiments/demo?{q}&order=desc").text
    assert "sort=params.lr&amp;order=asc" in html  # the active column's link flips the order


def test_filter_uses_the_core_syntax_and_reports_the_bad_token_inline(client, demo):
    data = ok_json(client, "/api/experiments/demo?filter=params.lr = '0.5'")
    assert [r["id"] for r in data["runs"]] == [demo.xss] and data["filter_error"] is None
    bad = client.get("/experiments/demo?filter=metrics.acc >> 1")
    assert bad.status_code == 200
    message = re.search(r'id="filter-error">([^<]*)<', bad.text).group(1)
    assert "bad operator &#39;&gt;&gt;&#39;" in message
    assert ok_json(client, "/api/experiments/demo?filter=metrix.acc > 1")["filter_error"].count(
        "unknown entity 'metrix'") == 1


@pytest.mark.parametrize("query, word", [
    ("sort=bogus", "sort='bogus'"), ("order=up", "order='up'"), ("limit=0", "limit=0"),
    ("limit=x", "limit='x' is not an integer"), ("columns=lr", "column 'lr'"),
    ("sort=metrics.", "sort='metrics.'"),
])
def test_bad_table_arguments_are_400_naming_them(client, query, word):
    response = client.get(f"/api/experiments/demo?{query}")
    assert response.status_code == 400 and word in response.json()["error"]


def test_runs_table_counts_the_experiments_running_runs_whatever_the_filter(tmp_path):
    store = LocalBackend(tmp_path / "tbruns")
    experiment = store.get_or_create_experiment("live").id
    done = store.create_run(experiment, run_name="done", start_time=1, tags={})
    store.log_batch(done.id, params=[Param("lr", "1")])
    store.update_run(done.id, status="FINISHED", end_time=2)
    running = store.create_run(experiment, run_name="running", start_time=3, tags={})
    with TestClient(create_app(store, host="127.0.0.1", port=5005), base_url=BASE) as client:
        hidden = ok_json(client, "/api/experiments/live?filter=params.lr = '1'")
        assert [r["name"] for r in hidden["runs"]] == ["done"] and hidden["running"] == 0
        assert hidden["experiment"]["running"] == 1
        bad = ok_json(client, "/api/experiments/live?filter=params.lr >> 1")
        assert bad["runs"] == [] and bad["experiment"]["running"] == 1
        assert ok_json(client, "/api/experiments/live?limit=1&offset=1")["experiment"]["running"] == 1
        store.update_run(running.id, status="FINISHED", end_time=4)
        assert ok_json(client, "/api/experiments/live")["experiment"]["running"] == 0
    store.close()


def test_run_page_summarises_metrics_lineage_artifacts_model_and_sync(client, demo):
    data = ok_json(client, f"/api/runs/{demo.parent}")
    assert data["run"]["name"] == "parent" and data["run"]["params"]["optimizer"] == "adam"
    assert sorted(c["id"] for c in data["children"]) == sorted(demo.children)
    metrics = {m["key"]: m for m in data["metrics"]}
    assert metrics["loss"]["count"] == 5000 and metrics["loss"]["max"] == SPIKE_VALUE
    assert metrics["loss"]["min"] == DIP_VALUE and metrics["loss"]["last_step"] == 4999
    assert metrics["odd"]["non_finite"] == 3 and metrics["odd"]["max"] == 4.0
    names = [n["name"] for n in data["artifacts"]]
    assert names[:4] == ["model", "notes", "plots", "tables"] and "report.html" in names
    [model] = data["models"]
    assert model["path"] == "model" and {f["name"] for f in model["flavors"]} == {
        "python_function", "sklearn"}
    import platform

    import sklearn

    assert {f["name"]: (f["version_of"], f["version"]) for f in model["flavors"]} == {
        "python_function": ("python", platform.python_version()),
        "sklearn": ("sklearn", sklearn.__version__)}
    page = client.get(f"/runs/{demo.parent}").text
    assert f"<code>python_function (python {platform.python_version()})</code>" in page
    assert f"<code>sklearn {sklearn.__version__}</code>" in page
    assert [c["type"] for c in model["inputs"]] == ["tensor float64 [-1, 2]"]
    assert any(r.startswith("scikit-learn==") for r in model["requirements"])
    sync_state = {s["destination"].split(" ")[-1].rsplit("/", 1)[-1]: s for s in data["sync"]}
    assert set(sync_state) == {"copy", "refusing"}
    synced = sync_state["copy"]
    assert synced["synced"] and synced["points_pending"] == 0 and synced["remote_run_id"]
    assert synced["last_error"] is None and not sync_state["refusing"]["synced"]
    child = ok_json(client, f"/api/runs/{demo.children[0]}")
    assert child["parent"]["id"] == demo.parent and child["sync"][0]["synced"] is False
    assert child["sync"][0]["points_pending"] == 4
    failed = {s["destination"].rsplit("/", 1)[-1]: s
              for s in ok_json(client, f"/api/runs/{demo.children[1]}")["sync"]}["refusing"]
    assert "refused by the test destination" in failed["last_error"] and not failed["synced"]
    assert "refused by the test destination" in client.get(f"/runs/{demo.children[1]}").text


def test_metric_series_keeps_the_spike_and_counts_non_finite(client, demo):
    data = ok_json(client, f"/api/runs/{demo.parent}/metrics/loss?max_points=100")
    assert data["sampled"] and data["total"] == 5000 and len(data["step"]) <= 100
    kept = dict(zip(data["step"], data["value"]))
    assert kept[SPIKE_STEP] == SPIKE_VALUE and kept[DIP_STEP] == DIP_VALUE
    assert len(data["min"]) == len(data["max"]) == len(data["step"])
    odd = ok_json(client, f"/api/runs/{demo.parent}/metrics/odd")
    assert odd["value"] == [1.0, "NaN", 2.0, "Infinity", 3.0, "-Infinity", 4.0]
    assert (odd["nan"], odd["pos_inf"], odd["neg_inf"], odd["sampled"]) == (1, 1, 1, False)
    assert "min" not in odd


def test_metric_series_step_range(client, demo):
    data = ok_json(client, f"/api/runs/{demo.parent}/metrics/loss?start_step=3000&end_step=3499"
                           "&max_points=2000")
    assert data["step"] == list(range(3000, 3500)) and not data["sampled"]
    assert data["value"][SPIKE_STEP - 3000] == SPIKE_VALUE and data["run_status"] == "FINISHED"


def test_metric_series_counts_every_point_of_the_key_whatever_the_range(client, demo, tmp_path):
    ranged = ok_json(client, f"/api/runs/{demo.parent}/metrics/loss?start_step=3000&end_step=3499")
    assert (ranged["total"], ranged["count"]) == (500, 5000)
    after = ok_json(client, f"/api/runs/{demo.parent}/metrics/loss?start_step=5000")
    assert (after["total"], after["count"], after["step"]) == (0, 5000, [])
    # points logged at a step already shown: the tail after it is empty, the count grows
    store = LocalBackend(tmp_path / "tbruns")
    run = store.create_run(store.get_or_create_experiment("nosteps").id, run_name="r",
                           start_time=1, tags={})
    with TestClient(create_app(store, host="127.0.0.1", port=5005), base_url=BASE) as local:
        url = f"/api/runs/{run.id}/metrics/loss"
        for n in (1, 2, 3):
            store.log_batch(run.id, [Metric("loss", 1.0 / n, 1000 + n, 0)])
            tail = ok_json(local, f"{url}?start_step=1")
            assert (tail["total"], tail["count"], tail["run_status"]) == (0, n, "RUNNING")
        assert ok_json(local, url)["value"] == [1.0, 0.5, 1 / 3]
    store.update_run(run.id, status="FINISHED", end_time=2)
    store.close()


@pytest.mark.parametrize("query, word", [
    ("max_points=7", "max_points=7"), ("max_points=20001", "max_points=20001"),
    ("start_step=9&end_step=3", "start_step=9 is after end_step=3"), ("end_step=a", "end_step='a'"),
    ("start_step=9223372036854775808", "start_step=9223372036854775808 is out of range: steps "
                                       "are 0 to 9223372036854775807"),
    ("end_step=-1", "end_step=-1 is out of range"),
])
def test_metric_series_bad_arguments(client, demo, query, word):
    response = client.get(f"/api/runs/{demo.parent}/metrics/loss?{query}")
    assert response.status_code == 400 and word in response.json()["error"]


@pytest.mark.parametrize("url, word", [
    ("/api/runs/nope", "run 'nope' not found"), ("/runs/nope", "run &#39;nope&#39; not found"),
    ("/api/experiments/nope", "experiment 'nope' not found"),
    ("/experiments/nope", "experiment &#39;nope&#39; not found"),
    ("/api/models/nope", "no registered model 'nope'"), ("/api/compare?runs=nope", "run 'nope'"),
    ("/api/nothing-here", "no page at /api/nothing-here"), ("/nothing", "no page at /nothing"),
    ("/api/experiments/demo?parent=nope", "run 'nope' not found"),
])
def test_unknown_things_are_404_naming_them(client, url, word):
    response = client.get(url)
    assert response.status_code == 404 and word in response.text


def test_unknown_metric_key_is_404_naming_it(client, demo):
    response = client.get(f"/api/runs/{demo.parent}/metrics/nope")
    assert response.status_code == 404 and "no metric 'nope'" in response.json()["error"]


def test_artifact_previews_by_kind(client, demo):
    base = f"/api/runs/{demo.parent}/artifacts"
    text = ok_json(client, f"{base}/notes/readme.txt")["preview"]
    assert text["kind"] == "text" and text["text"] == "line one\nline two\n"
    table = ok_json(client, f"{base}/tables/history.csv")["preview"]
    assert table["header"] == ["epoch", "loss"] and table["rows"][2] == ["2", "0.4"]
    assert ok_json(client, f"{base}/plots/one.png")["preview"]["kind"] == "image"
    html = ok_json(client, f"{base}/report.html")["preview"]
    assert html["kind"] == "html" and html["raw_url"] == f"/files/{demo.parent}/report.html"
    folder = ok_json(client, f"{base}/plots")["preview"]
    assert folder["kind"] == "folder" and folder["zip_url"] == f"/zip/{demo.parent}/plots"
    model = ok_json(client, f"{base}/model/model.skops")["preview"]  # a zip: no text shown
    assert model["kind"] == "binary" and "text" not in model
    mlmodel = ok_json(client, f"{base}/model/MLmodel")["preview"]  # no suffix, UTF-8: text
    assert mlmodel["kind"] == "text" and "flavors:" in mlmodel["text"]
    assert "A binary file: no preview" in client.get(
        f"/runs/{demo.parent}/artifacts/model/model.skops").text
    page = client.get(f"/runs/{demo.parent}/artifacts/report.html").text
    assert re.search(r'<iframe src="/files/[0-9a-f]+/report.html" sandbox=""', page)


@pytest.mark.parametrize("path, media", [
    ("report.html", "text/html; charset=utf-8"), ("plots/logo.svg", "image/svg+xml"),
    ("plots/one.png", "image/png"), ("notes/readme.txt", "text/plain; charset=utf-8"),
])
def test_raw_artifacts_are_sandboxed_and_not_sniffed(client, demo, path, media):
    response = client.get(f"/files/{demo.parent}/{path}")
    assert response.status_code == 200 and response.headers["content-type"] == media
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"
    download = client.get(f"/files/{demo.parent}/{path}?download=1")
    assert download.headers["content-disposition"].startswith("attachment;")


def test_folders_download_as_zip(client, demo):
    response = client.get(f"/zip/{demo.parent}/plots")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert sorted(names) == ["logo.svg", "one.png"]
    everything = zipfile.ZipFile(io.BytesIO(client.get(f"/zip/{demo.parent}").content)).namelist()
    assert "model/MLmodel" in everything and "report.html" in everything


@pytest.mark.parametrize("path", [
    "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "notes/..%2F..%2Ftrackbridge.db", "notes/%2E/readme.txt",
    "notes//readme.txt", "%2E%2E", "notes%5C..%5Creport.html", "nope.txt",
])
def test_paths_that_leave_the_run_are_404(client, demo, path):
    for url in (f"/files/{demo.parent}/{path}", f"/api/runs/{demo.parent}/artifacts/{path}",
                f"/zip/{demo.parent}/{path}"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"root:" not in response.content


def test_artifacts_of_another_run_are_not_served_through_this_one(client, demo):
    assert client.get(f"/files/{demo.xss}/report.html").status_code == 404


@pytest.mark.parametrize("host, status", [
    ("127.0.0.1:5005", 200), ("localhost:5005", 200), ("127.0.0.1", 200), ("[::1]:5005", 200),
    ("evil.example:5005", 403), ("127.0.0.1:9999", 403), ("", 403), ("127.0.0.1.nip.io:5005", 403),
])
def test_host_header_must_be_one_the_server_was_started_for(client, host, status):
    response = client.get("/api/experiments", headers={"host": host})
    assert response.status_code == status
    if status == 403:
        assert "is not one this server was started for" in response.text


def test_two_host_headers_are_a_400_whichever_comes_last(demo):
    import asyncio

    app = create_app(LocalBackend(demo.root), host="127.0.0.1", port=5005)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    for headers in ([(b"host", b"evil.example"), (b"host", b"127.0.0.1:5005")],
                    [(b"host", b"127.0.0.1:5005"), (b"host", b"evil.example")]):
        sent.clear()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": "/api/experiments", "raw_path":
                 b"/api/experiments", "query_string": b"", "root_path": "", "headers": headers,
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 5005)}
        asyncio.run(app(scope, receive, send))
        assert sent[0]["status"] == 400 and b"more than one Host header" in sent[1]["body"]


def test_extra_allowed_hosts(demo):
    app = create_app(LocalBackend(demo.root), host="0.0.0.0", port=8080, allow_hosts=["box.lan"])
    with TestClient(app, base_url="http://box.lan:8080") as c:
        assert c.get("/api/experiments").status_code == 200
        assert c.get("/api/experiments", headers={"host": "0.0.0.0:8080"}).status_code == 403


def test_pages_forbid_inline_script_and_load_only_their_own_files(client, demo):
    urls = ["/", "/experiments/demo", f"/runs/{demo.parent}", f"/runs/{demo.parent}/artifacts/report.html",
            f"/compare?runs={demo.parent},{demo.xss}", "/models", "/models/churn"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        for tag in re.findall(r"<script[^>]*>", response.text):
            assert re.search(r'src="/static/[\w/.-]+\?v=', tag), (url, tag)
        assert " style=" not in response.text and "<style" not in response.text
        assert "http://" not in response.text.replace(BASE, "") and "https://" not in response.text


def test_user_strings_are_rendered_as_text(client, demo):
    for url in ("/experiments/demo", f"/runs/{demo.xss}", f"/compare?runs={demo.xss},{demo.parent}"):
        html = client.get(url).text
        assert XSS_NAME not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_compare_flags_differences_and_lists_shared_metrics(client, demo):
    ids = [demo.parent, *demo.children[:2]]
    data = ok_json(client, f"/api/compare?runs={','.join(ids)}")
    assert [r["id"] for r in data["runs"]] == ids
    params = {p["key"]: p for p in data["params"]}
    assert params["lr"]["values"] == ["0.1", "0.01", "0.1"] and params["lr"]["differs"]
    assert params["optimizer"]["values"] == ["adam", None, None] and params["optimizer"]["differs"]
    assert data["shared_metrics"] == ["acc", "loss"]
    same = ok_json(client, f"/api/compare?run={demo.parent}&run={demo.parent}")
    assert len(same["runs"]) == 1
    assert client.get("/api/compare?runs=").status_code == 400


def test_models_pages_show_versions_aliases_and_source_runs(client, demo):
    listing = ok_json(client, "/api/models")
    assert listing["models"] == [{"name": "churn", "url": "/models/churn", "versions": 1, "latest": 1,
                                  "aliases": {"prod": 1}, "updated": listing["models"][0]["updated"]}]
    detail = ok_json(client, "/api/models/churn")
    [version] = detail["versions"]
    assert version["aliases"] == ["prod"] and version["run_url"] == f"/runs/{demo.parent}"
    assert version["source"] == f"runs:/{demo.parent}/model"


def test_no_route_changes_data(client, demo):
    for route in ROUTES:
        assert set(getattr(route, "methods", None) or {"GET", "HEAD"}) <= {"GET", "HEAD"}, route.path
    for method in ("post", "put", "patch", "delete"):
        for url in ("/", f"/api/runs/{demo.parent}", f"/files/{demo.parent}/report.html"):
            assert getattr(client, method)(url).status_code == 405


EXAMPLES = {  # one request per route: a new route without a test fails here
    "/": "/", "/api/experiments": "/api/experiments", "/experiments/{name:path}": "/experiments/demo",
    "/api/experiments/{name:path}": "/api/experiments/other", "/runs/{run_id}": "/runs/{parent}",
    "/api/runs/{run_id}": "/api/runs/{parent}",
    "/runs/{run_id}/artifacts/{path:path}": "/runs/{parent}/artifacts/notes/readme.txt",
    "/api/runs/{run_id}/artifacts/{path:path}": "/api/runs/{parent}/artifacts/model/MLmodel",
    "/api/runs/{run_id}/metrics/{key:path}": "/api/runs/{parent}/metrics/acc",
    "/files/{run_id}/{path:path}": "/files/{parent}/tables/history.csv", "/zip/{run_id}": "/zip/{parent}",
    "/zip/{run_id}/{path:path}": "/zip/{parent}/notes", "/compare": "/compare?runs={parent},{xss}",
    "/api/compare": "/api/compare?runs={parent}", "/models": "/models", "/api/models": "/api/models",
    "/models/{name:path}": "/models/churn", "/api/models/{name:path}": "/api/models/churn",
    "/static": "/static/vendor/uPlot.iife.min.js",
}


def test_every_route_answers(client, demo):
    assert {r.path for r in ROUTES} == set(EXAMPLES)
    for url in EXAMPLES.values():
        response = client.get(url.format(parent=demo.parent, xss=demo.xss))
        assert response.status_code == 200, url




def test_compare_gives_every_run_its_own_colour(tmp_path):
    from trackbridge.ui.state import PALETTE, run_color

    store = LocalBackend(tmp_path / "tbruns")
    experiment = store.get_or_create_experiment("many")
    ids: list[str] = []
    while len({run_color(i) for i in ids}) == len(ids):  # until two runs hash to one colour
        run = store.create_run(experiment.id, run_name=f"r{len(ids)}", start_time=1, tags={})
        store.update_run(run.id, status="FINISHED")
        ids.append(run.id)
    later = ids[-1]
    earlier = next(i for i in ids if run_color(i) == run_color(later))
    with TestClient(create_app(store, host="127.0.0.1", port=5005), base_url=BASE) as client:
        data = ok_json(client, f"/api/compare?runs={','.join(ids)}")
        html = client.get(f"/compare?runs={','.join(ids)}").text
    shown = {r["id"]: r["color"] for r in data["runs"]}
    assert len(set(shown.values())) == len(ids) and set(shown.values()) <= set(PALETTE)
    # a run keeps its own colour unless an earlier run of the comparison holds it
    assert all(shown[i] == run_color(i) for i in ids[:-1])
    assert shown[earlier] == run_color(earlier) and shown[later] != run_color(later)
    assert f'data-color="{shown[later]}"' in html
    store.close()


def test_nan_sorts_after_numbers_and_missing_values_last_in_either_order(tmp_path):
    import math

    import trackbridge as tb

    config = {"local": {"path": str(tmp_path / "tbruns")}}
    values = {"a": 3.0, "b": 1.0, "c": math.nan, "d": 2.0, "e": None, "f": 0.0, "g": 5.0}
    for name, value in values.items():
        with tb.start_run(experiment="nansort", run_name=name, config=config) as run:
            if value is not None:
                run.log_metric("m", value)
    with tb.start_run(experiment="elsewhere", run_name="x", config=config):
        pass
    app = create_app(LocalBackend(tmp_path / "tbruns"), host="127.0.0.1", port=5005)
    with TestClient(app, base_url=BASE) as c:
        def names(order):
            rows = ok_json(c, f"/api/experiments/nansort?sort=metrics.m&order={order}")["runs"]
            return [r["name"] for r in rows]
        assert names("asc") == ["f", "b", "d", "a", "g", "c", "e"]
        assert names("desc") == ["g", "a", "d", "b", "f", "c", "e"]
        other = ok_json(c, "/api/experiments/elsewhere")["runs"][0]["id"]
        response = c.get(f"/api/experiments/nansort?parent={other}")
        assert response.status_code == 404
        assert f"run {other} is not a run of experiment 'nansort'" in response.json()["error"]
    registry.close_all()


def test_names_and_commits_sort_as_text_even_when_they_look_like_numbers(tmp_path):
    import trackbridge as tb

    config = {"local": {"path": str(tmp_path / "tbruns")}}
    for name, commit in (("10", "0123456aa"), ("9", "0071e47bb"), ("b", "ffee000cc")):
        with tb.start_run(experiment="texts", run_name=name, config=config,
                          tags={"mlflow.source.git.commit": commit}):
            pass
    app = create_app(LocalBackend(tmp_path / "tbruns"), host="127.0.0.1", port=5005)
    with TestClient(app, base_url=BASE) as c:
        def column(sort, field):
            rows = ok_json(c, f"/api/experiments/texts?sort={sort}&order=asc")["runs"]
            return [r[field] for r in rows]
        assert column("commit", "commit") == ["0071e47", "0123456", "ffee000"]  # 0071e47 > 1e48
        assert column("name", "name") == ["10", "9", "b"]
    registry.close_all()
