"""The ``bilancio`` command: Hydra-style ``key=value`` overrides of the model parameters."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from bilancio.config import params_from_config, register_configs
from bilancio.model import ParameterError, simulate
from bilancio.report import format_run


def run_once(cfg: DictConfig) -> None:
    """Run the passive model for the composed config and print its metrics."""
    params = params_from_config(cfg)
    result = simulate(params, regime="passive")
    print(format_run(params, result))


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
