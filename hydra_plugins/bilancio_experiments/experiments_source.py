from __future__ import annotations

import os

from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
from omegaconf import OmegaConf

GROUP = "experiments"


class ExperimentsFolderSource(ConfigSource):
    """``bilancio-experiments:///some/folder``: the YAML files of one folder as the config
    group ``experiments`` — and nothing else, so that the folder bilancio is started from is
    never made a config tree as a whole (no ``+.git/`` in shell completion)."""

    @staticmethod
    def scheme() -> str:
        return "bilancio-experiments"

    def _file(self, config_path: str) -> str | None:
        group, _, name = config_path.partition("/")
        if group != GROUP or not name or "/" in name:
            return None
        name = name if name.endswith(".yaml") else f"{name}.yaml"
        return os.path.join(self.path, name)

    def load_config(self, config_path: str) -> ConfigResult:
        path = self._file(config_path)
        if path is None or not os.path.isfile(path):
            raise ConfigLoadError(f"Config not found : {path or config_path}")
        with open(path, encoding="utf-8") as f:
            header = ConfigSource._get_header_dict(f.read(512))
            f.seek(0)
            config = OmegaConf.load(f)
        return ConfigResult(
            config=config,
            path=f"{self.scheme()}://{self.path}",
            provider=self.provider,
            header=header,
        )

    def available(self) -> bool:
        return os.path.isdir(self.path)

    def is_group(self, config_path: str) -> bool:
        return config_path in ("", GROUP) and self.available()

    def is_config(self, config_path: str) -> bool:
        path = self._file(config_path)
        return path is not None and os.path.isfile(path)

    def list(self, config_path: str, results_filter: ObjectType | None) -> list[str]:
        if config_path == "":
            return [GROUP] if results_filter in (None, ObjectType.GROUP) else []
        if config_path != GROUP or results_filter == ObjectType.GROUP:
            return []
        return sorted(f[:-5] for f in os.listdir(self.path) if f.endswith(".yaml"))
