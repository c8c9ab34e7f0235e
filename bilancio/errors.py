"""The errors that several layers raise, defined below all of them."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A store could not be opened or written; the message says which and why (never a secret)."""
