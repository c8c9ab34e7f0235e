from __future__ import annotations

import os

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from .experiments_source import ExperimentsFolderSource  # noqa: F401  (registers the source)

BILANCIO_CONF = "pkg://bilancio.conf"


class BilancioExperimentsSearchPath(SearchPathPlugin):
    """For bilancio's own app only: ``./experiments/*.yaml`` of the directory bilancio is
    started from become experiments, found before the ones shipped with bilancio."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        if not any(e.path == BILANCIO_CONF for e in search_path.get_path()):
            return  # another Hydra app in the same environment: leave it alone
        folder = os.path.join(os.getcwd(), "experiments")
        shipped = os.path.realpath(os.path.join(_package_conf(), "experiments"))
        if os.path.isdir(folder) and os.path.realpath(folder) != shipped:
            search_path.prepend(
                provider="bilancio experiments in the current directory",
                path=f"bilancio-experiments://{os.path.abspath(folder)}",
            )


def _package_conf() -> str:
    import bilancio.conf

    return os.path.dirname(bilancio.conf.__file__)
