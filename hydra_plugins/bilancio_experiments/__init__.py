"""Hydra plugins that find bilancio's experiments: the ones shipped in the package, and a
user's own ``experiments/`` folder in the directory bilancio is started from."""
