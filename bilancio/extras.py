"""Optional parts of bilancio (the ``postgres``, ``cloud`` and ``report`` extras): a clear
message, not an ImportError traceback, when the one a command needs is not installed."""

from __future__ import annotations

from importlib.util import find_spec

from bilancio.errors import StoreError


class MissingExtra(StoreError):
    """A package of an extra is not installed; the message says how to install it."""


def require(module: str, extra: str, needed_by: str) -> None:
    """Raise MissingExtra unless ``module`` can be imported."""
    if find_spec(module) is None:
        raise MissingExtra(
            f"{needed_by} needs {module}, which is not installed: pip install "
            f"'bilancio[{extra}]' (or, from a clone, uv run --extra {extra} bilancio ...)"
        )
