"""The errors that several layers raise, defined below all of them."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A store could not be opened or written; the message says which and why (never a secret)."""


def one_line(err: object, *, first_sentence: bool = False) -> str:
    """``Type: first line`` of an exception (or the first sentence of it), for a one-line
    message; anything that is not an exception is shown as its repr."""
    if not isinstance(err, BaseException):
        return repr(err)
    lines = str(err).strip().splitlines()
    first = lines[0] if lines else ""
    if first_sentence:
        first = first.split(". ")[0].rstrip(".")
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
