"""The scoring server's fast path: a ``dataframe_split`` table whose columns are exactly the
signature's, in its order, each value of its JSON type, becomes the frame the schema check
would hand the model unchanged, built with as little pandas work as possible.

:class:`ColumnLayout` is prepared once per model. :meth:`ColumnLayout.frame` answers None for
anything else (another column order, a null, a mismatched value, an odd shape): the caller
then takes the general path, so results and every error message stay the general path's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

#: MLflow column type -> (numpy dtype, the JSON decoder's Python types it takes exactly)
DIRECT: dict[str, tuple[str, frozenset[type]]] = {
    "double": ("float64", frozenset((float, int))), "float": ("float32", frozenset((float, int))),
    "long": ("int64", frozenset((int,))), "integer": ("int32", frozenset((int,))),
    "boolean": ("bool", frozenset((bool,))), "string": ("object", frozenset((str,)))}


class ColumnLayout:
    """A column signature whose every column JSON values can be read as directly."""

    def __init__(self, names: list[str], types: list[str]) -> None:
        import numpy as np
        import pandas as pd

        self.names = names
        self.dtypes = [np.dtype(DIRECT[t][0]) for t in types]
        self.accepted = [DIRECT[t][1] for t in types]
        #: built once: pandas 3 would otherwise build a (pyarrow) string index per request
        self.index = pd.Index(names)
        same = len(set(types)) == 1 and types[0] != "string"
        #: one numeric / boolean dtype for every column: the table is read as one 2-D array
        self.uniform = self.dtypes[0] if same else None

    @classmethod
    def of(cls, schema: Sequence[Mapping[str, Any]] | None) -> ColumnLayout | None:
        """The layout of ``schema``, or None when it is not a column signature of uniquely
        named columns of the types in :data:`DIRECT`."""
        if not schema or any(not isinstance(s.get("name"), str) or s.get("type") not in DIRECT
                             for s in schema):
            return None
        names = [s["name"] for s in schema]
        if len(set(names)) != len(names):
            return None
        return cls(names, [s["type"] for s in schema])

    def frame(self, columns: Any, rows: Any) -> Any:
        """The DataFrame of a split table with exactly this layout's columns, or None."""
        import numpy as np
        import pandas as pd

        # the checks are set(map(...)) over the values: C loops, no bytecode per value
        if columns != self.names or type(rows) is not list or not rows or \
                set(map(type, rows)) != {list} or set(map(len, rows)) != {len(self.names)}:
            return None
        try:
            if self.uniform is not None:
                if not set(map(type, chain.from_iterable(rows))) <= self.accepted[0]:
                    return None
                return pd.DataFrame(np.array(rows, dtype=self.uniform), columns=self.index,
                                    copy=False)
            data = {}
            for name, dtype, accepted, values in zip(self.names, self.dtypes, self.accepted,
                                                     zip(*rows)):
                if not set(map(type, values)) <= accepted:
                    return None
                data[name] = np.array(values, dtype=dtype)
        except (OverflowError, ValueError):  # an integer wider than the column's type
            return None
        return pd.DataFrame(data, copy=False)
