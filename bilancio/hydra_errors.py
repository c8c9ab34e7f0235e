"""Hydra's errors about what a user typed, as bilancio's one-line messages.

Hydra reports a bad override (``kappa=abc``, ``kapa=0.5``, ``n_agents=五十``, an unknown config
group option, a bad flag combination) with its own multi-line text or a traceback and exit code
1. bilancio asks Hydra to raise instead (``HYDRA_FULL_ERROR=1`` while it runs) and turns each of
these into one line that names the parameter, the value and what is allowed; exit code 2.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import traceback
import typing
from typing import Any

from hydra.errors import (
    CompactHydraException,
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from bilancio.config import BilancioConfig
from bilancio.model import ModelParams, ParameterError


def explain(err: BaseException) -> str | None:
    """The message for an error the user caused on the command line; None if it is a bug."""
    if isinstance(err, ConfigCompositionException) and not isinstance(err, MissingConfigException):
        return _composition(err)
    if isinstance(err, MissingConfigException):
        return _missing_option(str(err))
    if isinstance(err, OverrideParseException):
        return _unparsable(getattr(err, "override", "") or str(err).splitlines()[0])
    if isinstance(err, CompactHydraException | HydraException | OmegaConfBaseException):
        return _first_line(err)
    if isinstance(err, ValueError) and _raised_by_hydra(err):  # e.g. "-m --cfg job"
        return _first_line(err)
    return None


def _first_line(err: BaseException) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), repr(err))


def _raised_by_hydra(err: BaseException) -> bool:
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and "/hydra/" in frames[-1].filename.replace("\\", "/")


def _composition(err: ConfigCompositionException) -> str:
    text, cause = str(err), err.__cause__
    plugin = re.search(r"Key '(\w+)' not in '(\w+?)(Sweeper|Launcher)Conf'", text)
    if plugin:
        key, name, kind = plugin.group(1), plugin.group(2), plugin.group(3).lower()
        return (
            f"hydra.{kind}.{key} is not an option of the {name} {kind} in use; a config "
            f"written for another {kind} needs that {kind} chosen on the command line, e.g. "
            f"hydra/{kind}=optuna (bilancio's own choice of {kind} takes precedence over one "
            "made inside an experiment)"
        )
    chosen = re.search(
        r"Multiple values for (\S+?)\. To override a value use 'override \S+: (\S+)'", text
    )
    if chosen:
        group, option = chosen.group(1), chosen.group(2)
        return (
            f"invalid +{group}={option}: a {group} is chosen already (by bilancio's config or an "
            f"earlier override); change the choice with {group}={option}, without the +"
        )
    override = _override_in(text)
    key = getattr(cause, "full_key", None) or override.partition("=")[0].lstrip("+~")
    if isinstance(cause, ConfigAttributeError | ConfigKeyError) or "Could not override" in text:
        open_maps = ("hydra.job.env_set.", "hydra.callbacks.", "hydra.sweeper.params.")
        if key.startswith(open_maps) and override and not override.startswith("+"):
            return (  # Hydra's own settings are not bilancio's parameters: say how to add one
                f"{key} is not in Hydra's config yet: add it with +{override} (a + adds a key, "
                "e.g. +hydra.job.env_set.NAME=value)"
            )
        return unknown_key(key, override)
    if override:
        return f"invalid {_shown(override)}: allowed {allowed(key)}"
    return _first_line(err)


def _override_in(text: str) -> str:
    for pattern in (r"Error merging override (.+)", r"use \+(\S+)", r"override '([^']+)'"):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip()
    return ""


def _shown(override: str) -> str:
    key, _, value = override.partition("=")
    return f"{key}={value!r}" if not _is_number(value) else override


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def unknown_key(key: str, override: str = "") -> str:
    where = f" (in {override})" if override and override.partition("=")[0] != key else ""
    close = difflib.get_close_matches(key, schema_keys(), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown parameter {key}{where}{hint} (`bilancio --help` lists them)"


def _missing_option(text: str) -> str:
    found = re.search(r"Could not find '([^']+)'", text)
    options = re.findall(r"^\t(\S+)$", text.split("Config search path")[0], flags=re.M)
    if not found:
        return _first_line(Exception(text))
    group, _, name = found.group(1).rpartition("/")
    choices = ", ".join(options) if options else "none found"
    places = [
        path.replace("bilancio-experiments://", "")
        for path in re.findall(r"path=(\S+)", text.split("Config search path", 1)[-1])
        if not path.startswith(("pkg://hydra.conf", "structured://"))
    ]
    where = f" (looked in {', '.join(places)})" if places and group == "experiments" else ""
    return (
        f"invalid {group}={name}: no such option in the config group {group}; allowed "
        f"{choices}{where}{_plugin_hint(group, name)}"
    )


# Hydra plugins a config may choose: how to install each (bilancio's extra where it has one),
# and whether a clone's dev dependencies (uv sync) hold it
PLUGINS = {
    ("hydra/launcher", "submitit_slurm"): ("pip install 'bilancio[cluster]'", True),
    ("hydra/launcher", "submitit_local"): ("pip install 'bilancio[cluster]'", True),
    ("hydra/launcher", "joblib"): ("pip install hydra-joblib-launcher", True),
    ("hydra/sweeper", "optuna"): ("pip install hydra-optuna-sweeper", True),
    ("hydra/launcher", "ray"): ("pip install hydra-ray-launcher", False),
    ("hydra/launcher", "rq"): ("pip install hydra-rq-launcher", False),
    ("hydra/sweeper", "nevergrad"): ("pip install hydra-nevergrad-sweeper", False),
    ("hydra/sweeper", "ax"): ("pip install hydra-ax-sweeper", False),
}


def _plugin_hint(group: str, name: str) -> str:
    """For a Hydra plugin that is not installed: the command that installs it."""
    found = PLUGINS.get((group.lstrip("/"), name))
    if found is None:
        return ""
    install, in_dev = found
    clone = "uv sync (the dev dependencies include it)" if in_dev else f"uv {install}"
    return (
        f". {group}={name} is a Hydra plugin that is not installed here: {install} "
        f"(from a clone: {clone})"
    )


def _unparsable(override: str) -> str:
    key, sep, value = override.partition("=")
    if sep and key in schema_keys():
        return (
            f"invalid {key}={value!r}: allowed {allowed(key)} (values with other characters "
            "than letters, digits and _-+./:@ must be quoted)"
        )
    return (
        f"cannot read the override {override!r}: quote a value that holds '=', spaces or other "
        f"special characters ({key}='...'); see `bilancio --help` for the syntax"
    )


def allowed(key: str) -> str:
    """What a parameter accepts: the model's own domain where there is one, else its type."""
    domain = _model_domain(key)
    if domain:
        return domain
    kind = _schema_types().get(key)
    return _describe_type(kind) if kind is not None else "a value of the right type"


def _model_domain(key: str) -> str | None:
    probe: dict[str, Any] = {}
    node, *rest = key.split(".")
    if node not in ModelParams.field_names():
        return None
    if not rest:
        probe[node] = object()
    else:
        nested: dict[str, Any] = probe.setdefault(node, {})
        for part in rest[:-1]:
            nested = nested.setdefault(part, {})
        nested[rest[-1]] = object()
    try:
        ModelParams(**probe)
    except ParameterError as err:
        return err.domain if err.name == key else None
    except (TypeError, ValueError):
        return None
    return None


def _describe_type(kind: Any) -> str:
    optional = type(None) in typing.get_args(kind)
    inner = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]
    words = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    text = words.get(inner[0], getattr(inner[0], "__name__", str(inner[0])))
    return f"{text} or null" if optional else text


def _schema_types(cls: type = BilancioConfig, prefix: str = "") -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            out.update(_schema_types(kind, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = kind
    return out


def schema_keys() -> list[str]:
    return sorted(_schema_types())
