"""The deployed container as Modal lays it out (issue 12, items 1 and 2, and part of item 8).

``modal deploy bilancio/cloud/modal_app.py`` imports the app file as the top-level module
``modal_app``; the container imports it again from ``/root/modal_app.py``, with the package next
to it as local Python source (``add_local_python_source``), no git, no package metadata, and
only the secret's variables plus what the image sets. Modal's cloud cannot run here, so the
layout is rebuilt in a folder directly below ``/`` (as deep as ``/root``) and the app is imported
there in a fresh interpreter of the image's own environment (built by the image's ``uv sync``
layer, tests/image_env.py); its functions run with ``.local()`` against the test Supabase
server. The image's baked version is what the real image's ``.env()`` layer sets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "bilancio"


@pytest.fixture
def container_root():
    """A folder one level below / holding modal_app.py and bilancio/ (no git, no metadata)."""
    if not os.access("/", os.W_OK):
        pytest.skip("the container layout needs a folder directly below / (run as root)")
    root = Path(tempfile.mkdtemp(prefix="bilancio-container-", dir="/"))
    try:
        shutil.copy(PACKAGE / "cloud" / "modal_app.py", root / "modal_app.py")
        shutil.copytree(PACKAGE, root / "bilancio", ignore=shutil.ignore_patterns("__pycache__"))
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def image_kernel(image_python: Path, tmp_path_factory) -> dict[str, str]:
    """The image's kernel layer, run as the image's Dockerfile says (its ``RUN`` command, with
    the variables of its ``.env`` layer; the cache folder here stands in for the image's):
    what every container then finds. Returns the kernel's variables as the containers see them."""
    from bilancio.cloud import modal_app

    from .image_env import dockerfile

    commands, _ = dockerfile(modal_app.image)
    (build,) = [c.removeprefix("RUN ") for c in commands if "-m bilancio.model.kernel" in c]
    cache = tmp_path_factory.mktemp("image-kernel")
    env = {**modal_app.KERNEL_ENV, "BILANCIO_KERNEL_CACHE": str(cache)}
    assert build.startswith(f"cd {modal_app.SOURCE_ROOT} && python ")  # the copied source's
    words = build.split("&&")[1].split()
    done = subprocess.run(
        [str(image_python), *words[1:]],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return env


@pytest.fixture
def in_container(container_root: Path, image_python: Path, image_kernel: dict[str, str]):
    """Run code as the container does: the image's environment (tests/image_env.py), the
    uploaded source on the path, only the given variables and the image's in the environment."""

    def run(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
        return _in_container(container_root, code, {**image_kernel, **env}, image_python, *args)

    return run


def _in_container(
    root: Path, code: str, env: dict[str, str], python: Path, *args: str
) -> subprocess.CompletedProcess:
    environ = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), **env}
    return subprocess.run(
        [str(python), "-c", code, *args],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


HEALTH = """
import json, sys, bilancio, modal_app
report = modal_app.health_check.local()
done = modal_app.run_simulation.local(json.loads(sys.argv[1]))
print(json.dumps({"report": report, "package_from": bilancio.__file__, "batch": done}))
"""


@pytest.mark.parametrize("form", ["file", "module"])
def test_the_deployed_app_imports_and_its_functions_work(
    container_root: Path, in_container, supabase_env, form: str
) -> None:
    from bilancio.sweep.records import code_version

    baked = code_version()  # what `modal deploy` computes here and bakes into the image
    secret = {k: os.environ[k] for k in ("BILANCIO_SUPABASE_URL", "BILANCIO_SUPABASE_SERVICE_KEY")}
    code = HEALTH if form == "file" else HEALTH.replace("modal_app", "bilancio.cloud.modal_app")
    code = code.replace(
        "import json, sys, bilancio, bilancio.cloud.modal_app", "import json, sys, bilancio"
    )
    if form == "module":
        code = "from bilancio.cloud import modal_app\n" + code
    batch = _batch_for_supabase(f"container-{form}")
    done = in_container(code, {**secret, "BILANCIO_DEPLOYED_CODE_VERSION": baked}, batch)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert [o["outcome"]["status"] for o in result["batch"]] == ["completed", "completed"]
    from bilancio.storage.supabase import SupabaseStore

    runs = SupabaseStore().job_runs(f"container-{form}")  # written by the container itself
    assert sorted((r["job_num"], r["regime"], r["status"]) for r in runs) == [
        (n, g, "completed") for n in (0, 1) for g in ("active", "passive")
    ]
    assert result["package_from"].startswith(str(container_root))  # the uploaded source
    report = result["report"]
    assert report["problem"] is None and report["can_write"] is True
    assert report["code_version"] == baked  # the deployed-mode check compares exactly this


def _batch_for_supabase(job_id: str) -> str:
    """Two jobs of a job recorded in the test Supabase (as the launching machine does)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from bilancio.cloud.worker import payload
    from bilancio.config import register_configs
    from bilancio.storage.supabase import SupabaseStore
    from bilancio.sweep.job import JobSpec

    from .test_storage import _job

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(version_base="1.3", config_module="bilancio.conf"):
        config = OmegaConf.to_container(compose(config_name="config"), resolve=True)
    GlobalHydra.instance().clear()
    config = {**config, "n_agents": 20, "storage": {"backend": "supabase"}}
    SupabaseStore().create_job(_job(job_id))
    specs = [
        JobSpec(job_id, n, {**config, "kappa": k}, (f"kappa={k}",)) for n, k in [(0, 0.5), (1, 1.0)]
    ]
    return json.dumps([payload(s) for s in specs])


def test_without_the_baked_version_the_container_cannot_know_its_code(in_container) -> None:
    # what the image gave before the version was baked in: without git and without package
    # metadata there is neither a commit nor a package version
    done = in_container(
        "import bilancio\nfrom bilancio.sweep.records import code_version\n"
        "print(code_version(), bilancio.__version__)",
        {},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0.0.0+unknown", "0.0.0+unknown"]


def test_the_code_version_tells_different_code_apart(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)

    def version() -> str:
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "from bilancio.sweep.records import code_version as v; print(v())",
            ],
            cwd=clone,
            env={**os.environ, "PYTHONPATH": str(clone)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    clean = version()
    assert clean.count("+g") == 1 and "dirty" not in clean
    assert version() == clean  # the same code, the same version
    target = clone / "bilancio" / "model" / "__init__.py"
    original = target.read_text()
    target.write_text(original + "\n# one edit\n")
    one = version()
    target.write_text(original + "\n# another edit\n")
    other = version()
    assert one.startswith(clean + ".dirty.") and other.startswith(clean + ".dirty.")
    assert one != other  # two different edits of one commit are different code
    target.write_text(original + "\n# one edit\n")
    assert version() == one


def test_a_container_loads_the_images_kernel_and_compiles_nothing(in_container) -> None:
    """The kernel the image built for a generic CPU is what a container runs: numba is never
    imported there (compiling would cost each container half a minute)."""
    done = in_container(
        "import json, sys\n"
        "from bilancio.model import ModelParams, simulate_pair\n"
        "pair = simulate_pair(ModelParams(n_agents=30, kappa=0.7, seed=3))\n"
        "print(json.dumps([pair.to_dict(), 'numba' in sys.modules]))",
        {},
    )
    assert done.returncode == 0, done.stderr
    pair, numba_imported = json.loads(done.stdout)
    assert numba_imported is False
    from bilancio.model import ModelParams, simulate_pair

    assert pair == simulate_pair(ModelParams(n_agents=30, kappa=0.7, seed=3)).to_dict()
