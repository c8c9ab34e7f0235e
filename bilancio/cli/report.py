"""``bilancio report JOB_ID -o report.html``: one self-contained HTML page for a job."""

from __future__ import annotations

import argparse
import sys

from bilancio.cli.common import add_source_options, open_for_reading
from bilancio.files import OutputError, write_atomically
from bilancio.report_html import __doc__ as REPORT_DOC
from bilancio.report_html import render, require_pyplot
from bilancio.storage import StoreError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bilancio report", description=REPORT_DOC)
    parser.add_argument("job_id")
    parser.add_argument("-o", "--output", required=True, help="HTML file to write")
    add_source_options(parser)
    args = parser.parse_args(argv)
    try:
        require_pyplot()  # before reading anything: a missing extra changes no file
        store = open_for_reading(args)
        job = store.get_job(args.job_id)
        runs = store.job_runs(args.job_id)
        write_atomically(args.output, render(job, runs))
    except (StoreError, OutputError) as err:  # MissingExtra included
        print(f"bilancio: {err}", file=sys.stderr)
        return 2
    print(f"report of job {args.job_id} → {args.output}", file=sys.stderr)
    return 0
