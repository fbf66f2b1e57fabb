"""The records store's own errors: messages name the value and the way out."""
from __future__ import annotations


class RecordError(Exception):
    """Base class of the store's own errors; messages name the value and the way out."""


class NotFound(RecordError, LookupError):
    """No user, quiz, question or photo by that name/id."""


class AlreadyExists(RecordError):
    """A user name or photo that is already stored."""


class AlreadyAnswered(RecordError):
    """A quiz question gets one answer, never a second."""


class QuizClosed(RecordError):
    """The quiz was finished; start a new one."""


class DatabaseUnavailable(RecordError):
    """The database server did not answer (down, restarting, unreachable, or locked past
    the busy timeout). The request did not complete (a write whose commit was cut off may
    or may not have landed); the next request reconnects."""
