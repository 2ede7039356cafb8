"""Smoke test: the benchmark scripts run and write their JSON (tiny sizes, no timing asserted)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
    pytest.importorskip("arch")
    out = tmp_path / "tail_risk.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_tail_risk.py"), "--quick", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Conditional calibration" in result.stdout
    assert "VaR and ES backtests, fixed design" in result.stdout
    assert "VaR and ES backtests, walk design" in result.stdout
    figures = json.loads(out.read_text())
    records = figures["records"]
    for design, expected in (("fixed", {"hgb"}), ("walk", set())):
        models = {r["model"] for r in records if r["part"] == "sp500" and r["design"] == design}
        assert {"qegm", "twin", "qegm-filtered", "twin-filtered", "garch-t", "gjr-skewt",
                "fhs", "hs250"} | expected <= models
        assert "hgb" not in models or design == "fixed"
    for record in records:
        if record["part"] == "sp500":
            b = record["0.99"]
            assert 0 <= b["kupiec_p"] <= 1 and b["mean_var"] > 0
            assert b["fz0"] is None or (b["as_p"] is not None and 0 < b["as_p"] <= 1)
    walk = next(r for r in records if r["part"] == "sp500" and r["design"] == "walk")
    assert walk["n_refits"] == 2  # 300 quick test days, refit every 150
    dm = [r for r in records if r["part"] == "dm"]
    assert {(r["versus"], r["loss"]) for r in dm} >= {("gjr-skewt", "fz0"), ("twin", "pinball"),
                                                      ("hgb", "pinball")}
    assert all(0 <= r["p_value"] <= 1 and 0 <= r["p_worse"] <= 1 for r in dm)
    # Each QEGM model is compared with its own twin only.
    assert {r["versus"] for r in dm if r["model"] == "qegm-filtered"} & {"twin"} == set()
    assert {r["versus"] for r in dm if r["model"] == "qegm"} & {"twin-filtered"} == set()
    # One coverage and four loss bars per design and level for each of the two models,
    # each printed PASS or FAIL.
    assert len(figures["bars"]) == 2 * 2 * 2 * 5
    assert {b["model"] for b in figures["bars"]} == {"qegm", "qegm-filtered"}
    # The doc's tables again from the JSON, nothing run.
    table = tmp_path / "tables.md"
    again = subprocess.run([sys.executable, str(BENCHMARKS / "bench_tail_risk.py"),
                            "--from-json", str(out), "--markdown", str(table)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Part 2" not in again.stdout  # no backtest ran
    assert re.search(r"(PASS|FAIL)  walk 99% coverage", again.stdout)
    text = table.read_text()
    assert "| qegm-filtered | 1 | 99% |" in text and "| gjr-skewt | 1 | 97.5% |" in text
    assert "| qegm-filtered | twin-filtered |" in text
    assert all(re.search(rf"(PASS|FAIL)  {re.escape(b['bar'])}", result.stdout)
               for b in figures["bars"])


def test_bench_paper_quick_runs_every_model_and_writes_its_outputs(tmp_path):
    out, table, figures = tmp_path / "paper.json", tmp_path / "paper.md", tmp_path / "figures"
    quantum = tmp_path / "controls.md"
    cmd = [sys.executable, str(BENCHMARKS / "bench_paper.py"), "--quick", "--json", str(out),
           "--markdown", str(table), "--figures", str(figures), "--controls-markdown",
           str(quantum)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text())
    cells = {(r["dataset"], r["model"]) for r in payload["records"]}
    for dataset in ("mixture", "sp500-shuffled", "sp500-chrono"):
        for model in ("qegm", "twin", "qegm-qrng", "qegm-nonoise", "qegm-notail",
                      "qegm-categorical", "qegm-product", "gan", "vae", "diffusion", "gmm",
                      "kde", "student-t", "gpd"):
            assert (dataset, model) in cells
    assert ("mixture", "qegm-aer") in cells and ("sp500-chrono", "qegm-aer") not in cells
    # Every family but the parameter-free Student-t was tuned on each dataset it runs on.
    tuned = payload["tuned"]
    assert all(tuned[d][f] for d in tuned for f in tuned[d] if f != "student-t")
    assert all(tuned[d]["gpd"] for d in tuned if d != "intrusion")
    versus = {(t["dataset"], t["versus"]) for t in payload["paired_tests"]}
    assert ("mixture", "twin") in versus and ("sp500-chrono", "qegm-notail") in versus
    assert any(t["best_classical"] for t in payload["paired_tests"])
    assert all(0 <= t["t_p"] <= 1 for t in payload["paired_tests"])
    assert "### Paired comparisons" in table.read_text()
    # The new domains: every model that runs there, and the reason for those that do not.
    rain_models = ("qegm", "twin", "qegm-qrng", "qegm-nonoise", "qegm-notail",
                   "qegm-categorical", "qegm-product", "gan", "vae", "diffusion", "gmm", "kde",
                   "student-t")
    for model in (*rain_models, "gpd"):
        assert ("rainfall-chrono", model) in cells
    for model in rain_models:
        assert ("intrusion", model) in cells
    assert ("intrusion", "gpd") not in cells and "gpd" in payload["skipped"]["intrusion"]
    rain = [r for r in payload["records"] if r["dataset"] == "rainfall-chrono"]
    assert all("tail_kl_low" not in r and r["tail_kl"] >= 0 for r in rain)
    intrusion = [r for r in payload["records"] if r["dataset"] == "intrusion"]
    assert all(0 <= r["scorer_recall"] <= 1 and 0 <= r["hdr90_err"] <= 1 for r in intrusion)
    detections = {(d["model"], d["train"]) for d in payload["detections"]}
    for model in ("qegm", "twin", "qegm-categorical", "qegm-product", "gmm", "iforest", "lof"):
        assert {(model, "normal"), (model, "contaminated")} <= detections
    assert all(0 <= d["ap"] <= 1 and 0 <= d["recall_fpr1"] <= 1 for d in payload["detections"])
    assert {t["versus"] for t in payload["detection_tests"]} >= {"iforest", "lof", "gmm"}
    assert ("intrusion", "twin") in versus and ("rainfall-chrono", "twin") in versus
    assert "### intrusion: anomaly detection" in table.read_text()
    pngs = sorted(p.name for p in figures.iterdir())
    assert pngs == ["domains_intrusion_detection.png", "domains_rainfall_upper_tail.png",
                    "paper_fig5a_coverage.png", "paper_fig5b_mixture_densities.png",
                    "paper_recall.png"]
    assert all((figures / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    # "Is it quantum?": QEGM minus each control, paired on every metric of each table.
    controls = {}
    for t in payload["controls_tests"]:
        controls.setdefault((t["dataset"], t["versus"]), set()).add(t["metric"])
    for dataset in ("mixture", "sp500-shuffled", "sp500-chrono", "rainfall-chrono", "intrusion"):
        for model in ("qegm-categorical", "qegm-product", "qegm-toronto", "twin"):
            assert {"tail_kl", "recall", "precision", "fit_s"} <= controls[(dataset, model)]
    assert {"tail_kl_low", "cov99", "q0.1", "mode_mid", "loglik"} <= controls[
        ("mixture", "qegm-product")]
    assert {"tail_kl_1", "q99", "q99.9"} <= controls[("rainfall-chrono", "qegm-categorical")]
    assert {"scorer_recall", "hdr90_err"} <= controls[("intrusion", "qegm-product")]
    for regime in ("normal", "contaminated"):
        for model in ("qegm-categorical", "qegm-product", "qegm-toronto"):
            assert controls[(f"intrusion detection, {regime}", model)] == {"ap", "recall_fpr1"}
    text = quantum.read_text()
    assert ("| metric | qegm − qegm-categorical | qegm − qegm-product | qegm − qegm-toronto | "
            "qegm − twin |") in text
    assert text.count("### ") == 6  # five datasets and the intrusion detection
    # --from-json runs nothing and writes the same tables from the saved records.
    merged, again = tmp_path / "merged.json", tmp_path / "again.md"
    cmd = [sys.executable, str(BENCHMARKS / "bench_paper.py"), "--from-json", str(out),
           "--json", str(merged), "--controls-markdown", str(again)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert again.read_text() == text
    assert json.dumps(json.loads(merged.read_text())["controls_tests"]) == json.dumps(
        payload["controls_tests"])
    # A cell in two runs is kept once if it reproduced exactly, and refused otherwise.
    def merge(*paths):
        return subprocess.run([sys.executable, str(BENCHMARKS / "bench_paper.py"),
                               "--from-json", *map(str, paths), "--controls-markdown",
                               str(again)], capture_output=True, text=True, timeout=120)

    result = merge(out, out)
    assert result.returncode == 0, result.stderr
    assert again.read_text() == text
    changed = json.loads(out.read_text())
    changed["records"][0]["tail_kl"] += 1e-9
    other = tmp_path / "other.json"
    other.write_text(json.dumps(changed))
    result = merge(out, other)
    assert result.returncode != 0 and "merged only if it reproduced exactly" in result.stderr


def test_bench_paper_runs_only_the_datasets_asked_for(tmp_path):
    out, figures = tmp_path / "domains.json", tmp_path / "figures"
    cmd = [sys.executable, str(BENCHMARKS / "bench_paper.py"), "--quick", "--datasets",
           "rainfall-chrono", "--models", "qegm", "gmm", "--json", str(out), "--figures",
           str(figures)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text())
    assert {(r["dataset"], r["model"]) for r in payload["records"]} == {
        ("rainfall-chrono", "qegm"), ("rainfall-chrono", "gmm")}
    assert "detections" not in payload
    # The paper's figures are not redrawn without the paper's datasets.
    assert sorted(p.name for p in figures.iterdir()) == ["domains_rainfall_upper_tail.png"]


def test_bench_metrics_runs_and_writes_json(tmp_path):
    out = tmp_path / "metrics.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_metrics.py"), "--quick", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Target tail KL" in result.stdout
    figures = json.loads(out.read_text())
    # The fast KDE and a KDE of every row agree below MAX_KDE_POINTS rows.
    for record in figures["tail_kl"]:
        assert record["kl"] == pytest.approx(record["full_kde_kl"], rel=1e-9)
    assert all(np.isfinite(r["neg_coverage_error"]) for r in figures["scorers"])


def test_bench_tail_risk_speed_part_prints_the_ratios(tmp_path):
    out = tmp_path / "speed.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_tail_risk.py"), "--quick", "--parts", "speed",
           "--repeats", "1", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "ratio" in result.stdout
    speed = json.loads(out.read_text())["records"][0]
    cpu = speed["cpu"]
    assert cpu["ratio"] == pytest.approx(cpu["quantum"] / cpu["gaussian"])


def test_bench_regime_runs_both_settings(tmp_path):
    out = tmp_path / "regime.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_regime.py"), "--quick", "--latents",
           "quantum", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    records = json.loads(out.read_text())["records"]
    expected = {(part, weights) for part in ("simulated", "sp500")
                for weights in ("shared", "conditional")}
    assert {(r["part"], r["weights"]) for r in records} == expected


def test_bench_scale_runs_and_writes_json(tmp_path):
    out = tmp_path / "scale.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_scale.py"), "--quick", "--section", "api",
           "--section", "rows", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Public API vs simulator" in result.stdout and "Rows (default" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["machine"]["device"].split()[0] in ("cpu", "cuda")
    api = figures["api"]
    assert all(v > 0 for v in api["per_s"].values()) and api["gflops"]["matmul"] > 0
    records = figures["rows"]
    assert {(r["model"], r["n_rows"]) for r in records} == {
        (m, n) for m in ("qegm", "tail_risk") for n in (2_000, 4_000)}
    assert all(r["epoch_s"] > 0 and r["rss_fit"] >= r["rss_data"] > 0 for r in records)


def test_bench_scale_gpu_section_runs_its_code_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_scale.py"), "--quick", "--section", "gpu",
           "--device", "cpu", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Exact simulator, <Z>" in result.stdout and "Fits (" in result.stdout
    records = json.loads(out.read_text())["gpu"]
    simulated = [r for r in records if r["part"] == "simulator"]
    assert [r["n_qubits"] for r in simulated] == [4, 6]
    # One device: both columns are the same computation on the same rows.
    assert all(r["max_difference"] == 0 and r["per_s"]["api"] > 0 for r in simulated)
    fits = [(r["model"], r["on"]) for r in records if r["part"] == "fit"]
    assert fits == [("qegm", "cpu")] * 2 + [("tail_risk", "cpu")] * 2
    assert all("error" not in r and r["gpu_peak"] is None
               for r in records if r["part"] == "fit")
    assert records[-1]["part"] == "aer" and "qiskit-aer" in records[-1]["status"]
    if not _has_cuda():
        cmd = [sys.executable, str(BENCHMARKS / "bench_scale.py"), "--quick", "--section",
               "gpu", "--json", str(out)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "torch sees no CUDA device" in result.stdout
        assert json.loads(out.read_text())["gpu"] == []


def _has_cuda():
    import torch

    return torch.cuda.is_available()


@pytest.mark.slow  # starts a loky worker pool twice and, with distributed, a Dask cluster
def test_bench_scale_runs_every_section_and_writes_json(tmp_path):
    out = tmp_path / "scale.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_scale.py"), "--quick", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "n_jobs=1 vs n_jobs=2" in result.stdout and "Fresh interpreters" in result.stdout
    figures = json.loads(out.read_text())
    (grid,) = figures["gridsearch"]
    assert grid["same_cv_results"] and grid["n_jobs2_cold_s"] > 0 and grid["speedup_warm"] > 0
    imports = {r["command"]: r for r in figures["import"]}
    assert imports["import skqegm"]["loaded"] == "[]"
    assert "qiskit" not in imports["a worker's start (first fit and score)"]["loaded"]
    if figures["dask"]:  # distributed installed
        assert figures["dask"][0]["same_cv_results"]
    only = tmp_path / "import.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_scale.py"), "--quick", "--section", "import",
           "--json", str(only)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(only.read_text())) == {"machine", "import"}
