"""Projects: run ML code in a reproducible, parameterised way (``trackbridge run``).

The data path, one module each: ``spec`` reads the ``MLproject`` file, ``params`` checks the
parameters and renders the command, ``envs`` picks the interpreter (``local`` or a cached
``venv``), ``childconfig`` hands the resolved config to the child, ``process`` runs the
command in its own process group and reads its output, ``runner`` ties them to a run.

Where the command runs is a *target* (``targets``: the interface; ``local``: this machine;
platforms are plugins). The runner follows any target the same way (``follow``: output,
Ctrl-C, status and exit code) and keeps the run (``tracking``). For platforms the core packs
the project (``packing``; which files, by git's rules: ``selection``), ships a bootstrap
(``bootstrap``), lists requirements (``requirements``), builds wheels of installed code
(``wheels``), reads growing logs (``logtail``) and holds what platform targets share
(``remote``, ``targetconfig``).
PyYAML is imported here only, and only when a project is loaded.
"""

from .errors import ProjectError

__all__ = ["ProjectError"]
