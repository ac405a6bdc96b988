"""A request's time budget, checked inside the work loops, so that a request past its budget stops working.

The REST routes stop waiting at RAG_SEARCH_TIMEOUT_S and answer 503, but the worker thread cannot be killed: it
went on to the end. Seen (issue 22.4): a citation check answered 503 at 10 s and burned 29 s of CPU; three at once
burned 125 s. Now the route starts a ``Deadline`` when the request arrives and the work runs inside it
(``Deadline.run``); the loops of resolution, search and context call ``check()``, which raises ``Overloaded``
(503) once the budget is spent. Outside a deadline (scripts, tests calling the backend) ``check()`` does nothing.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, TypeVar

from app.errors import Overloaded

T = TypeVar("T")
_current: ContextVar["Deadline | None"] = ContextVar("deadline", default=None)


class Deadline:
    def __init__(self, seconds: float, what: str = "request"):
        self.seconds = seconds
        self.what = what
        self.at = time.monotonic() + seconds

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def check(self) -> None:
        if self.expired:
            raise Overloaded(f"{self.what} took longer than {self.seconds}s and was stopped; retry, or send less "
                             "(fewer citations, a lower top_k)")

    @contextmanager
    def active(self) -> Iterator["Deadline"]:
        """Make this the deadline ``check()`` reads in this thread (and in contexts copied from it)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` within this deadline: what a route hands to its worker thread."""
        with self.active():
            self.check()  # waited in the thread pool's queue past the budget: do nothing
            return fn(*args)


def check() -> None:
    """Raise ``Overloaded`` if the current request's deadline has passed."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check()
