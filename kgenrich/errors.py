"""Errors a user can act on.

Every error raised for bad input derives from KgenrichError; the CLI prints its
message on one line and exits non-zero instead of showing a traceback.
"""


class KgenrichError(Exception):
    """An error whose message is meant for the user."""

    exit_code = 2


class ConfigError(KgenrichError):
    """Bad settings: unknown key, conflicting store options, unreadable config file."""


class StoreError(KgenrichError):
    """The store refused or failed a request."""


class EndpointUnreachable(StoreError):
    """A remote endpoint could not be reached (after retries)."""


class TruncatedResult(StoreError):
    """A remote endpoint returned fewer rows than exist (a server-side result limit)."""


class LoadError(KgenrichError):
    """An RDF file could not be loaded; nothing of it was loaded."""


class TaskDefinitionError(KgenrichError):
    """A prediction task definition is incomplete or contradicts the ontology."""


class EmptyGraphError(KgenrichError):
    """The store holds nothing a stage could work on."""


class ModelError(KgenrichError):
    """Training or loading a model failed for a reason the user can fix."""


class ValidationFailed(KgenrichError):
    """Predictions violate the SHACL shapes; nothing was written."""

    exit_code = 3
