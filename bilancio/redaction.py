"""Secrets never leave the process: every text bilancio prints, stores or writes passes here.

Three layers, each enough on its own for what it covers:

* known values — the database URL, its password and the Supabase keys in the environment, and
  any URL given on the command line (:func:`register`) — are replaced wherever they appear;
* credentials in URLs (``scheme://user:password@``) and ``password=`` settings are masked in any
  text, whether or not the value is known;
* values of secret settings (``storage.url``) are dropped whole, so a URL that cannot even be
  parsed is never shown in part.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from typing import Any, TextIO
from urllib.parse import unquote

MASK = "***"
SECRET_SETTINGS = ("storage.url",)  # dotted config keys whose values are never shown
SECRET_ENV = (
    "BILANCIO_DATABASE_URL",
    "BILANCIO_SUPABASE_SERVICE_KEY",
    "BILANCIO_SUPABASE_ANON_KEY",
    "BILANCIO_SUPABASE_KEY",
    "SUPABASE_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "MODAL_TOKEN_SECRET",
    "PGPASSWORD",
)
MIN_SECRET = 4  # shorter values would mask ordinary words; the patterns below still apply

# scheme://user:password@ — greedy up to the last '@' of the token, so an unencoded '@' in a
# password is masked too
# (one slash or more: a URL that went through a file path lost one of its two)
_URL_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*:/+[^\s:/@'\"]*:)[^\s]*@")
_PASSWORD_SETTING = re.compile(r"(?i)(?P<head>\bpassword\s*[=:]\s*)(?P<value>[^\s&;,'\"]+)")
_BEARER = re.compile(r"(?i)(?P<head>\bbearer\s+)[A-Za-z0-9._\-~+/=]{8,}")
# a secret setting inside a longer text, e.g. Hydra's override_dirname "kappa=1,storage.url=…"
_SETTING_IN_TEXT = re.compile(
    "(?P<head>(?:"
    + "|".join(re.escape(k) for k in SECRET_SETTINGS)
    + r")=)(?:'[^']*'|\"[^\"]*\"|[^\s,\]]*)"  # a quoted value, or up to a space , or ]
)

_registered: set[str] = set()


def register(value: str | None) -> None:
    """Treat ``value`` (e.g. a URL from the command line) and its password as secrets."""
    if value:
        _registered.update(_parts(value))


def _parts(value: str) -> set[str]:
    """A secret and the pieces of it that must not appear either (a URL's password)."""
    out = {value}
    match = re.search(r":/+[^\s:/@]*:([^\s]*)@", value)
    if match:
        out.update({match.group(1), unquote(match.group(1))})
    setting = _PASSWORD_SETTING.search(value)
    if setting:
        out.add(setting.group("value"))
    return {s for s in out if len(s) >= MIN_SECRET}


def known_secrets() -> list[str]:
    """Every known secret value, longest first (so a URL goes before its password). Worked
    out again whenever a secret was registered or a secret variable of the environment
    changed (a sweep asks for it several times a pair)."""
    key = (id(_registered), len(_registered), tuple(os.environ.get(n) for n in SECRET_ENV))
    if _known[0] == key:
        return list(_known[1])
    found = set(_registered)
    for value in key[2]:
        if value:
            found.update(_parts(value))
    secrets = sorted(found, key=len, reverse=True)
    _known[:] = [key, tuple(secrets)]
    return secrets


_known: list[Any] = [None, ()]  # (what known_secrets was worked out from, its answer)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every known secret and every credential in it masked. ``secrets``:
    :func:`known_secrets` if the caller already has it (masking many values at once)."""
    if not text:
        return text
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if ":/" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    if "assword" in text or "ASSWORD" in text:
        text = _PASSWORD_SETTING.sub(lambda m: f"{m.group('head')}{MASK}", text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(lambda m: f"{m.group('head')}{MASK}", text)
    if ".url=" in text:
        text = _SETTING_IN_TEXT.sub(lambda m: f"{m.group('head')}<redacted>", text)
    return text


def redact_override(override: str, secrets: list[str] | None = None) -> str:
    """A command-line override as it may be shown: secret settings lose their whole value."""
    key, sep, _ = override.partition("=")
    if sep and key.lstrip("+~").split("@")[0] in SECRET_SETTINGS:
        return f"{key}=<redacted>"
    return redact(override, secrets)


def register_overrides(args: list[str]) -> None:
    """Register the values of secret settings given on a command line (``storage.url=…``,
    ``--url …``), so that they are masked wherever they turn up later."""
    for i, arg in enumerate(args):
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") in SECRET_SETTINGS:
            register(value)
        elif key in ("--url", "--db", "--postgres"):
            given = value if sep else (args[i + 1] if i + 1 < len(args) else None)
            if key != "--db" or (given and "://" in given):  # a file path is no secret, but
                register(given)  # --db may be given a URL by mistake


def scrub(value: Any, path: str = "", secrets: list[str] | None = None) -> Any:
    """A copy of a config-like value (dicts, lists, scalars) with no secret left in it. The
    known secrets are looked up once per call, not once per string in it."""
    if secrets is None:
        secrets = known_secrets()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            dotted = f"{path}.{key}" if path else str(key)
            if dotted in SECRET_SETTINGS:
                out[key] = None if item is None else "<redacted>"
            else:
                out[key] = scrub(item, dotted, secrets)
        return out
    if isinstance(value, list | tuple):
        return [
            redact_override(v, secrets) if isinstance(v, str) else scrub(v, path, secrets)
            for v in value
        ]
    if isinstance(value, str):
        return redact(value, secrets)
    return value


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets in everything written through it (stdout, stderr).

    If its reader goes away (``bilancio … 2>&1 | head -1``), later output is dropped instead of
    raising BrokenPipeError in the middle of a sweep: the results go to the database, and a
    sweep must not stop because nobody is reading its progress any more."""

    def __init__(self, inner: TextIO):
        self.inner = inner
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self.inner.write(redact(text))
            except BrokenPipeError:
                self._drop_output()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self.inner.flush()
            except BrokenPipeError:
                self._drop_output()

    def _drop_output(self) -> None:
        self.reader_gone = True
        # so that Python's own flush at exit does not complain either
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.inner.fileno())

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")

    @property
    def buffer(self) -> Any:
        return getattr(self.inner, "buffer", None)


def guard_streams() -> tuple[TextIO, TextIO]:
    """Route sys.stdout and sys.stderr through :class:`RedactingStream`; return the old ones."""
    import sys

    previous = (sys.stdout, sys.stderr)
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)  # type: ignore[assignment]
    return previous


def drop_secret_settings(config: Any) -> None:
    """Remove secret settings from a Hydra sweep config in place, before a launcher or sweeper
    composes, pickles or writes job configs from it (submitit pickles them to disk): the
    values leave ``storage.url`` and the task overrides; they reach the workers through the
    environment (``BILANCIO_DATABASE_URL``) instead."""
    from omegaconf import OmegaConf, open_dict, read_write

    with read_write(config), open_dict(config):
        for key in SECRET_SETTINGS:
            if OmegaConf.select(config, key) is not None:
                OmegaConf.update(config, key, None, merge=False)
        task = OmegaConf.select(config, "hydra.overrides.task")
        if task is not None:
            kept = [
                o
                for o in OmegaConf.to_container(task, resolve=False)
                if o.partition("=")[0].lstrip("+~") not in SECRET_SETTINGS
            ]
            config.hydra.overrides.task = kept
        job = OmegaConf.select(config, "hydra.job")
        raw = OmegaConf.to_container(job, resolve=False) if OmegaConf.is_config(job) else {}
        dirname = raw.get("override_dirname")  # as written: it may hold ${hydra:…}
        if isinstance(dirname, str) and redact(dirname) != dirname:
            config.hydra.job.override_dirname = redact(dirname)
