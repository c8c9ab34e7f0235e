from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from .config import PoolLauncherConf  # noqa: F401  (registers the config)


class PoolLauncher(Launcher):
    """Runs jobs in a pool of forked worker processes (Linux and macOS)."""

    def __init__(self, n_jobs: int = -1, chunksize: int | None = None) -> None:
        self.n_jobs, self.chunksize = n_jobs, chunksize
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def check_options(self) -> None:
        """Raise ``ValueError`` naming the option, its value and what is allowed, for an
        ``n_jobs`` other than -1 or an int >= 1, or a ``chunksize`` other than null or an int
        >= 1."""
        if not _is_int(self.n_jobs) or not (self.n_jobs == -1 or self.n_jobs >= 1):
            raise ValueError(
                f"hydra.launcher.n_jobs={self.n_jobs!r} is not allowed: use -1 (one worker "
                "process per CPU core) or an integer >= 1"
            )
        if self.chunksize is not None and (not _is_int(self.chunksize) or self.chunksize < 1):
            raise ValueError(
                f"hydra.launcher.chunksize={self.chunksize!r} is not allowed: use null (chosen "
                "from the sweep size) or an integer >= 1"
            )

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """Hydra's interface: compose and run each job in a worker, as Hydra's launchers do."""
        from . import _core

        return _core.launch_hydra_jobs(self, job_overrides, initial_job_idx)

    def launch_specs(self, specs: Iterable[Any], count: int) -> Iterator[Any]:
        """bilancio's interface: ``count`` resolved job specs in, outcomes out as they finish."""
        from . import _core

        return _core.launch_specs(self, specs, count)

    def launch_jobs(self, plan: Any, nums: Sequence[int], store: Any) -> Iterator[Any]:
        """bilancio's interface: job numbers of ``plan`` in, outcomes out as they finish (the
        workers build each job from the plan; the rows are written here, in batches)."""
        from . import _core

        return _core.launch_jobs(self, plan, nums, store)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
