"""Typed errors of the backend interface; each front end translates them once (REST: status codes, MCP: text).

Every message says what happened and what to do, in words an agent can pass on.
"""
from __future__ import annotations


class BackendError(Exception):
    """Base class: an expected failure with a message for the caller."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UnknownCorpus(BackendError):
    """No published index has this name."""


class CorpusLoading(BackendError):
    """The index exists on disk but is not loaded yet; retry in a moment."""

    retry_after_s = 2


class CorpusUnavailable(BackendError):
    """The index cannot be served now (corrupted, no published version, its engine unreachable)."""


class NotFound(BackendError):
    """A chunk or document coordinate outside the corpus."""


class DenseUnavailable(BackendError):
    """Dense search asked of an index without vectors."""


class InvalidRequest(BackendError):
    """Arguments out of range or malformed."""


class Overloaded(BackendError):
    """The request ran past its time budget or the service is busy; retry after ``retry_after_s``."""

    retry_after_s = 2
