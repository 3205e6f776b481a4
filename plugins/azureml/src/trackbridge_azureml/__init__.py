"""Azure Machine Learning backend for trackbridge."""

from .version import __version__

__all__ = ["__version__"]
