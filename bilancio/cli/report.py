"""``bilancio report JOB -o report.html [--figures DIR]`` and ``bilancio report A B -o
compare.html``: one self-contained HTML page (interactive, offline) for a job, or two jobs
compared cell by cell; ``--figures`` writes the figures as PNG and PDF for a paper."""

from __future__ import annotations

import argparse
import sys

from bilancio.cli.common import add_source_options, open_for_reading
from bilancio.files import OutputError, write_atomically
from bilancio.storage import StoreError


def _read(store, job_id: str):
    from bilancio.analysis.results import pairs_frame
    from bilancio.analysis.summary import job_cells

    job = store.get_job(job_id)
    cells, _ = job_cells(store, job_id, job)
    return job, cells, pairs_frame(store.job_runs(job_id))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bilancio report", description=__doc__.split("\n\n")[0].replace("``", "")
    )
    parser.add_argument("job_id", nargs="+", metavar="JOB", help="one job, or two to compare")
    parser.add_argument("-o", "--output", help="HTML file to write")
    parser.add_argument(
        "--figures", metavar="DIR", help="also write every figure as DIR/NAME.png and .pdf"
    )
    add_source_options(parser)
    args = parser.parse_args(argv)
    if len(args.job_id) > 2:
        parser.error(f"at most two jobs (one to report, two to compare), not {len(args.job_id)}")
    if not args.output and not args.figures:
        parser.error("nothing to write: give -o FILE.html, --figures DIR, or both")
    if args.figures and len(args.job_id) == 2:
        parser.error("--figures is for one job's report")
    try:
        from bilancio.analysis import report

        report.require_plotly()  # before reading anything: a missing extra changes no file
        store = open_for_reading(args)
        if len(args.job_id) == 2:
            return _compare(store, args)
        job, cells, pairs = _read(store, args.job_id[0])
        if args.output:
            write_atomically(args.output, report.render(job, cells, pairs))
            print(f"report of job {job['job_id']} → {args.output}", file=sys.stderr)
        if args.figures:
            paths = report.write_figures(report.build(cells, pairs, job), args.figures)
            print(f"{len(paths)} figure files → {args.figures}", file=sys.stderr)
    except (StoreError, OutputError) as err:  # MissingExtra included
        print(f"bilancio: {err}", file=sys.stderr)
        return 2
    return 0


def _compare(store, args: argparse.Namespace) -> int:
    from bilancio.analysis import report
    from bilancio.analysis.compare import compare, format_comparison

    (job_a, cells_a, pairs_a), (job_b, cells_b, pairs_b) = (_read(store, j) for j in args.job_id)
    result = compare(cells_a, pairs_a, cells_b, pairs_b)
    print(format_comparison(result, job_a["job_id"], job_b["job_id"]))
    if args.output:
        write_atomically(args.output, report.render_comparison(job_a, job_b, result))
        print(f"comparison → {args.output}", file=sys.stderr)
    return 0
