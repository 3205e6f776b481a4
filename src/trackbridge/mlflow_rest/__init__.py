"""The MLflow REST API, written once for every backend that speaks it.

Databricks, any open-source MLflow tracking server, and (for its tracking calls) Azure ML
speak the same API. This package holds what they share, with no HTTP client of its own:

* :mod:`.convert`: trackbridge entities <-> the API's JSON (NaN/inf, DBL_MAX, tags);
* :mod:`.errors`: an error answer (HTTP status, ``error_code``, message) -> a trackbridge error;
* :mod:`.limits`: the open-source server's validation limits;
* :mod:`.tracking`: the tracking operations (experiments, runs, log-batch, history, search
  pagination) over a ``send`` callable that each plugin implements with its own client.

Nothing here imports ``requests`` or an SDK: plugins bring the transport.
"""
