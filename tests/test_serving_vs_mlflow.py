"""Side by side with ``mlflow models serve --env-manager local`` on the same model directory:
the same requests get the same status codes and the same predictions."""

from __future__ import annotations

import io

import numpy as np
import pytest
from serving_support import mlflow_scoring_server, save_churn, save_tensor, trackbridge_server


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    root = tmp_path_factory.mktemp("side-by-side")
    _, X, churn = save_churn(root / "churn")
    _, T, tensor = save_tensor(root / "tensor")
    with trackbridge_server(churn, root) as tb_churn, mlflow_scoring_server(churn, root) as ml_churn, \
            trackbridge_server(tensor, root) as tb_tensor, \
            mlflow_scoring_server(tensor, root) as ml_tensor:
        yield {"churn": (tb_churn, ml_churn), "tensor": (tb_tensor, ml_tensor)}, X.head(6), T[:4]


def churn_requests(X):
    records = X.to_dict(orient="records")
    parquet = io.BytesIO()
    X.to_parquet(parquet)
    return {
        "split": ({"dataframe_split": {"columns": list(X.columns), "data": X.values.tolist()}},
                  "application/json"),
        "records": ({"dataframe_records": records}, "application/json"),
        "instances": ({"instances": records}, "application/json"),
        "inputs": ({"inputs": X.to_dict(orient="list")}, "application/json"),
        "csv": (X.to_csv(index=False), "text/csv"),
        "parquet": (parquet.getvalue(), "application/vnd.apache.parquet"),
        "charset": ({"dataframe_records": records}, "application/json; charset=UTF-8"),
        "extra column": ({"dataframe_records": [{**r, "coupon": 1} for r in records]},
                         "application/json"),
        "int for double": ({"dataframe_records": [{**records[0], "age": 40}]}, "application/json"),
        "not json": ("{oops", "application/json"),
        "a list": ("[1, 2]", "application/json"),
        "two formats": ({"dataframe_records": records, "inputs": [1]}, "application/json"),
        "no format": ({"params": {}}, "application/json"),
        "missing column": ({"dataframe_records": [{"age": 1.0, "plan": "pro"}]},
                           "application/json"),
        "string for double": ({"dataframe_records": [{**records[0], "age": "old"}]},
                              "application/json"),
        "unknown category": ({"dataframe_records": [{**records[0], "plan": "gold"}]},
                             "application/json"),
        "text/plain": ("age\n1", "text/plain"),
        "latin-1": ({"dataframe_records": records}, "application/json; charset=latin-1"),
    }


def tensor_requests(T):
    return {
        "inputs": ({"inputs": T.tolist()}, "application/json"),
        "instances": ({"instances": T.tolist()}, "application/json"),
        "integers": ({"inputs": np.arange(6).reshape(2, 3).tolist()}, "application/json"),
        "split": ({"dataframe_split": {"data": T.tolist()}}, "application/json"),
        "wrong width": ({"inputs": [[1.0, 2.0]]}, "application/json"),
        "ragged": ({"inputs": [[1.0, 2.0, 3.0], [1.0]]}, "application/json"),
    }


def compare(pair, body, content_type):
    ours, theirs = (server.post(body, content_type) for server in pair)
    assert ours.status_code == theirs.status_code, (ours.text, theirs.text)
    if theirs.status_code == 200:
        np.testing.assert_allclose(np.asarray(ours.json()["predictions"], dtype=float),
                                   np.asarray(theirs.json()["predictions"], dtype=float))
    elif theirs.status_code == 400:
        assert ours.json()["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")
        assert set(ours.json()) == {"error_code", "message"}
    return ours.status_code


@pytest.mark.parametrize("case", list(churn_requests(__import__("pandas").DataFrame(
    {"age": [1.0], "visits": [1], "plan": ["pro"]}))))
def test_churn_requests_answer_like_mlflow(servers, case):
    pairs, X, _ = servers
    body, content_type = churn_requests(X)[case]
    status = compare(pairs["churn"], body, content_type)
    expected = {"not json": 400, "a list": 400, "two formats": 400, "no format": 400,
                "missing column": 400, "string for double": 400, "unknown category": 400,
                "text/plain": 415, "latin-1": 415}
    assert status == expected.get(case, 200)


@pytest.mark.parametrize("case", ["inputs", "instances", "integers", "split", "wrong width",
                                  "ragged"])
def test_tensor_requests_answer_like_mlflow(servers, case):
    pairs, _, T = servers
    body, content_type = tensor_requests(T)[case]
    status = compare(pairs["tensor"], body, content_type)
    assert status == (400 if case in ("wrong width", "ragged") else 200)
