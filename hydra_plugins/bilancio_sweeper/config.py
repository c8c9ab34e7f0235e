from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from bilancio.sweep.frontier import Frontier


@dataclass
class FrontierConf:
    # hydra.sweeper.design=frontier: per cell of the other swept values (seeds included), the
    # smallest param in [low, high] where the metric (delta or delta_ring) is at most target,
    # for each regime, by bisection: round 0 at low and high, then `iterations` halvings
    # (the defaults are bilancio.sweep.frontier.Frontier's)
    param: str = Frontier.param
    low: float = Frontier.low
    high: float = Frontier.high
    target: float = Frontier.target
    iterations: int = Frontier.iterations
    metric: str = Frontier.metric


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
    # grid (cross every list), or a sampled design over the interval(a,b) ranges: lhs (Latin
    # hypercube), sobol (scrambled Sobol'), saltelli (SALib; samples·(2D+2) points); the drawn
    # points are crossed with the lists, range() and seed; or frontier (see FrontierConf)
    design: str = "grid"
    samples: int | None = None  # points of a sampled design (the N of saltelli)
    design_seed: int = 0  # the sampler's seed: the same seed draws the same points
    frontier: FrontierConf = field(default_factory=FrontierConf)


ConfigStore.instance().store(group="hydra/sweeper", name="bilancio", node=BilancioSweeperConf)
