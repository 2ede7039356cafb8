"""Smoke test: the benchmark scripts run and write their JSON (tiny sizes, no timing asserted)."""

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_quantum_layer_runs_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_quantum_layer.py"), "--configs", "2x1",
           "--batches", "20", "--methods", "exact", "aer", "--budget", "0.2", "--repeats", "1",
           "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "exact" in result.stdout and "Aer EstimatorV2" in result.stdout
    figures = json.loads(out.read_text())
    methods = {record["method"] for record in figures["records"]}
    assert methods == {"exact", "aer"}
    assert all(record["fwd"]["per_s"] > 0 for record in figures["records"])


def test_bench_sampler_runs_and_writes_json(tmp_path):
    out = tmp_path / "sampler.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_sampler.py"), "--quick", "--models", "qegm",
           "twin", "gmm", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Target fit time qegm <= 1.5x twin" in result.stdout
    figures = json.loads(out.read_text())
    models = [record["model"] for record in figures["records"]]
    assert models == ["true", "qegm", "twin", "gmm"]
    assert all(record["tail_kl"] >= 0 for record in figures["records"])


def test_bench_tail_risk_runs_and_writes_json(tmp_path):
    out = tmp_path / "tail_risk.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_tail_risk.py"), "--quick", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Conditional calibration" in result.stdout and "VaR backtests" in result.stdout
    records = json.loads(out.read_text())["records"]
    sp500 = {r["model"] for r in records if r["part"] == "sp500"}
    assert sp500 == {"qegm", "twin", "garch-t", "hs250", "hgb"}
    for record in records:
        if record["part"] == "sp500":
            assert 0 <= record["0.99"]["kupiec_p"] <= 1 and record["0.99"]["mean_var"] > 0
