"""``trackbridge models serve`` over real HTTP: every request format, every error answer,
the schema rules, the body limit, pickle refusal, and workers that survive bad input."""

from __future__ import annotations

import io
import json
import subprocess

import numpy as np
import pytest
import requests
from serving_support import (
    save_churn,
    save_pickled,
    save_slow,
    save_tensor,
    serve_command,
    trackbridge_server,
)

from testsupport.servers import free_port
from trackbridge.models import load_model
from trackbridge.models.errors import SchemaEnforcementError


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    root = tmp_path_factory.mktemp("churn")
    pipeline, X, path = save_churn(root / "model")
    with trackbridge_server(path, root) as server:
        yield server, pipeline, X.head(8).reset_index(drop=True), path


@pytest.fixture(scope="module")
def tensor(tmp_path_factory):
    root = tmp_path_factory.mktemp("tensor")
    model, X, path = save_tensor(root / "model")
    with trackbridge_server(path, root, "--max-body-mb", "0.01") as server:
        yield server, model, X[:5]


def _split(X):
    return {"dataframe_split": {"columns": list(X.columns), "data": X.values.tolist()}}


def test_ping_health_and_version(churn):
    server = churn[0]
    for path in ("/ping", "/health"):
        answer = requests.get(server.url + path, timeout=10)
        assert (answer.status_code, answer.text) == (200, "\n")
    from trackbridge.version import __version__

    assert requests.get(server.url + "/version", timeout=10).text == __version__


def test_routes_methods_and_answer_types(churn):
    server, _, X, _ = churn
    ok = server.post(_split(X.head(2)))
    assert ok.headers["content-type"] == "application/json"
    assert int(ok.headers["content-length"]) == len(ok.content)
    assert requests.get(server.url + "/ping", timeout=10).headers["content-type"] == \
        "application/json"
    head = requests.head(server.url + "/ping", timeout=10)
    assert (head.status_code, head.content) == (200, b"")
    missing = requests.get(server.url + "/nope", timeout=10)
    assert (missing.status_code, missing.text) == (404, "Not Found")
    wrong = requests.get(server.url + "/invocations", timeout=10)
    assert (wrong.status_code, wrong.text, wrong.headers["allow"]) == (405, "Method Not Allowed",
                                                                        "POST")
    assert requests.post(server.url + "/ping", timeout=10).status_code == 405
    moved = requests.get(server.url + "/ping/?x=1", timeout=10, allow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"].endswith("/ping?x=1")
    unsupported = server.post("age\n1", "text/plain")
    assert unsupported.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("form", ["dataframe_split", "dataframe_records", "instances", "inputs",
                                  "inputs_records", "csv", "parquet"])
def test_every_input_format_gives_the_model_predictions(churn, form):
    server, pipeline, X, _ = churn
    records = X.to_dict(orient="records")
    if form == "csv":
        answer = server.post(X.to_csv(index=False), "text/csv")
    elif form == "parquet":
        buf = io.BytesIO()
        X.to_parquet(buf)
        answer = server.post(buf.getvalue(), "application/vnd.apache.parquet")
    else:
        body = {"dataframe_split": _split(X)["dataframe_split"], "dataframe_records": records,
                "instances": records, "inputs": X.to_dict(orient="list"),
                "inputs_records": records}[form]
        answer = server.post({form.split("_records")[0] if form == "inputs_records" else form: body})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"predictions": pipeline.predict(X).tolist()}


def test_json_with_charset_and_params(churn):
    server, pipeline, X, _ = churn
    answer = server.post({**_split(X), "params": {"threshold": 0.3}},
                         "application/json; charset=utf-8")
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == pipeline.predict(X).tolist()


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml",
                                          "application/json; charset=latin-1",
                                          "application/json; format=pandas-split"])
def test_other_content_types_are_415(churn, content_type):
    answer = churn[0].post(_split(churn[2]), content_type)
    assert answer.status_code == 415
    assert answer.headers["content-type"].startswith("text/plain")


def test_no_content_type_is_415(churn):
    answer = requests.post(churn[0].url + "/invocations", data=b"{}", timeout=10)
    assert answer.status_code == 415


@pytest.mark.parametrize("body,words", [
    ("{not json", "valid JSON"),
    ("[1, 2]", "Received a list"),
    ('"x"', "Received a str"),
    ({"dataframe_split": {"data": [[1]]}, "inputs": [1]}, "exactly one of"),
    ({"records": [{"age": 1}]}, "Received fields: ['records']"),
    ({"dataframe_split": {"data": [[50, 1, "pro"]]}, "extra": 1}, "Received fields"),
    ({"dataframe_split": [[1, 2]]}, "split format must be a dictionary"),
    ({"dataframe_split": {"columns": ["age"]}}, "must have 'data'"),
    ({"dataframe_split": {"columns": ["age", "plan"], "data": [[1, 2, 3]]}}, "not a valid dataframe"),
    ({"dataframe_records": {"age": 1}}, "must be a list of records"),
    ({"instances": [[1, 2], [3]]}, "not a valid array"),
])
def test_malformed_bodies_are_400_bad_request(churn, body, words):
    answer = churn[0].post(body)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "BAD_REQUEST"
    assert words in answer.json()["message"]


@pytest.mark.parametrize("body", [
    "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser recurses
    {"dataframe_split": {"columns": [["age"], "visits", "plan"], "data": [[1.0, 2, "pro"]]}},
    {"dataframe_split": {"columns": ["age", "age", "plan"], "data": [[1.0, 2.0, "pro"]]}},
    {"dataframe_split": {"columns": ["age", "visits", "plan"], "data": [[1.0, 10 ** 30, "pro"]]}},
    {"dataframe_split": {"columns": ["age", "visits", "plan"], "data": 5}},
    {"dataframe_records": [{"age": {"deep": [1]}, "visits": 1, "plan": "pro"}]},
    {"inputs": {"age": [[1.0], [2.0, 3.0]]}},
])
def test_hostile_bodies_are_4xx_never_500(churn, body):
    server = churn[0]
    answer = server.post(body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")
    assert requests.get(server.url + "/ping", timeout=10).status_code == 200


def test_params_must_be_an_object(churn):
    answer = churn[0].post({**_split(churn[2]), "params": [1]})
    assert answer.status_code == 400
    assert answer.json() == {"error_code": "INVALID_PARAMETER_VALUE",
                             "message": "params must be a JSON object, got list"}


def test_bad_csv_is_400(churn):
    answer = churn[0].post(b"\xff\xfe,\n", "text/csv")
    assert answer.status_code == 400 and answer.json()["error_code"] == "BAD_REQUEST"


def test_missing_column_names_it(churn):
    answer = churn[0].post({"dataframe_records": [{"age": 30.0, "plan": "pro"}]})
    assert answer.status_code == 400
    body = answer.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Model is missing inputs ['visits']" in body["message"]


@pytest.mark.parametrize("record,column,given,wanted", [
    ({"age": "old", "visits": 3, "plan": "pro"}, "age", "str", "double"),
    ({"age": 30.0, "visits": 2.5, "plan": "pro"}, "visits", "float64", "long"),
    ({"age": 30.0, "visits": 3, "plan": 7}, "plan", "int64", "string"),
])
def test_unsafe_conversions_name_the_column_and_both_types(churn, record, column, given, wanted):
    answer = churn[0].post({"dataframe_records": [record]})
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert f"Incompatible input types for column {column}. Can not safely convert {given} " \
           f"to {wanted}" in message
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_server_and_predict_give_the_same_message(churn):
    server, _, _, path = churn
    record = {"age": "old", "visits": 3, "plan": "pro"}
    with pytest.raises(SchemaEnforcementError) as raised:
        import pandas as pd

        load_model(path).predict(pd.DataFrame([record]))
    assert server.post({"dataframe_records": [record]}).json()["message"] == str(raised.value)


def test_extra_columns_are_dropped_with_a_warning(churn):
    server, pipeline, X, _ = churn
    records = [{**r, "coupon": "x"} for r in X.to_dict(orient="records")]
    answer = server.post({"dataframe_records": records})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == pipeline.predict(X).tolist()
    assert "Found extra inputs" in server.log_text() and "['coupon']" in server.log_text()


def test_safe_conversions_are_applied(churn):
    server, pipeline, X, _ = churn
    ints = X.assign(age=X["age"].round().astype(int))  # JSON integers for the double column
    answer = server.post(_split(ints))
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == pipeline.predict(ints.astype({"age": float})).tolist()


def test_a_predict_that_raises_is_400_and_the_worker_lives(churn):
    server = churn[0]
    answer = server.post({"dataframe_records": [{"age": 30.0, "visits": 3, "plan": None}]})
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "BAD_REQUEST"
    assert answer.json()["message"].startswith("Encountered an unexpected error while evaluating")
    assert requests.get(server.url + "/ping", timeout=10).status_code == 200
    assert server.post(_split(churn[2])).status_code == 200


def test_tensor_inputs_check_shape_and_cast_json_numbers(tensor):
    server, model, X = tensor
    answer = server.post({"inputs": X.tolist()})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["predictions"], model.predict(X))
    ints = np.arange(6).reshape(2, 3)
    answer = server.post({"instances": ints.tolist()})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["predictions"], model.predict(ints.astype(float)))
    wrong = server.post({"inputs": [[1.0, 2.0]]})
    assert wrong.status_code == 400
    assert wrong.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "Shape of input (1, 2) does not match expected shape (-1, 3)" in wrong.json()["message"]


def test_a_body_over_the_limit_is_413(tensor):
    server, _, _ = tensor
    big = {"inputs": [[1.0, 2.0, 3.0]] * 2000}  # ~30 KB > 0.01 MiB
    answer = server.post(big)
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED"
    assert "10485 bytes" in answer.json()["message"]

    def chunks():  # no Content-Length: the limit is counted while reading
        for _ in range(20):
            yield b" " * 1024

    streamed = requests.post(server.url + "/invocations", data=chunks(), timeout=10,
                             headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert requests.get(server.url + "/ping", timeout=10).status_code == 200


def test_a_request_past_the_timeout_is_504_without_waiting_for_predict(tmp_path):
    path = save_slow(tmp_path / "slow", seconds=60)
    with trackbridge_server(path, tmp_path, "--allow-pickle", "--timeout", "0.5") as server:
        # the client gives up long before the model would answer: the 504 must not wait for it
        answer = server.post({"inputs": [[1.0, 2.0]]})
        assert answer.status_code == 504
        assert answer.json() == {"error_code": "DEADLINE_EXCEEDED",
                                 "message": "Request processing time exceeded the limit of 0.5 s"}
        assert requests.get(server.url + "/ping", timeout=10).status_code == 200


def test_a_pickle_model_is_refused_without_allow_pickle(tmp_path):
    path = save_pickled(tmp_path / "pickled")
    done = subprocess.run(serve_command(path, free_port()), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "refusing to load model.pkl" in done.stderr and "--allow-pickle" in done.stderr
    with trackbridge_server(path, tmp_path, "--allow-pickle") as server:
        answer = server.post({"dataframe_records": [{"age": 50.0, "visits": 2, "plan": "pro"}]})
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1


def test_several_workers_serve_the_model(tmp_path):
    pipeline, X, path = save_churn(tmp_path / "model")
    with trackbridge_server(path, tmp_path, "--workers", "2") as server:
        for _ in range(6):
            answer = server.post(_split(X.head(4)))
            assert answer.json() == {"predictions": pipeline.predict(X.head(4)).tolist()}
        assert server.post(b"nope").status_code == 400


def test_serve_json_announces_the_url(tmp_path):
    _, _, path = save_tensor(tmp_path / "model")
    port = free_port()
    with subprocess.Popen(serve_command(path, port, "--json"), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            lines = []
            while not "".join(lines).rstrip().endswith("}"):
                lines.append(proc.stdout.readline())
            assert json.loads("".join(lines)) == {"model_uri": str(path),
                                                  "url": f"http://127.0.0.1:{port}", "workers": 1}
        finally:
            proc.terminate()
            proc.wait(timeout=20)
