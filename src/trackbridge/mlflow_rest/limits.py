"""What an open-source MLflow tracking server accepts (``mlflow/utils/validation.py``, 3.x)."""

from __future__ import annotations

from ..entities import Limits

#: One log-batch: 1000 metrics, 100 params, 100 tags, 1000 entities in all, 1 MB of JSON.
#: Keys 250 characters, param values 6000, tag values 8000. No per-run totals.
MLFLOW_LIMITS = Limits(
    max_metrics_per_batch=1000,
    max_params_per_batch=100,
    max_tags_per_batch=100,
    max_entities_per_batch=1000,
    max_batch_bytes=1_000_000,
    max_metric_key_length=250,
    max_param_key_length=250,
    max_tag_key_length=250,
    max_param_value_length=6000,
    max_tag_value_length=8000,
)
#: The API's path prefix (tracking, registry); the artifact proxy has its own.
API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts"
