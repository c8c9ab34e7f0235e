"""``bilancio sweep balanced --kappas ...``: bilancio 0.1's command line, as a Hydra sweep.

Every flag maps to an override; the equivalent ``bilancio -m ...`` command is printed and run.
Seeds differ from bilancio 0.1 on purpose: there each grid cell got ``base_seed + position``;
here every pair uses ``seed`` as given (``--base-seed``), so cells share common random numbers
and replicates are a sweep over ``seed`` (e.g. ``seed=1,2,3``).
"""

from __future__ import annotations

import argparse
import shlex
import sys

FLAGS = {  # flag → (override key, help)
    "--n-agents": ("n_agents", "ring size"),
    "--maturity-days": ("maturity_days", "T"),
    "--q-total": ("q_total", "total ring debt"),
    "--kappas": ("kappa", "comma-separated κ values"),
    "--concentrations": ("concentration", "comma-separated c values"),
    "--mus": ("mu", "comma-separated μ values"),
    "--outside-mid-ratios": ("outside_mid_ratio", "comma-separated ρ values"),
    "--face-value": ("face_value", "dealer lot size"),
    "--base-seed": ("seed", "the seed of every pair (not base + cell position as in 0.1)"),
    "--default-handling": ("default_handling", "fail-fast or expel-agent"),
    "--job-id": ("job.id", "job id (an existing one resumes it)"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bilancio sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=["balanced"], help="the sweep type (balanced pairs)")
    for flag, (key, text) in FLAGS.items():
        parser.add_argument(flag, dest=key.replace(".", "_"), metavar=key, help=text)
    parser.add_argument("--cloud", action="store_true", help="run on Modal (+cloud=modal)")
    parser.add_argument("--out-dir", help="Hydra's sweep folder; locally also the database's")
    return parser


def overrides_for(argv: list[str]) -> list[str]:
    """The Hydra arguments equivalent to bilancio 0.1's ``sweep balanced`` flags."""
    args, extra = _parser().parse_known_args(argv)
    out = ["-m"]
    for key, _ in FLAGS.values():
        value = getattr(args, key.replace(".", "_"))
        if value is not None:
            out.append(f"{key}={value.replace(' ', '')}")
    if args.cloud:
        out.append("+cloud=modal")
    if args.out_dir:
        out.append(f"hydra.sweep.dir={args.out_dir}")
        if not args.cloud:
            out.append(f"storage.path={args.out_dir.rstrip('/')}/bilancio.db")
    return out + extra  # anything else passes through as a Hydra override


def main(argv: list[str]) -> int:
    from bilancio.cli.hydra_app import run_hydra

    hydra_args = overrides_for(argv)
    print("bilancio " + shlex.join(hydra_args), file=sys.stderr)
    return run_hydra(hydra_args)
