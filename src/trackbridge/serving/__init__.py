"""The local scoring server (``trackbridge models serve``): MLflow's scoring protocol.

* :mod:`.parsing`: request bodies (JSON formats, CSV, parquet) -> pandas / numpy input;
  :mod:`.json_body` decodes JSON (orjson where it agrees with ``json``), :mod:`.layout` is
  the fast path of a ``dataframe_split`` body already in the signature's layout;
* :mod:`.encoding`: predictions -> ``{"predictions": ...}``;
* :mod:`.app`: the Starlette app (routes, error answers, body limit, timeout);
* :mod:`.server`: fetching and loading the model, uvicorn, workers.

Needs the ``serve`` extra (Starlette, uvicorn; uvloop and orjson speed it up); nothing here is imported
by ``import trackbridge``.
"""
