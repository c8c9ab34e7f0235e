"""Expand a sweep into jobs and resolve and validate every job's config before anything runs.

Hydra composes a config in about 0.1 s; doing that per job would dominate a sweep of
millisecond runs. So the config is composed once per distinct set of *structural* overrides
(config groups, ``+``/``~``, ``hydra.*``), and the swept values are checked once per distinct
value against the structured schema and then set on plain copies.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer, ValueType
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from bilancio.config import params_from_config, record_trades, unknown_key_in
from bilancio.model import ModelParams, ParameterError
from bilancio.sweep.job import JobSpec
from bilancio.sweep.progress import Progress
from bilancio.sweep.records import config_hash, plain_copy

SWEPT = ("kappa", "concentration", "mu", "outside_mid_ratio", "seed")  # jobs row columns


class SweepError(ValueError):
    """The sweep cannot run as given; the message names the key, the value and what is allowed."""


@dataclass(frozen=True)
class _Axis:
    key: str
    values: list[Any]  # typed, as parsed; for a design's points: each a tuple of (key, value)
    strings: list[Any]  # as in the job's override list (a point: a tuple, one per key)
    structural: bool
    source: str  # the override as the user wrote it
    point: bool = False  # the points of a sampled design: several keys per value

    def settings(self, i: int) -> list[tuple[str, Any]]:
        """The (key, value) pairs that value ``i`` of this axis sets."""
        return list(self.values[i]) if self.point else [(self.key, self.values[i])]

    def overrides(self, i: int) -> list[str]:
        return list(self.strings[i]) if self.point else [self.strings[i]]


class SweepPlan:
    """The jobs of a sweep. Configs are built on demand, so a plan of 10,000 jobs stays small;
    every job was built and validated once when the plan was made."""

    def __init__(
        self, master: DictConfig, config_loader: Any, axes: list[_Axis], overrides: list[str]
    ):
        self._master, self._loader, self._axes = master, config_loader, axes
        self._sizes = [len(a.values) for a in axes]
        self._bases: dict[tuple[str, ...], tuple[dict[str, Any] | None, DictConfig, Any]] = {}
        self._checked: dict[tuple[tuple[str, ...], str, str], Any] = {}
        # (structural, key, int or float): the schema takes such values as they are, so a
        # further one needs no check of its own (a design draws a new float per point)
        self._as_is: dict[tuple[tuple[str, ...], str, type], type] = {}
        self.overrides = overrides
        self.n_jobs = math.prod(self._sizes)
        self.job_id: str | None = None  # as configured (job.id); None: make a new one
        self.bind: dict[str, Any] = {}  # set by the sweep: the job id and the storage settings
        # learnt while validating every job once: what the jobs row and resuming need
        self.hashes: list[str] = []  # config hash of each job
        self.distinct: dict[str, set[Any]] = {k: set() for k in SWEPT}
        self.first: ModelParams | None = None
        self.nums: list[int] | range = range(self.n_jobs)  # the job numbers, in order
        self.description: str | None = None  # overrides job.description when set

    def hash_of(self, num: int) -> str:
        return self.hashes[num]

    def _choice(self, num: int) -> list[int]:
        """Indices into each axis for job ``num``, in itertools.product order."""
        out = []
        for size in reversed(self._sizes):
            num, i = divmod(num, size)
            out.append(i)
        return out[::-1]

    def overrides_of(self, num: int) -> tuple[str, ...]:
        choice = self._choice(num)
        return tuple(s for a, i in zip(self._axes, choice, strict=True) for s in a.overrides(i))

    def spec(self, num: int) -> JobSpec:
        choice = self._choice(num)
        axes = self._axes
        structural = tuple(a.strings[i] for a, i in zip(axes, choice, strict=True) if a.structural)
        if structural not in self._bases:
            composed = _compose(self._master, self._loader, list(structural))
            self._refuse_own_sweeps(composed[2].hydra)
            self._bases[structural] = composed
        base, typed, hydra = self._bases[structural]
        values = [
            kv
            for a, i in zip(axes, choice, strict=True)
            if not a.structural
            for kv in a.settings(i)
        ]
        if base is None or any(_interpolates(v) for _, v in values):
            # interpolations: resolve each job's config on its own, ${hydra:...} against the
            # job's own Hydra config (job.num, job.override_dirname, runtime.output_dir, ...)
            with _job_hydra_config(hydra, self._master, num, self.overrides_of(num)):
                config = _resolved_with(typed, values)
        else:
            config = dict(base)  # the sections no value changes are shared, never edited
            for key, value in values:
                memo = (structural, key, repr(value))
                if memo not in self._checked:
                    self._checked[memo] = self._check(structural, typed, key, value)
                _set(config, key, self._checked[memo])
        overrides = self.overrides_of(num)
        job_id = self.bind.get("job_id", "")
        if self.bind:
            config["job"] = {**config["job"], "id": job_id, "num": num}
            config["storage"] = self.bind["storage"]
        digest = self.hashes[num] if num < len(self.hashes) else None  # known once checked
        return JobSpec(job_id, num, config, overrides, digest, self.bind.get("base"))

    def _check(self, structural: tuple[str, ...], typed: DictConfig, key: str, value: Any) -> Any:
        """``value`` as the schema converts it. A check copies the typed config (milliseconds),
        so once an int or float for ``key`` came back as the same number (an int as a float for
        a float field), later ones of that type are converted the same way without a check:
        OmegaConf's numeric nodes have no bounds (the model's validation of every job checks
        the range). A design draws a new float per point; ``range()`` a new int per job."""
        kind = (structural, key, type(value))
        convert = self._as_is.get(kind)
        if convert is not None:
            return convert(value)
        checked = _checked_value(typed, key, value)
        if (type(value), type(checked)) in ((int, int), (int, float), (float, float)) and (
            checked == value
        ):
            self._as_is[kind] = type(checked)
        return checked

    def _refuse_own_sweeps(self, hydra: DictConfig) -> None:
        """A swept config group option (``+experiments=a,b``) that brings a sweep of its own
        (``hydra.sweeper.params``): Hydra's sweepers drop it silently; bilancio refuses."""
        own = OmegaConf.to_container(hydra.sweeper, resolve=False).get("params") or {}
        master = OmegaConf.to_container(self._master.hydra.sweeper, resolve=False)
        if own == (master.get("params") or {}):
            return
        swept = [a for a in self._axes if a.structural and len(a.values) > 1]
        names = [s.partition("=")[2] for a in swept for s in a.strings]
        group = swept[0].strings[0].partition("=")[0] if swept else "+experiments"
        one_at_a_time = "; ".join(f"bilancio {group}={n}" for n in names)
        raise SweepError(
            f"cannot sweep over {' '.join(a.source for a in swept)}: each of them has its own "
            "sweep (hydra.sweeper.params), which a sweep over them would drop; run them one at "
            f"a time: {one_at_a_time}"
        )

    def specs(self, nums: Iterable[int] | None = None) -> Iterator[JobSpec]:
        for num in range(self.n_jobs) if nums is None else nums:
            yield self.spec(num)


def plan_sweep(
    master: DictConfig,
    config_loader: Any,
    swept: list[str],
    max_pairs: int | None = None,
    design: dict[str, Any] | None = None,
) -> SweepPlan:
    """Plan the sweep and validate every job's config; raises SweepError on any bad value, on
    an empty sweep and on one larger than ``max_pairs``. ``design``: the sweeper's design,
    samples and design_seed (None: the grid)."""
    parser = OverridesParser.create(config_loader=config_loader)
    try:
        parsed = parser.parse_overrides(swept)
    except Exception as err:  # Hydra's parser raises several types; all mean a malformed override
        raise SweepError(f"cannot parse the overrides: {err}") from err
    design = _design(design)
    search = _frontier(design, parsed)
    axes = _axes(parsed, config_loader, design if search is None else None)
    per_cell = 1 if search is None else search.max_pairs_per_cell
    _check_size(axes, max_pairs, master, per_cell)
    said = list(swept)
    if search is not None:  # the job row says how the frontier is searched
        said += ["hydra.sweeper.design=frontier", *search.overrides()]
    elif design["design"] != "grid":  # the job row says how its points were drawn
        said += [f"hydra.sweeper.{k}={design[k]}" for k in ("design", "samples", "design_seed")]
    plan = SweepPlan(master, config_loader, axes, said)
    checking = None
    if plan.n_jobs > LARGE_SWEEP:
        checking = Progress(plan.n_jobs, label="jobs checked", count_failures=False)
    ids = set()
    for spec in plan.specs():
        if checking is not None:
            checking.update(False)
        params = _validate(spec.config, spec.overrides)
        ids.add(spec.config["job"]["id"])
        plan.hashes.append(config_hash(params))
        plan.first = plan.first or params
        for name, values in plan.distinct.items():
            values.add(getattr(params, name))
    if checking is not None:
        checking.close()
    if len(ids) > 1:
        raise SweepError(f"job.id cannot be swept (got {sorted(map(str, ids))})")
    plan.job_id = ids.pop() if ids else None
    if search is not None:
        return FrontierPlan(plan, search)
    return plan


def _frontier(design: dict[str, Any], parsed: list[Override]) -> Any:
    """The frontier's settings (None for other designs); refused: a range, or the searched
    parameter among the overrides."""
    from bilancio.sweep.frontier import Frontier, FrontierError

    if design["design"] != "frontier":
        return None
    try:
        search = Frontier.of(design.get("frontier"))
    except FrontierError as err:
        raise SweepError(str(err)) from None
    for o in parsed:
        if o.value_type == ValueType.INTERVAL_SWEEP:
            raise SweepError(
                f"{o.input_line}: hydra.sweeper.design=frontier searches "
                f"hydra.sweeper.frontier.param={search.param} and crosses lists; a continuous "
                "range is for hydra.sweeper.design=lhs, sobol or saltelli"
            )
        if o.key_or_group == search.param and not o.is_hydra_override():
            raise SweepError(
                f"{o.input_line}: hydra.sweeper.design=frontier searches {search.param} itself, "
                f"in [hydra.sweeper.frontier.low, high] = [{search.low:g}, {search.high:g}]; "
                f"remove {search.param} from the overrides (or search another parameter with "
                "hydra.sweeper.frontier.param)"
            )
    return search


class FrontierPlan:
    """The pairs of a frontier search (frontier.py): the cells are the jobs of ``base`` (the
    other swept values, seeds included), and each evaluation is one of those with ``param``
    set. Round 0's evaluations (every cell at low and at high) are job numbers 0 … 2C − 1; the
    later rounds' are added as the search asks for them (:meth:`evaluate`), numbered on."""

    def __init__(self, base: SweepPlan, search: Any):
        self.base, self.search = base, search
        self.overrides = base.overrides
        self.job_id, self.first, self.description = base.job_id, None, base.description
        self.cells = base.n_jobs
        self.distinct: dict[str, set[Any]] = {k: set(v) for k, v in base.distinct.items()}
        self.distinct[search.param] = set()
        self._evals: dict[int, tuple[int, float]] = {}  # job number → (cell, value)
        self._next = 0  # the next free job number (after every known and stored one)
        self._num_of: dict[tuple[int, float], int] = {}
        self._hashes: dict[int, str] = {}
        for cell in range(self.cells):
            for value in (search.low, search.high):
                self.evaluate(cell, value)
        self.nums: list[int] = sorted(self._evals)  # round 0

    @property
    def bind(self) -> dict[str, Any]:
        return self.base.bind

    @bind.setter
    def bind(self, value: dict[str, Any]) -> None:
        self.base.bind = value

    @property
    def n_jobs(self) -> int:
        return len(self._evals)

    @property
    def max_pairs(self) -> int:
        return self.cells * self.search.max_pairs_per_cell

    def num_of(self, cell: int, value: float) -> int | None:
        return self._num_of.get((cell, value))

    def evaluate(self, cell: int, value: float, stored: dict[str, int] | None = None) -> int:
        """The job number of ``param = value`` in ``cell``, added if new: the stored pair's
        number when ``stored`` (config hash → job number of the job's stored pairs) has it, the
        next free number otherwise."""
        if (cell, value) in self._num_of:
            return self._num_of[(cell, value)]
        spec = self._spec(self._next, cell, value)
        try:
            params = _validate(spec.config, spec.overrides)
        except SweepError as err:
            bound = {self.search.low: "low", self.search.high: "high"}.get(value)
            if bound is None:
                raise
            raise SweepError(
                f"hydra.sweeper.frontier.{bound}={value!r} is not a value of "
                f"{self.search.param}: {err}"
            ) from None
        digest = config_hash(params)
        num = (stored or {}).get(digest)
        if num is None or num in self._evals:
            num = self._next
        self._next = max(self._next, num + 1)
        self._evals[num] = (cell, value)
        self._num_of[(cell, value)] = num
        self._hashes[num] = digest
        self.first = self.first or params
        for name, values in self.distinct.items():
            values.add(getattr(params, name))
        return num

    def adopt(self, stored: dict[str, int]) -> None:
        """New numbers come after every stored pair's (``stored``: hash → job number)."""
        self._next = max(self._next, max(stored.values(), default=-1) + 1)

    def hash_of(self, num: int) -> str:
        return self._hashes[num]

    def overrides_of(self, num: int) -> tuple[str, ...]:
        cell, value = self._evals[num]
        return (*self.base.overrides_of(cell), f"{self.search.param}={value!r}")

    def _spec(self, num: int, cell: int, value: float) -> JobSpec:
        spec = self.base.spec(cell)
        config = spec.config
        _set(config, self.search.param, value)
        if "num" in config.get("job", {}):
            config["job"] = {**config["job"], "num": num}
        overrides = (*spec.overrides, f"{self.search.param}={value!r}")
        digest = self._hashes.get(num) if self._evals.get(num) == (cell, value) else None
        return JobSpec(spec.job_id, num, config, overrides, digest, spec.base)

    def spec(self, num: int) -> JobSpec:
        cell, value = self._evals[num]
        return self._spec(num, cell, value)

    def specs(self, nums: Iterable[int] | None = None) -> Iterator[JobSpec]:
        for num in sorted(self._evals) if nums is None else nums:
            yield self.spec(num)


def _design(design: dict[str, Any] | None) -> dict[str, Any]:
    """The sweeper's design settings, checked (designs.check)."""
    from bilancio.sweep.designs import DesignError, check

    d = {"design": "grid", "samples": None, "design_seed": 0, **(design or {})}
    try:
        check(d["design"], d["samples"], d["design_seed"])
    except DesignError as err:
        raise SweepError(str(err)) from None
    return d


def _axes(
    parsed: list[Override], config_loader: Any, design: dict[str, Any] | None = None
) -> list[_Axis]:
    """One axis per key, in first-seen order; a repeated key replaces the earlier values. The
    ranges of a sampled design become one axis of drawn points, where the first range was."""
    from bilancio.sweep.designs import DesignError, range_of

    design = design or _design(None)

    axes: dict[str, _Axis] = {}
    ranges: dict[str, Any] = {}
    sampled = design["design"] != "grid"
    for o in parsed:
        element = o.get_key_element()  # the key with its +, ++ or ~ prefix and @package
        if o.value_type == ValueType.INTERVAL_SWEEP:
            if not sampled:
                raise SweepError(
                    f"{o.input_line} is a continuous range, and the grid needs values: a list "
                    f"({o.key_or_group}=0.5,1,2) or range(start,stop,step). Sample the range "
                    "with hydra.sweeper.design=lhs, sobol or saltelli and hydra.sweeper.samples="
                    "N, or use a sampling sweeper such as hydra/sweeper=optuna"
                )
            try:
                ranges[element] = range_of(o)
            except DesignError as err:
                raise SweepError(str(err)) from None
            axes.setdefault("(design)", None)  # the points go where the first range was
            axes.pop(element, None)
            continue
        ranges.pop(element, None)
        # the job's override strings as Hydra's BasicSweeper writes them (quotes kept), and the
        # values as Hydra reads them back when it composes a job (a quoted string is its text)
        if o.is_sweep_override():
            parsed = list(o.sweep_iterator())
            strings = [f"{element}={Transformer.str(v)}" for v in parsed]
            values = [_hydra_value(v) for v in parsed]
        else:
            strings = [f"{element}={o.get_value_element_as_str()}"]
            values = [o.value()]
        if o.is_delete() and o.value() is None:
            strings = [element]
        structural = (
            o.is_add()
            or o.is_force_add()
            or o.is_delete()
            or o.package is not None
            or o.is_hydra_override()
            or bool(config_loader.get_group_options(o.key_or_group))
        )
        axes[element] = _Axis(o.key_or_group, values, strings, structural, o.input_line)
    if sampled:
        axes["(design)"] = _points_axis(design, list(ranges.values()))
    return list(axes.values())


def _points_axis(design: dict[str, Any], ranges: list[Any]) -> _Axis:
    """The drawn points of a sampled design as one axis (each value sets every range's key)."""
    from bilancio.sweep.designs import DesignError, points

    name = design["design"]
    try:
        drawn, said = points(name, ranges, design["samples"], design["design_seed"])
    except DesignError as err:
        raise SweepError(str(err)) from None
    for warning in said:
        print(f"bilancio: warning: hydra.sweeper.design={name}: {warning}", file=sys.stderr)
    values = [tuple(p.items()) for p in drawn]
    strings = [tuple(f"{k}={v!r}" for k, v in p.items()) for p in drawn]
    source = " ".join(f"{r.key}=interval({r.low},{r.high})" for r in ranges)
    return _Axis("(design)", values, strings, False, f"design={name} {source}", point=True)


def _hydra_value(element: Any) -> Any:
    """A parsed sweep element as the value Hydra gives the config (``Override.value()``'s own
    conversion: quoted strings become their text, inside lists and dicts too)."""
    return Override._convert_value(element)


LARGE_SWEEP = 10_000  # pairs; above it the sweep's size and cost are printed before planning
# rough cost of one pair on one core, the sweep's own work included: ms fixed + ms per agent
# (the compiled model: 100,000 pairs at n = 100 took 195 s of CPU; a pair at n = 10,000 ~95 ms)
PAIR_MS = (1.0, 0.0095)
DB_BYTES_PER_PAIR = 4_000  # two runs (their configs as differences) and two metrics rows (4.0 KB)
RECORD_BYTES_PER_PAIR = 100  # a line of jobs.jsonl, the Hydra record of a large sweep's job


def _check_size(
    axes: list[_Axis], max_pairs: int | None, master: DictConfig, per_cell: int = 1
) -> None:
    for axis in axes:
        if not axis.values:
            raise SweepError(f"the sweep is empty: {axis.source} gives no values")
    n = math.prod(len(a.values) for a in axes) * per_cell
    if max_pairs is not None and n > max_pairs:
        up_to = " up to" if per_cell > 1 else ""
        raise SweepError(
            f"the sweep has{up_to} {n:,} pairs, more than hydra.sweeper.max_pairs={max_pairs:,}; "
            "split it, or raise hydra.sweeper.max_pairs if this is what you mean"
        )
    if n > LARGE_SWEEP:
        print(_estimate(n, axes, master), file=sys.stderr)


def _estimate(n: int, axes: list[_Axis], master: DictConfig) -> str:
    agents = next((a.values for a in axes if a.key == "n_agents"), None)
    sizes = [v for v in (agents or [master.get("n_agents", 100)]) if isinstance(v, int)] or [100]
    per_pair_ms = PAIR_MS[0] + PAIR_MS[1] * sum(sizes) / len(sizes)
    hours = n * per_pair_ms / 3.6e6
    return (
        f"bilancio: a large sweep: {n:,} pairs (n_agents ~{sum(sizes) / len(sizes):,.0f}); "
        f"roughly {hours:,.2f} core-hours ({per_pair_ms:,.1f} ms a pair; divide by the "
        f"launcher's workers), {n * DB_BYTES_PER_PAIR / 1e9:,.2f} GB in the database and "
        f"{n * RECORD_BYTES_PER_PAIR / 1e6:,.1f} MB of job records (one file, jobs.jsonl) "
        "under hydra.sweep.dir. "
        "Checking every job first…"
    )


def _compose(
    master: DictConfig, config_loader: Any, overrides: list[str]
) -> tuple[dict[str, Any] | None, DictConfig, DictConfig]:
    """The task part of a composed job config: as a plain resolved dict (None if it holds
    interpolations, which must be resolved per job), and as a typed config; and the composed
    config with its ``hydra`` node (for ``${hydra:...}``)."""
    try:
        cfg = config_loader.load_sweep_config(master, overrides)
    except Exception as err:  # Hydra raises several types for a config that does not compose
        raise SweepError(f"cannot compose the config with {overrides}: {err}") from err
    full = cfg
    cfg = copy.deepcopy(full)
    with open_dict(cfg):
        del cfg["hydra"]
    unknown = unknown_key_in(cfg)  # added with + or ++: nothing would read it
    if unknown is not None:
        from bilancio.hydra_errors import unknown_key

        raise SweepError(unknown_key(unknown))
    plain = OmegaConf.to_container(cfg, resolve=False)
    if _interpolates(plain):
        return None, cfg, full
    return plain, cfg, full


def _interpolates(value: Any) -> bool:
    """Whether a value holds an interpolation (``${...}``) anywhere."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_interpolates(v) for v in value.values())
    if isinstance(value, list):
        return any(_interpolates(v) for v in value)
    return False


@contextlib.contextmanager
def _job_hydra_config(
    full: DictConfig, master: DictConfig, num: int, overrides: tuple[str, ...]
) -> Iterator[None]:
    """``${hydra:...}`` resolves against job ``num``'s own Hydra config while in this block: the
    composed config's, with what Hydra sets per job (BasicLauncher and run_job): job.id and
    job.num, the job's task overrides and override_dirname, runtime.output_dir."""
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    task = [o for o in parsed if not o.is_hydra_override()]
    node = full.hydra
    with read_write(node), open_dict(node):
        node.job.id = num
        node.job.num = num
        node.overrides.task = [o.input_line for o in task]
        dirname = node.job.config.override_dirname
        node.job.override_dirname = get_overrides_dirname(
            overrides=task,
            exclude_keys=list(dirname.exclude_keys),
            item_sep=dirname.item_sep,
            kv_sep=dirname.kv_sep,
        )
        node.sweep.dir = str(master.hydra.sweep.dir)  # as resolved once for the whole sweep
        node.runtime.output_dir = os.path.abspath(
            os.path.join(str(node.sweep.dir), str(node.sweep.subdir))
        )
    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    hydra_config.set_config(full)
    try:
        yield
    finally:
        hydra_config.cfg = previous


def _resolved_with(typed: DictConfig, values: list[tuple[str, Any]]) -> dict[str, Any]:
    scratch = copy.deepcopy(typed)
    for key, value in values:
        try:
            OmegaConf.update(scratch, key, value, merge=True)
        except OmegaConfBaseException as err:
            raise SweepError(_bad_value(key, value, err)) from err
    try:
        return OmegaConf.to_container(scratch, resolve=True)
    except OmegaConfBaseException as err:
        raise SweepError(f"cannot resolve the config: {err}") from err


def _checked_value(typed: DictConfig, key: str, value: Any) -> Any:
    """``value`` converted by the schema's type for ``key``; SweepError if unknown or mistyped."""
    scratch = copy.deepcopy(typed)
    try:
        OmegaConf.update(scratch, key, value, merge=True)
        found = OmegaConf.select(scratch, key, throw_on_missing=True)
    except OmegaConfBaseException as err:
        raise SweepError(_bad_value(key, value, err)) from err
    if OmegaConf.is_config(found):
        return OmegaConf.to_container(found, resolve=True)
    return found


def _bad_value(key: str, value: Any, err: OmegaConfBaseException) -> str:
    """bilancio's one-line message for a value the schema refuses (or an unknown key)."""
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from bilancio.hydra_errors import allowed, unknown_key

    if isinstance(err, ConfigAttributeError | ConfigKeyError):
        return unknown_key(key)
    return f"invalid {key}={value!r}: allowed {allowed(key)}"


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``dotted`` in ``config``, copying the sections on its path rather than editing
    them: a job's config shares every section it does not change with the plan's base."""
    *parents, leaf = dotted.split(".")
    node = config
    for p in parents:
        node[p] = node = dict(node[p])
    node[leaf] = plain_copy(value)


def _validate(config: dict[str, Any], overrides: tuple[str, ...]) -> ModelParams:
    try:
        record_trades(config)
        return params_from_config(config)
    except ParameterError as err:
        raise SweepError(
            f"{err} (in the job {' '.join(overrides) or 'with no overrides'})"
        ) from err
