"""User-facing errors.

Every error a user can fix (bad option, missing file, malformed row) is raised as a
:class:`PeftDebiasError` subclass with a message that names the file, column or option at
fault. The CLI prints the message on one line and exits with status 2; the Python API lets
it propagate.
"""

from __future__ import annotations


class PeftDebiasError(Exception):
    """Base class of all errors caused by user input or environment."""


class DataError(PeftDebiasError):
    """A data file is missing, malformed, or lacks a required column."""


class ModelNotFoundError(PeftDebiasError):
    """A model id or folder could not be resolved."""


class ConfigError(PeftDebiasError):
    """An option or configuration value is invalid."""


class OutputExistsError(PeftDebiasError):
    """An output path exists and ``overwrite`` was not requested."""
