from dataclasses import dataclass

from hydra.core.config_store import ConfigStore


@dataclass
class PoolLauncherConf:
    _target_: str = "hydra_plugins.bilancio_pool_launcher.pool_launcher.PoolLauncher"
    # worker processes; -1: one per CPU core
    n_jobs: int = -1
    # jobs sent to a worker at a time; null: chosen from the sweep size (small enough for
    # smooth progress, large enough to keep inter-process traffic negligible)
    chunksize: int | None = None


ConfigStore.instance().store(group="hydra/launcher", name="pool", node=PoolLauncherConf)
