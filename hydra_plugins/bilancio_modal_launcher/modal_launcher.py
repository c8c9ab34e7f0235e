from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from .config import ModalLauncherConf  # noqa: F401  (registers the config)


class ModalLauncher(Launcher):
    """Runs bilancio's jobs on Modal in batches; ``modal`` is imported only when launching."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.dry_run = bool(options.get("dry_run"))
        self.config: DictConfig | None = None
        self._executor: Any = None  # started by the preflight, used by the launch
        # the deployed app's code version (mode=deployed), recorded as the job's: it computes
        # the runs, even where allow_version_mismatch lets it differ from this checkout
        self.code_version: str | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        raise NotImplementedError(
            "hydra/launcher=modal runs bilancio sweeps (the bilancio sweeper); it does not "
            "launch arbitrary Hydra apps"
        )

    def check_options(self) -> None:
        """Refuse options Modal would reject, before anything is written (ValueError)."""
        if self.options.get("executor", "modal") == "modal":
            from bilancio.extras import require

            require("modal", "cloud", "hydra/launcher=modal")
        limits = {
            "parallelism": (1, 10_000, "an integer >= 1"),
            "timeout": (1, 86_400, "whole seconds in [1, 86400] (Modal's limit is 24 h)"),
            "retries": (0, 10, "an integer in [0, 10] (Modal's limit)"),
        }
        for name, (low, high, allowed) in limits.items():
            value = self.options.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"invalid hydra.launcher.{name}={value!r}: allowed {allowed}")
        size = self.options.get("batch_size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(
                f"invalid hydra.launcher.batch_size={size!r}: allowed null or an integer >= 1"
            )
        for name, choices in (
            ("mode", ("ephemeral", "deployed")),
            ("executor", ("modal", "local", "serialising")),
        ):
            if self.options.get(name) not in choices:
                raise ValueError(
                    f"invalid hydra.launcher.{name}={self.options.get(name)!r}: allowed "
                    + " or ".join(repr(c) for c in choices)
                )

    def preflight(self, storage: dict[str, Any]) -> None:
        from . import _core

        self._executor, self.code_version = _core.preflight(self.options, storage)

    def release(self) -> None:
        """Stop what the preflight started if the sweep ended without launching it."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.close()

    def dry_run_report(self, specs: Iterable[Any], count: int) -> str:
        from . import _core

        return _core.dry_run_report(self.options, specs, count)

    def launch_specs(self, specs: Iterable[Any], count: int) -> Iterator[Any]:
        from . import _core

        executor, self._executor = self._executor, None  # the launch closes it
        return _core.launch(self.options, specs, count, executor)
