"""One exit-code contract for every command (README, "Exit codes"): 0 done, 1 ran but something
failed, 2 nothing was run (bad input, a refused request), 130 SIGINT, 143 SIGTERM.

Bad input is always bilancio's own one-line message naming the parameter, the value and what is
allowed — including what Hydra's override parser and composition reject — never Hydra's text or
a traceback, and nothing is written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .sweep_helpers import REPO, bilancio, rows
from .sweep_helpers import SCRIPT as SCRIPT_PATH
from .sweep_helpers import bilancio as bilancio_cmd


def _one_line_refusal(proc, *expected: str) -> str:
    """``proc``: a finished subprocess, or (exit code, stdout, stderr) of an in-process run."""
    code, out, err = (
        (proc.returncode, proc.stdout, proc.stderr) if hasattr(proc, "stderr") else proc
    )
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and "HYDRA_FULL_ERROR" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("bilancio: "), err
    assert all(line == "Nothing was run or written." for line in lines[1:]), err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@pytest.fixture
def refused(in_process, capsys):
    """Run bilancio in this process (a bug would raise here instead of exiting)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = in_process(*args)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


SINGLE_VALUES = [
    ("kappa=abc", ["invalid kappa='abc'", "allowed a finite number > 0"]),
    ("kapa=0.5", ["unknown parameter kapa", "did you mean kappa?"]),
    ("seed=1.0", ["invalid seed=1.0", "integer in [0, 2**63 - 1]"]),
    ("seed=2**70", ["invalid seed='2**70'", "integer in [0, 2**63 - 1]"]),
    ("seed=1180591620717411303424", ["seed=1180591620717411303424", "[0, 2**63 - 1]"]),
    ("rollover=maybe", ["invalid rollover='maybe'", "allowed true or false"]),
    ("kappa=", ["invalid kappa=''", "allowed a finite number > 0"]),
    ("n_agents=五十", ["invalid n_agents='五十'", "integer in [3, 1,000,000]"]),
    ("n_agents=10000000", ["n_agents=10000000", "integer in [3, 1,000,000]"]),
    ("concentration=0.0001", ["concentration=0.0001", ">= 0.01"]),
    (
        "market.risk.enabeld=false",
        ["unknown parameter market.risk.enabeld", "did you mean market.risk.enabled?"],
    ),
    ("market.risk.enabled=perhaps", ["market.risk.enabled='perhaps'", "true or false"]),
    # strict: OmegaConf would read yes, on or 1 as true for a bool field
    ("record.trades=yes", ["invalid record.trades='yes'", "allowed true or false"]),
    ("record.trades=1", ["invalid record.trades=1", "allowed true or false"]),
    ("record.trade=true", ["unknown parameter record.trade", "did you mean record.trades?"]),
    ("storage=nosuch", ["invalid storage=nosuch", "allowed postgres, sqlite, supabase"]),
    ("storage.busy_timeout=0", ["invalid storage.busy_timeout=0", "positive number of seconds"]),
    ("job.heartbeat_seconds=-1", ["invalid job.heartbeat_seconds=-1", "seconds in (0, 10^6)"]),
    ("job.id='a;rm -rf x'", ["invalid job.id='a;rm -rf x'", "letters, digits"]),
    ("job.id=../up", ["invalid job.id='../up'", "letters, digits"]),
]


# a single pair writes nothing, so storage and job settings matter only to sweeps
CASES = [
    (mode, override, expected)
    for override, expected in SINGLE_VALUES
    for mode in ("run", "sweep")
    if mode == "sweep" or not override.startswith(("storage.", "job."))
]


@pytest.mark.parametrize(
    ("mode", "override", "expected"), CASES, ids=[f"{m}-{o}" for m, o, _ in CASES]
)
def test_bad_single_values(refused, tmp_path: Path, mode, override, expected) -> None:
    args = [override] if mode == "run" else ["-m", "kappa=0.5,1", "n_agents=20", override]
    _one_line_refusal(refused(*args), *expected)
    assert not (tmp_path / "bilancio.db").exists()


def test_the_installed_command_refuses_the_same_way(tmp_path: Path) -> None:
    for override, expected in SINGLE_VALUES[:3]:
        _one_line_refusal(bilancio(override, cwd=tmp_path), *expected)
    _one_line_refusal(bilancio("-m", "kappa=range(1,1)", cwd=tmp_path), "the sweep is empty")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-m", "kappa=range(1,1)"], ["the sweep is empty: kappa=range(1,1) gives no values"]),
        (["-m", "storage=glob(nomatch*)"], ["the sweep is empty: storage=glob(nomatch*)"]),
        (["-m", "kappa=interval(0.2,5)"], ["kappa=interval(0.2,5) is a continuous range"]),
        (["-m", "mu=0.5,1.5", "kappa=1,2"], ["invalid mu=1.5", "[0, 1]"]),
        (["-m", "kappa=0.5,abc"], ["invalid kappa='abc': allowed a finite number > 0"]),
        (["-m", "kapa=0.5,1"], ["unknown parameter kapa; did you mean kappa?"]),
        (["-m", "kappa=1,2", "hydra.sweeper.max_pairs=1"], ["2 pairs", "max_pairs=1"]),
        (["-m", "--cfg", "job"], ["Only one of --run, --multirun, --cfg"]),
        (["--config-dir", "/no/such/folder"], ["/no/such/folder", "not found"]),
        (["-m", "kappa=0.5,1", "hydra/launcher=nosuch"], ["hydra/launcher=nosuch", "pool"]),
        (["-m", "kappa=0.5,1", "hydra.job.heartbeat=x"], ["unknown parameter hydra.job"]),
    ],
)
def test_bad_sweeps(refused, tmp_path: Path, args: list[str], expected: list[str]) -> None:
    _one_line_refusal(refused(*args, "n_agents=20"), *expected)
    assert not (tmp_path / "bilancio.db").exists()


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("hydra.launcher.n_jobs=0", "hydra.launcher.n_jobs=0"),
        ("hydra.launcher.n_jobs=-2", "hydra.launcher.n_jobs=-2"),
        ("hydra.launcher.chunksize=0", "hydra.launcher.chunksize=0"),
        ("hydra.launcher.chunksize=-1", "hydra.launcher.chunksize=-1"),
        ("+cloud=modal hydra.launcher.parallelism=0", "hydra.launcher.parallelism=0"),
        ("+cloud=modal hydra.launcher.retries=11", "hydra.launcher.retries=11"),
        ("+cloud=modal hydra.launcher.timeout=100000", "hydra.launcher.timeout=100000"),
        ("+cloud=modal hydra.launcher.batch_size=0", "hydra.launcher.batch_size=0"),
        ("+cloud=modal hydra.launcher.mode=fast", "hydra.launcher.mode='fast'"),
    ],
)
def test_launcher_options_are_checked_before_the_job_row(refused, tmp_path, option, expected):
    launcher = [] if "cloud=modal" in option else ["hydra/launcher=pool"]
    proc = refused("-m", "kappa=0.5,1", "n_agents=20", *launcher, *option.split())
    _one_line_refusal(proc, expected)
    assert not (tmp_path / "bilancio.db").exists()


def test_a_large_sweep_says_its_size_and_cost_before_planning(tmp_path: Path) -> None:
    # 12,000 pairs, the first of which is invalid: the estimate comes first, then the refusal
    proc = bilancio(
        "-m", "mu=1.5,0.5", "kappa=range(1,6001)", "n_agents=200", "job.id=big", cwd=tmp_path
    )
    assert proc.returncode == 2
    estimate = proc.stderr.splitlines()[0]
    assert "a large sweep: 12,000 pairs" in estimate and "core-hours" in estimate
    assert "GB in the database" in estimate and "MB of job records (one file" in estimate
    assert "invalid mu=1.5" in proc.stderr
    assert not (tmp_path / "bilancio.db").exists()


def test_the_subcommands_follow_the_contract(tmp_path: Path) -> None:
    assert bilancio("-m", "kappa=0.5,1", "n_agents=20", "job.id=ok", cwd=tmp_path).returncode == 0
    for args in (
        ("jobs", "show", "no-such-job"),
        ("jobs", "ls", "--db", "missing.db"),
        ("jobs", "frobnicate"),
        ("report", "no-such-job", "-o", "r.html"),
        ("rerun", "no-such-job"),
        ("rerun", "ok", "--db", "missing.db"),
        ("db", "status"),  # no URL anywhere
        ("db", "migrate", "--db", "missing.db"),
        ("jobs", "export", "no-such-job", "-o", "x.csv"),
    ):
        proc = bilancio(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr, args
    assert not (tmp_path / "missing.db").exists()
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "r.html").exists()
    assert bilancio("jobs", "show", "ok", cwd=tmp_path).returncode == 0
    assert rows(tmp_path / "bilancio.db", "SELECT COUNT(*) AS n FROM jobs")[0]["n"] == 1


def test_the_readme_states_the_contract() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    codes = {int(c) for c in re.findall(r"^\| `(\d+)` \|", section, flags=re.M)}
    assert codes == {0, 1, 2, 130, 143}


MISSING = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None  # as in an install without the extra
sys.argv = ["bilancio", *sys.argv[2:]]
from bilancio.cli import main
main()
"""


@pytest.mark.parametrize(
    ("missing", "args", "extra"),
    [
        ("psycopg", ["-m", "kappa=0.5,1", "storage=postgres"], "postgres"),
        ("psycopg", ["db", "status", "--url", "postgresql://u@127.0.0.1:1/x"], "postgres"),
        ("psycopg", ["jobs", "ls", "--postgres", "postgresql://u@127.0.0.1:1/x"], "postgres"),
        ("supabase", ["-m", "kappa=0.5,1", "storage=supabase"], "cloud"),
        ("supabase", ["jobs", "ls", "--cloud"], "cloud"),
        ("modal", ["-m", "kappa=0.5,1", "+cloud=modal"], "cloud"),
    ],
)
def test_a_missing_extra_is_named_not_a_traceback(tmp_path: Path, missing, args, extra) -> None:
    import subprocess
    import sys

    env = {"BILANCIO_SUPABASE_URL": "https://x.supabase.co", "BILANCIO_SUPABASE_ANON_KEY": "k"}
    proc = subprocess.run(
        [sys.executable, "-c", MISSING, missing, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, **env},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"pip install 'bilancio[{extra}]'" in proc.stderr, proc.stderr
    assert not (tmp_path / "bilancio.db").exists()


def test_a_supabase_url_without_its_scheme(tmp_path: Path) -> None:
    import os

    env = {
        **os.environ,
        "BILANCIO_SUPABASE_URL": "myproject.supabase.co",
        "BILANCIO_SUPABASE_SERVICE_KEY": "service-key-ABCDEF123456",
    }
    for args in (("-m", "kappa=0.5,1", "storage=supabase"), ("jobs", "ls", "--cloud")):
        proc = __import__("subprocess").run(
            [str(SCRIPT_PATH), *args], cwd=tmp_path, capture_output=True, text=True, env=env
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "https://<project>.supabase.co" in proc.stderr
        assert "ABCDEF123456" not in proc.stderr


def test_version(tmp_path: Path) -> None:
    import hydra

    import bilancio

    proc = bilancio_cmd("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"bilancio {bilancio.__version__} (Hydra {hydra.__version__})"


def test_a_sweep_without_database_credentials_names_its_own_settings(tmp_path: Path) -> None:
    """A sweep has no --url flag: it is told of storage.url and the environment variables."""
    import os

    names = ("BILANCIO_DATABASE_URL", "BILANCIO_SUPABASE_URL", "BILANCIO_SUPABASE_SERVICE_KEY")
    bare = {k: v for k, v in os.environ.items() if k not in names}
    run = __import__("subprocess").run
    cmd = [str(SCRIPT_PATH), "-m", "kappa=0.5,1", "n_agents=12"]
    proc = run([*cmd, "storage=postgres"], cwd=tmp_path, capture_output=True, text=True, env=bare)
    line = _one_line_refusal(proc, "BILANCIO_DATABASE_URL", "storage.url")
    assert "--url" not in line
    proc = run([*cmd, "storage=supabase"], cwd=tmp_path, capture_output=True, text=True, env=bare)
    _one_line_refusal(proc, "BILANCIO_SUPABASE_URL", "BILANCIO_SUPABASE_SERVICE_KEY")
    anon = {**bare, "BILANCIO_SUPABASE_URL": "https://x.supabase.co"}
    anon["BILANCIO_SUPABASE_ANON_KEY"] = "anon-key-SECRET123"
    proc = run([*cmd, "storage=supabase"], cwd=tmp_path, capture_output=True, text=True, env=anon)
    line = _one_line_refusal(proc, "BILANCIO_SUPABASE_SERVICE_KEY", "the anon key can only read")
    assert "SECRET123" not in proc.stderr + proc.stdout
    assert list(tmp_path.iterdir()) == []
    # a read command keeps its flag
    proc = run(
        [str(SCRIPT_PATH), "db", "status"], cwd=tmp_path, capture_output=True, text=True, env=bare
    )
    assert proc.returncode == 2 and "--url" in proc.stderr
