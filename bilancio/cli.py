"""The ``bilancio`` command: Hydra-style ``key=value`` overrides of the model parameters."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from bilancio.config import params_from_config, register_configs
from bilancio.model import ParameterError, simulate_pair
from bilancio.report import format_pair


def run_once(cfg: DictConfig) -> None:
    """Run one pair (passive and active) for the composed config and print its metrics."""
    params = params_from_config(cfg)
    print(format_pair(params, simulate_pair(params)))


def main() -> None:
    register_configs()
    app = hydra.main(version_base="1.3", config_path="conf", config_name="config")(_task)
    app()


def _task(cfg: DictConfig) -> None:
    try:
        run_once(cfg)
    except ParameterError as err:
        print(f"bilancio: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
