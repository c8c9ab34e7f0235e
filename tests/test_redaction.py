"""bilancio.redaction on the texts it meets: hand-written inputs and the masked text expected."""

from __future__ import annotations

import pytest

from bilancio import redaction


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch):
    for name in redaction.SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(redaction, "_registered", set())


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://u:pw123@host:5432/db", "postgresql://u:***@host:5432/db"),
        ("postgres://u:pw123@[::1/db", "postgres://u:***@[::1/db"),  # cannot be parsed
        ("no database at postgresql:/u:pw123@h/db", "no database at postgresql:/u:***@h/db"),
        ("postgresql://u:p@ss@host/db and x@y", "postgresql://u:***@host/db and x@y"),
        ("host=h password=pw123 user=u", "host=h password=*** user=u"),
        ("Authorization: Bearer eyJhbGciOi.abc", "Authorization: Bearer ***"),
        (
            "#1 [n=1 storage.url=postgresql://u@h/db]: MemoryError",
            "#1 [n=1 storage.url=<redacted>]: MemoryError",
        ),
        ("[storage.url='postgresql://u@h/db?host=/x' kappa=1]", "[storage.url=<redacted> kappa=1]"),
        ("kappa=1,storage.url=anything,mu=0", "kappa=1,storage.url=<redacted>,mu=0"),
        ("nothing secret here: kappa=0.5", "nothing secret here: kappa=0.5"),
    ],
)
def test_patterns(text: str, masked: str) -> None:
    assert redaction.redact(text) == masked


def test_known_values_anywhere(monkeypatch) -> None:
    monkeypatch.setenv("BILANCIO_SUPABASE_SERVICE_KEY", "sb_secret_0123456789")
    monkeypatch.setenv("BILANCIO_DATABASE_URL", "postgresql://u:Pa%40ss@h/db")
    text = "apikey sb_secret_0123456789 and Pa@ss and Pa%40ss"
    assert redaction.redact(text) == "apikey *** and *** and ***"


def test_registered_command_line_values() -> None:
    redaction.register_overrides(["-m", "storage.url=weird-not-a-url-SECRET", "--db", "x.db"])
    assert redaction.redact("failed: weird-not-a-url-SECRET") == "failed: ***"
    assert redaction.redact_override("+storage.url=weird") == "+storage.url=<redacted>"


def test_a_database_file_is_named_but_a_url_given_as_db_is_masked(tmp_path) -> None:
    from .sweep_helpers import bilancio

    done = bilancio("jobs", "ls", "--db", "missing-results.db", cwd=tmp_path)
    assert done.returncode == 2
    assert "no database at missing-results.db" in done.stderr  # the user's own path, named
    redaction.register_overrides(["--db", "postgresql://u:Secr3tPw@h/db"])
    assert "Secr3tPw" not in redaction.redact("bad --db postgresql://u:Secr3tPw@h/db")


def test_scrub_keeps_the_shape() -> None:
    config = {
        "storage": {"url": "postgresql://u:pw@h/db", "path": "b.db"},
        "hydra": {"overrides": {"task": ["storage.url=x", "kappa=1"]}},
    }
    assert redaction.scrub(config) == {
        "storage": {"url": "<redacted>", "path": "b.db"},
        "hydra": {"overrides": {"task": ["storage.url=<redacted>", "kappa=1"]}},
    }
