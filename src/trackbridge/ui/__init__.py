"""The local web UI (``trackbridge ui``): an ASGI app on Starlette, served by uvicorn.

* ``routes.py``: every URL, top to bottom; each HTML page has a JSON twin under ``/api``.
* ``data/``: what each page shows, as plain dicts built from a backend (no HTTP in there).
* ``rendering.py``: templates and strict JSON; ``security.py``: Host check and headers.
* ``templates/``, ``static/``: Jinja2 pages and plain ES modules (uPlot vendored, no CDN).

Needs the ``ui`` extra (``pip install "trackbridge[ui]"``); nothing here is imported by
``import trackbridge``.
"""
