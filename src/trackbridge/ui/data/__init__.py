"""The UI's views as plain dicts (one module per page), built from a :class:`~..state.UIState`.

Each function's dict is both the template's input and the page's ``/api`` JSON twin, so a
script sees exactly what the page shows. Times are ms since the epoch, durations ms.
"""
