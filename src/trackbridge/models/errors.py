"""Errors and warnings of the models package (all :class:`~trackbridge.errors.TrackbridgeError`)."""

from __future__ import annotations

from ..errors import NotFoundError, TrackbridgeError, ValidationError


class ModelError(TrackbridgeError):
    """A model cannot be saved or loaded (no flavor fits, a file is missing, ...)."""


class UnsafeModelError(ModelError):
    """Loading the model would run code from its files and the caller did not opt in."""


class ModelVersionNotFoundError(NotFoundError):
    """No registered model, version or alias of that name exists in the registry."""


class ModelUriError(ValidationError):
    """A model URI that is not ``runs:/<run id>/<path>``, ``models:/<name>/<version>``,
    ``models:/<name>@<alias>`` or an existing local directory."""


class SchemaEnforcementError(ModelError, ValidationError):
    """Input given to a model does not match its signature (a missing column, a type that
    cannot be converted safely, a tensor of the wrong shape or dtype)."""


class PredictionError(ModelError):
    """The model's own ``predict`` raised on input that passed the signature check."""


class UnsafeFormatWarning(UserWarning):
    """A model was saved in a format (pickle, cloudpickle) whose loading executes code."""
