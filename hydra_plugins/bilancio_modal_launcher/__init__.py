"""Hydra launcher plugin: ``hydra/launcher=modal`` (or ``+cloud=modal``) runs jobs on Modal."""
