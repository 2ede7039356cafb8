"""bench_quantum_layer.py --noise-cache: the device-noise cache's row runs alone and
reports the same cv_results_ with and without the cache."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a process importing torch and qiskit, 5 fits twice
def test_noise_cache_row_runs_alone_and_writes_json(tmp_path):
    out = tmp_path / "cache.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_quantum_layer.py"), "--noise-cache",
           "--cache-device", "FakeManilaV2", "--cache-qubits", "2", "--cache-rows", "12",
           "--cache-folds", "2", "--cache-repeats", "1", "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's skqegm
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "uncached / cached:" in result.stdout and "same cv_results_: True" in result.stdout
    assert "Aer EstimatorV2" not in result.stdout  # the exact-path table is not run
    record = json.loads(out.read_text())["noise_cache"]
    assert record["fits"] == 5 and record["same_cv_results"] is True
    assert record["ratio"] > 0
