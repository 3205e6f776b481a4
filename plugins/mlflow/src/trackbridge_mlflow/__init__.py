"""trackbridge-mlflow: the ``mlflow`` backend (a tracking server over its REST API, or an
MLflow file / SQL store read in place)."""
