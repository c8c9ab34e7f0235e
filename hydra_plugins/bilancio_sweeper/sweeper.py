from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from .config import BilancioSweeperConf  # noqa: F401  (registers the config)


class BilancioSweeper(Sweeper):
    """Expands the grid, validates every job before anything runs, records the job, launches,
    and never aborts on a failed job (so the job_metrics callback always runs)."""

    def __init__(
        self,
        params: dict[str, str] | None = None,
        max_pairs: int | None = 1_000_000,
        batch_size: int | None = None,
        design: str = "grid",
        samples: int | None = None,
        design_seed: int = 0,
        frontier: Any = None,
    ) -> None:
        self.params = dict(params or {})
        self.max_pairs, self.batch_size = max_pairs, batch_size
        self.design = {"design": design, "samples": samples, "design_seed": design_seed}
        if frontier is not None:  # a DictConfig from Hydra, a dict when built by hand
            from omegaconf import OmegaConf

            settings = (
                OmegaConf.to_container(frontier) if OmegaConf.is_config(frontier) else frontier
            )
            self.design["frontier"] = dict(settings)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher: Launcher | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]] | Any:
        from bilancio.sweep.orchestrate import run_sweep

        assert self.config is not None and self.hydra_context and self.launcher
        swept = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        return run_sweep(
            self.config,
            self.hydra_context,
            self.launcher,
            swept,
            max_pairs=self.max_pairs,
            batch_size=self.batch_size,
            design=self.design,
        )
