"""A short schemathesis run against the real server (scripts/fuzz_api.py does the long one)."""
import subprocess
import sys

from tests.conftest import ROOT


def test_fuzzing_finds_no_server_errors_or_schema_violations():
    run = subprocess.run([sys.executable, "scripts/fuzz_api.py", "--max-examples", "15", "--seed", "7"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 answered 5xx" in run.stdout
