"""Hydra sweeper plugin for bilancio: ``hydra/sweeper=bilancio`` (the default in bilancio)."""
