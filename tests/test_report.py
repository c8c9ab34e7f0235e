"""``bilancio report JOB_ID -o report.html``: a self-contained page with the three plots."""

from __future__ import annotations

import base64
import re

from .sweep_helpers import bilancio


def test_report_holds_the_plots(tmp_path) -> None:
    sweep = bilancio(
        "-m",
        "kappa=0.5,1,2",
        "mu=0,1",
        "concentration=0.5,2",
        "n_agents=20",
        "default_handling=expel-agent",
        "job.id=grid",
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr
    out = tmp_path / "report.html"
    proc = bilancio("report", "grid", "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "Job grid" in page
    for title in ("Trading effect", "δ passive against δ active", "δ against κ, by μ"):
        assert f"<h2>{title}</h2>" in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "job_metrics: 12 pairs" in page
    assert 'src="http' not in page and "<script" not in page and "<link" not in page
    assert bilancio("report", "nope", "-o", str(out), cwd=tmp_path).returncode == 2
