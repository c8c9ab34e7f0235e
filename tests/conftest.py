"""Shared fixtures: where the reference data lives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE = Path(os.environ.get("BILANCIO_REFERENCE_DIR", REPO.parent / "shared" / "reference"))


def load_reference(name: str):
    path = REFERENCE / name
    if not path.exists():
        pytest.fail(f"reference file {path} is missing (set BILANCIO_REFERENCE_DIR)")
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return path.read_text()
