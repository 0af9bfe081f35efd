"""Errors the classifier raises; the CLI maps ``exit_code`` to the process exit status."""

from __future__ import annotations


class ClassifierError(Exception):
    """Base class. ``exit_code`` follows the CLI contract: 1 failure, 2 bad input."""

    exit_code = 1


class BadInput(ClassifierError):
    """Input that cannot be used (a file, a column, a row, a parameter); the message names it."""

    exit_code = 2


class NotFound(ClassifierError):
    """A model folder or version that does not exist."""

    exit_code = 2


class ModelRefused(ClassifierError):
    """A model that must not be loaded: its file changed, or it was built with other libraries."""


class NoPromotedModel(ClassifierError):
    """The registry has no promoted version yet (train one with ``--promote``)."""


BASE_ERROR = ClassifierError
