"""Hydra launcher plugin: ``hydra/launcher=pool`` runs a sweep's jobs on every core."""
