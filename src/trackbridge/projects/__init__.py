"""Projects: run ML code in a reproducible, parameterised way (``trackbridge run``).

The data path, one module each: ``spec`` reads the ``MLproject`` file, ``params`` checks the
parameters and renders the command, ``envs`` picks the interpreter (``local`` or a cached
``venv``), ``childconfig`` hands the resolved config to the child, ``process`` runs the
command in its own process group and tees its output, ``runner`` ties them to a run.
PyYAML is imported here only, and only when a project is loaded.
"""

from .errors import ProjectError

__all__ = ["ProjectError"]
