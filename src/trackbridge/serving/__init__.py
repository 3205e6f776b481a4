"""The local scoring server (``trackbridge models serve``): MLflow's scoring protocol.

* :mod:`.parsing`: request bodies (JSON formats, CSV, parquet) -> pandas / numpy input;
* :mod:`.encoding`: predictions -> ``{"predictions": ...}``;
* :mod:`.app`: the Starlette app (routes, error answers, body limit, timeout);
* :mod:`.server`: fetching and loading the model, uvicorn, workers.

Needs the ``serve`` extra (Starlette, uvicorn); nothing here is imported by ``import trackbridge``.
"""
