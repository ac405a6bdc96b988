"""The operational scripts run and hold their promises on small settings (the long runs are in docs/)."""
import subprocess
import sys

from tests.conftest import ROOT


def run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_killed_builds_never_harm_the_published_index():
    out = run("scripts/crash_test.py", "--kills", "2", "--copies", "30")
    assert "4 kills survived" in out and "identical to uninterrupted builds: True" in out


def test_rebuilds_publish_under_load_without_failed_requests():
    out = run("scripts/reload_under_load.py", "--clients", "4", "--seconds", "6", "--reloads", "2")
    assert " 0 failed; 2 reloads" in out
