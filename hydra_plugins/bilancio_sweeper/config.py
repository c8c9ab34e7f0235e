from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore


@dataclass
class BilancioSweeperConf:
    _target_: str = "hydra_plugins.bilancio_sweeper.sweeper.BilancioSweeper"
    # swept values by key, as on the command line ("0.5,1.0"); experiments set these
    params: dict[str, str] = field(default_factory=dict)
    # refuse sweeps with more pairs than this (protects the machine and the database);
    # null: no limit
    max_pairs: int | None = 1_000_000
    # pairs per Hydra job when a generic Hydra launcher runs the sweep (joblib, submitit,
    # SLURM); null: a few seconds of work each, as measured on a few pairs (at most 500)
    batch_size: int | None = None


ConfigStore.instance().store(group="hydra/sweeper", name="bilancio", node=BilancioSweeperConf)
