"""bilancio: declarative, reproducible payment-settlement experiments."""

# Importing the package stays cheap: the command installs its signal handlers first thing, and
# everything imported before that is time in which Ctrl-C would be a bare traceback.


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("bilancio")
        except PackageNotFoundError:  # running from a source tree that is not installed
            return "0.0.0+unknown"
    raise AttributeError(f"module 'bilancio' has no attribute {name!r}")
