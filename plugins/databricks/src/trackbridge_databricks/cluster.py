"""``[databricks.new_cluster]`` checked before anything is created: a typo, a missing or
mistyped field fails here, in one line, rather than at submit after the run was created.

The fields and their types are the SDK's (``compute.ClusterSpec``); on top, what the Jobs API
requires of a new cluster: ``spark_version``, exactly one of ``num_workers`` and
``autoscale``, and a ``node_type_id``, ``instance_pool_id`` or ``policy_id``.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import typing
from collections.abc import Mapping
from typing import Any

from trackbridge.projects import targetconfig as tc
from trackbridge.projects.errors import ProjectError

WHERE = "[databricks.new_cluster] of --on-config"
_SECRET_REF = re.compile(r"\{\{secrets/[^/{}]+/[^/{}]+\}\}")
_NODES = ("node_type_id", "instance_pool_id", "policy_id")


def check_new_cluster(spec: Mapping[str, Any]) -> None:
    """Raise :class:`ProjectError` naming the first field that would make the submit fail."""
    from databricks.sdk.service.compute import ClusterSpec

    hints = typing.get_type_hints(ClusterSpec)
    tc.check_keys(spec, set(hints), WHERE)
    for key, value in spec.items():
        _check_type(key, value, hints[key])
    _check_no_secrets(spec, "")
    if "spark_version" not in spec:
        raise ProjectError(f"{WHERE} needs spark_version, the Databricks Runtime of the "
                           f"cluster, e.g. spark_version = \"15.4.x-scala2.12\" (`databricks "
                           f"clusters spark-versions` lists them)")
    sizes = [k for k in ("num_workers", "autoscale") if k in spec]
    if len(sizes) != 1:
        found = "both" if sizes else "neither"
        raise ProjectError(f"{WHERE} needs exactly one of num_workers and autoscale (found "
                           f"{found}): num_workers = 2 for a fixed size (0: a single-node "
                           f"cluster) or autoscale = {{ min_workers = 1, max_workers = 4 }}")
    if "num_workers" in spec and spec["num_workers"] < 0:
        raise ProjectError(f"{WHERE} num_workers must be an int >= 0 (0: a single-node "
                           f"cluster), got {spec['num_workers']!r}")
    if "autoscale" in spec:
        _check_autoscale(spec["autoscale"])
    if not any(k in spec for k in _NODES):
        raise ProjectError(f"{WHERE} needs node_type_id (the VM type, e.g. \"Standard_DS3_v2\" "
                           f"or \"i3.xlarge\"), instance_pool_id or policy_id")


def _check_no_secrets(table: Mapping[str, Any], prefix: str) -> None:
    """A secret-named entry (``spark_env_vars.API_TOKEN``, ``docker_image.basic_auth.password``)
    must be a secret reference: the job spec is shown in the workspace and by ``--dry-run``."""
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _check_no_secrets(value, f"{name}.")
        elif isinstance(value, str) and tc.is_secret_key(str(key)) and \
                not _SECRET_REF.fullmatch(value.strip()):
            raise ProjectError(f"{WHERE} {name} must not hold a secret (the job spec is visible "
                               f"in the workspace and in --dry-run); use a secret reference, "
                               f"{name.rsplit('.', 1)[-1]} = \"{{{{secrets/<scope>/<key>}}}}\"")


def _check_autoscale(value: Mapping[str, Any]) -> None:
    tc.check_keys(value, {"min_workers", "max_workers"}, f"{WHERE} autoscale")
    bounds = [value.get(k) for k in ("min_workers", "max_workers")]
    if not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in bounds) or \
            bounds[0] > bounds[1]:
        raise ProjectError(f"{WHERE} autoscale needs min_workers and max_workers, ints with "
                           f"0 <= min_workers <= max_workers, e.g. autoscale = {{ min_workers = "
                           f"1, max_workers = 4 }}, got {dict(value)!r}")


def _check_type(key: str, value: Any, hint: Any) -> None:
    """``value`` against the SDK's type for ``key`` (Optional[...] stripped)."""
    kind = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        ok, expected = isinstance(value, bool), "true or false"
    elif kind is int:
        ok, expected = isinstance(value, int) and not isinstance(value, bool), "an int"
    elif kind is str:
        ok, expected = isinstance(value, str) and bool(value.strip()), "a non-empty string"
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        options = [m.value for m in kind]
        ok, expected = value in options, f"one of {', '.join(options)}"
    elif origin is dict:
        _check_strings_table(key, value)
        return
    elif origin is list:
        item = args[0] if args else object
        ok = isinstance(value, list) and all(
            isinstance(v, str) if item is str else isinstance(v, Mapping) for v in value)
        expected = "a list of strings" if item is str else "a list of tables"
    elif dataclasses.is_dataclass(kind):
        ok, expected = isinstance(value, Mapping), f"a table (the Jobs API's {kind.__name__})"
    else:
        return
    if not ok:
        raise ProjectError(f"{WHERE} {key} must be {expected}, got {value!r}")


def _check_strings_table(key: str, value: Any) -> None:
    """A table of strings (``spark_conf``, ``spark_env_vars``, ``custom_tags``). An entry's
    value is not shown: environment variables may hold secrets."""
    if not isinstance(value, Mapping):
        raise ProjectError(f"{WHERE} {key} must be a table of strings, e.g. {key} = "
                           f"{{ name = \"value\" }}, got {_a(value)}")
    for name, item in value.items():
        if not isinstance(item, str):
            raise ProjectError(f"{WHERE} {key}.{name} must be a string (quote it: "
                               f"\"{name}\" = \"...\"), got {_a(item)}")


def _a(value: Any) -> str:
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
