from dataclasses import dataclass

from hydra.core.config_store import ConfigStore


@dataclass
class ModalLauncherConf:
    _target_: str = "hydra_plugins.bilancio_modal_launcher.modal_launcher.ModalLauncher"
    # most containers running at once
    parallelism: int = 32
    # seconds one container call (a batch) may run before it counts as failed
    timeout: int = 600
    # times Modal retries a failed call (a batch is idempotent: no row is ever duplicated)
    retries: int = 2
    # jobs per container call; null: about 2 s of work per call, from a local timing
    batch_size: int | None = None
    # "ephemeral": run the app for this sweep only; "deployed": call `app_name` as deployed
    mode: str = "ephemeral"
    app_name: str = "bilancio"
    # deployed mode: go on even when the deployed code version differs from this checkout
    allow_version_mismatch: bool = False
    # print jobs, batches, expected container time and cost; submit nothing, write nothing
    dry_run: bool = False
    # "modal"; "local": run each batch here through the functions' local path (tests);
    # "serialising": "local" through Modal's serializer, results out of order (tests)
    executor: str = "modal"
    # show Modal's output: the image build log, container start-up, the functions' own output
    output: bool = True


ConfigStore.instance().store(group="hydra/launcher", name="modal", node=ModalLauncherConf)
