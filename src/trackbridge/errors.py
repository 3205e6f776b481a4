"""Every error trackbridge raises on purpose is a subclass of :class:`TrackbridgeError`.

Messages name the offending key or value, the limit that was broken and the backend
involved, and never contain a secret (credentials inside quoted values are masked).
"""

from __future__ import annotations


class TrackbridgeError(Exception):
    """Base class of all trackbridge errors. Its message is masked by
    :func:`trackbridge.redaction.redact` when the error is made: a value quoted in it (a URL,
    a config value, a server's answer) never carries a credential into a log or a terminal."""

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            from .redaction import redact

            args = (redact(args[0]), *args[1:])
        super().__init__(*args)


class ConfigError(TrackbridgeError):
    """The configuration is invalid (unknown key, bad value, missing file, unknown backend)."""


class ValidationError(TrackbridgeError, ValueError):
    """A key, value, step or path given to a logging call is not acceptable."""


class UnsafePathError(ValidationError):
    """A path (an artifact path listed by a backend, a link in a logged directory) would lead
    outside where it belongs; nothing was written there."""


class LimitExceededError(ValidationError):
    """A value or a run would go past a limit the backend declares."""


class ParamConflictError(ValidationError):
    """A param was logged again with a different value."""


class NotFoundError(TrackbridgeError, LookupError):
    """A run, experiment or artifact does not exist on the backend."""


class RunNotFoundError(NotFoundError):
    """No run with this id exists on the backend."""


class ArtifactNotFoundError(NotFoundError):
    """No artifact at this path exists in the run."""


class RunStateError(TrackbridgeError):
    """The run is not in a state that allows the call (ended, none active, ...)."""


class BackendError(TrackbridgeError):
    """The backend failed to do what was asked; the message says what, where and why."""


class UnsupportedOperationError(BackendError):
    """The backend does not have this optional operation (e.g. dataset inputs)."""


class StoreError(BackendError):
    """The local store could not be opened or written."""


class SyncError(TrackbridgeError):
    """A run could not be synced completely; what landed is recorded, a rerun resumes."""


class SyncBusyError(SyncError):
    """Another syncer is sending this run to this destination right now."""
