"""The pool launcher against Hydra's own launcher test suites (as Hydra's plugins are tested)."""

from __future__ import annotations

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite
from hydra.version import _UNSPECIFIED_, VersionBase

from hydra_plugins.bilancio_pool_launcher.pool_launcher import PoolLauncher


@pytest.fixture(autouse=True)
def _version_base_unset():
    """Hydra's suites assume a fresh process, where no app has set a version_base yet (so
    hydra.job.chdir defaults to True and each job writes its log in its own folder). A test
    that ran bilancio's app in this worker before has set it to 1.3: unset it for these."""
    versions = VersionBase.instance()
    saved = versions.getbase()
    versions.version_base = _UNSPECIFIED_
    yield
    versions.version_base = saved


def test_discovery() -> None:
    assert PoolLauncher.__name__ in [x.__name__ for x in Plugins.instance().discover(Launcher)]


@pytest.mark.parametrize("launcher_name, overrides", [("pool", [])])
class TestPoolLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        (
            {
                "defaults": [
                    {"override hydra/launcher": "pool"},
                    {"override hydra/hydra_logging": "hydra_debug"},
                    {"override hydra/job_logging": "disabled"},
                ]
            },
            ["-m"],
        )
    ],
)
class TestPoolLauncherIntegration(IntegrationTestSuite):
    pass
