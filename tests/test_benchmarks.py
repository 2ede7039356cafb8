"""Smoke test: the benchmark scripts run and write their JSON (tiny sizes, no timing asserted)."""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def _benchmarks_on_sys_path(monkeypatch):
    """The scripts' folder first on sys.path, as ``python benchmarks/bench_x.py`` puts it:
    a script loaded by path imports its shared modules (``_options``, ``bench_fit``)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.mark.parametrize("script", ["bench_tail_risk.py", "bench_scale.py", "bench_fit.py",
                                    "bench_predict.py"])
def test_benchmark_prints_its_help(script):
    # argparse formats help strings with %: a bare "20%" in one breaks --help.
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")

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
                "fhs", "gjr-evt", "hs250"} | expected <= models
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



def _bench_tail_risk():
    """The benchmark script as a module, for its data functions (nothing is run)."""
    return _script("bench_tail_risk")


def _garch_returns(n, seed=0):
    """GARCH(1,1)-like returns with Student-t shocks: volatility clusters and fat tails."""
    rng = np.random.default_rng(seed)
    returns, var = np.empty(n), 1e-4
    for t in range(n):
        returns[t] = np.sqrt(var * 0.6) * rng.standard_t(5)
        var = 2e-6 + 0.08 * returns[t] ** 2 + 0.9 * var
    return returns


def _write_prices(path, n=1300):
    """A CSV of n daily closing prices with business-day dates; returns the dates."""
    dates = np.busday_offset("2010-01-04", np.arange(n), roll="forward")
    prices = 100 * np.exp(np.cumsum(_garch_returns(n)))
    path.write_text("Date,Close\n" + "".join(f"{d},{p:.4f}\n" for d, p in zip(dates, prices)))
    return dates


def _write_returns(path, n=2000):
    """A CSV of n daily returns without dates."""
    path.write_text("ret\n" + "\n".join(f"{r:.6f}" for r in _garch_returns(n)) + "\n")


def test_bench_tail_risk_runs_on_a_csv_series(tmp_path):
    pytest.importorskip("arch")
    from skqegm.preprocessing import make_lagged_features

    csv, out = tmp_path / "market.csv", tmp_path / "market.json"
    dates = _write_prices(csv)
    cmd = [sys.executable, str(BENCHMARKS / "bench_tail_risk.py"), "--quick", "--csv", str(csv),
           "--column", "Close", "--parts", "sp500", "--designs", "fixed", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Part 2: Close (market.csv) VaR and ES backtests" in result.stdout
    assert "kind: prices" in result.stdout
    assert "Close (market.csv) VaR and ES backtests, fixed design" in result.stdout
    assert "S&P" not in result.stdout
    figures = json.loads(out.read_text())
    # The default split: the last 20% of the feature rows, whose dates are those of the
    # returns (the second price on) less the rows the lagged features need.
    returns = np.diff(np.log(np.loadtxt(csv, delimiter=",", skiprows=1, usecols=1)))
    _, y = make_lagged_features(returns)
    row_dates = dates[1:][len(returns) - len(y):]
    first = len(y) - round(0.2 * len(y))
    data = figures["data"]
    assert (data["csv"], data["column"], data["kind"]) == (str(csv), "Close", "prices")
    assert (data["first_date"], data["last_date"]) == (str(dates[1]), str(dates[-1]))
    assert data["starts"] == {"fixed": {"row": first, "date": str(row_dates[first])}}
    records = [r for r in figures["records"] if r["part"] == "sp500"]
    assert {r["test_start"] for r in records} == {str(row_dates[first])}
    assert {r["series"] for r in records} == {"Close (market.csv)"}
    assert {r["n_train_first"] for r in records} == {600}  # --quick, as for the S&P 500
    tables = tmp_path / "tables.md"
    again = subprocess.run([sys.executable, str(BENCHMARKS / "bench_tail_risk.py"),
                            "--from-json", str(out), "--markdown", str(tables)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Close (market.csv) VaR and ES backtests, fixed design" in again.stdout
    assert tables.read_text().startswith("#### Close (market.csv), fixed design: test ")


def test_bench_tail_risk_refuses_a_bad_start_before_any_fit(tmp_path):
    csv = tmp_path / "market.csv"
    _write_prices(csv)
    cmd = [sys.executable, str(BENCHMARKS / "bench_tail_risk.py"), "--csv", str(csv),
           "--column", "Close", "--parts", "sp500", "--test-start", "2020-01-02"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stdout == ""  # nothing fitted, nothing printed
    assert ("error: --test-start 2020-01-02 is outside the series, whose feature rows run "
            "from 2010-02-04 to 2014-12-26") in result.stderr


def test_bench_tail_risk_splits_a_series_without_dates_by_row(tmp_path):
    bench = _bench_tail_risk()
    assert bench.default_starts(1000) == {"fixed": 800, "walk": 300}
    csv = tmp_path / "returns.csv"
    _write_returns(csv)
    args = bench.build_parser().parse_args(["--csv", str(csv), "--column", "ret"])
    data = bench.market_data(args)
    n_rows = len(data.y)
    assert n_rows == 2000 - 22  # the lagged features need 22 earlier returns
    assert data.starts == {"fixed": n_rows - round(0.2 * n_rows), "walk": round(0.3 * n_rows)}
    # Rows are labelled by the number of their return in the series.
    assert list(data.dates[[0, -1]]) == [22, 1999]
    assert data.source["first_date"] is None
    assert data.source["starts"]["fixed"] == {"row": 1582, "date": None}


def test_bench_tail_risk_drops_rows_without_a_value_on_request(tmp_path):
    bench = _bench_tail_risk()
    csv = tmp_path / "returns.csv"
    _write_returns(csv)
    lines = csv.read_text().splitlines()
    lines[10] = "."  # FRED's mark of a day without a value
    csv.write_text("\n".join(lines) + "\n")
    argv = ["--csv", str(csv), "--column", "ret"]
    with pytest.raises(ValueError, match=r"no value \('\.'\) on line 11; pass missing='drop'"):
        bench.market_data(bench.build_parser().parse_args(argv))
    data = bench.market_data(bench.build_parser().parse_args(argv + ["--missing", "drop"]))
    assert len(data.y) == 2000 - 1 - 22
    assert any(note.startswith("dropped 1 row without a value") for note in data.notes)
    assert data.source["missing"] == "drop" and data.source["notes"] == list(data.notes)
    with pytest.raises(ValueError, match="--missing needs --csv"):
        bench.check_data_options(bench.build_parser().parse_args(["--missing", "drop"]))



def test_sizes_given_beside_quick_win():
    # --quick replaced them: --quick --seeds 5 ran 2 seeds (bench_paper), 1 (tail risk).
    paper, tail = _script("bench_paper"), _bench_tail_risk()
    assert paper.parse_args(["--quick"]).seeds == 2
    args = paper.parse_args(["--quick", "--seeds", "5", "--n-train", "700"])
    assert (args.seeds, args.n_train, args.n_val) == (5, 700, 300)
    _, args = tail.parse_args(["--quick"])
    assert (args.seeds, args.n_draws, args.refit_every, args.hetero_train) == (1, 100, 150, 800)
    _, args = tail.parse_args(["--quick", "--seeds", "3", "--refit-every", "40"])
    assert (args.seeds, args.n_draws, args.refit_every) == (3, 100, 40)

def test_bench_tail_risk_reads_a_csv_as_the_main_job_does(tmp_path):
    # --decimal and --no-dates, which the reader's errors suggest, exist here too.
    bench = _bench_tail_risk()
    csv = tmp_path / "prices.csv"
    prices = 1000 * np.exp(np.cumsum(0.01 * np.random.default_rng(0).standard_normal(2000)))
    csv.write_text("date;close\n" + "".join(
        f"{20000101 + i};{p:,.3f}\n".replace(",", " ").replace(".", ",").replace(" ", ".")
        for i, p in enumerate(prices)))
    argv = ["--csv", str(csv), "--column", "close", "--no-dates"]
    data = bench.market_data(bench.build_parser().parse_args(argv + ["--decimal", ","]))
    np.testing.assert_allclose(data.y[-1],
                               np.log(round(prices[-1], 3) / round(prices[-2], 3)),
                               rtol=1e-9)
    assert data.source["decimal"] == "," and data.source["date_column"] is False
    for options, message in [(["--decimal", ","], "--decimal needs --csv"),
                             (["--no-dates"], "--no-dates needs --csv")]:
        with pytest.raises(ValueError, match=message):
            bench.check_data_options(bench.build_parser().parse_args(options))
    with pytest.raises(ValueError, match="exclude each other"):
        bench.check_data_options(bench.build_parser().parse_args(
            argv + ["--date-column", "date"]))

# 1,300 prices from 2010-01-04 (business days): feature rows from 2010-02-04 to 2014-12-26.
@pytest.mark.parametrize("write, options, message", [
    (_write_prices, ["--designs", "walk", "--walk-start", "1990-01-02"],
     "--walk-start 1990-01-02 is outside the series, whose feature rows run from 2010-02-04"),
    (_write_prices, ["--test-start", "2014-06-02"], "--test-start 2014-06-02 leaves "
     f"{np.busday_count('2014-06-02', '2014-12-27')} test rows in the fixed design; it "
     "needs 250"),
    (_write_prices, ["--test-start", "2011-01-03"], "--test-start 2011-01-03 leaves "
     f"{np.busday_count('2010-02-04', '2011-01-03')} rows to fit on before the fixed design"),
    (_write_prices, ["--designs", "walk"],
     r"the default --walk-start \(row 383 of 1277\) leaves 383 rows"),
    (_write_returns, ["--test-start", "2012-01-02"], "--test-start needs dates"),
], ids=["outside", "short-test", "short-fit", "default-walk-too-early", "no-dates"])
def test_bench_tail_risk_refuses_start_dates_it_cannot_use(tmp_path, write, options, message):
    bench = _bench_tail_risk()
    csv = tmp_path / "series.csv"
    write(csv)
    column = "Close" if write is _write_prices else "ret"
    args = bench.build_parser().parse_args(["--csv", str(csv), "--column", column, *options])
    with pytest.raises(ValueError, match=message):
        bench.market_data(args)

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
    speed, *main_job = json.loads(out.read_text())["records"]
    cpu = speed["cpu"]
    assert cpu["ratio"] == pytest.approx(cpu["quantum"] / cpu["gaussian"])
    # One pair of the main job's fits per seed (--repeats seeds).
    assert [(r["part"], r["seed"]) for r in main_job] == [("speed-main-job", 0)]
    (fits,) = main_job
    assert fits["ratio"] == pytest.approx(fits["quantum"]["wall"] / fits["gaussian"]["wall"])


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


def test_bench_scale_gpu_section_runs_its_code_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, str(BENCHMARKS / "bench_scale.py"), "--quick", "--section", "gpu",
           "--device", "cpu", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Exact simulator, <Z>" in result.stdout and "Fits (" in result.stdout
    figures = json.loads(out.read_text())
    assert set(figures) == {"machine", "gpu"}  # only the sections asked for
    records = figures["gpu"]
    simulated = [r for r in records if r["part"] == "simulator"]
    assert [r["n_qubits"] for r in simulated] == [4, 6]
    # One device: both columns are the same computation on the same rows.
    assert all(r["max_difference"] == 0 and r["per_s"]["api"] > 0 for r in simulated)
    fits = [(r["model"], r["on"]) for r in records if r["part"] == "fit"]
    assert fits == [("qegm", "cpu")] * 2 + [("tail_risk", "cpu")] * 2
    assert all("error" not in r and r["gpu_peak"] is None
               for r in records if r["part"] == "fit")
    (ratio,) = [r for r in records if r["part"] == "fit_ratio"]  # one device: the CPU
    assert ratio["params"]["device"] == "cpu"
    assert ratio["wall"]["ratio"] == pytest.approx(ratio["wall"]["quantum"]
                                                   / ratio["wall"]["gaussian"])
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
    assert "Public API vs simulator" in result.stdout and "Rows (default" in result.stdout
    assert figures["machine"]["device"].split()[0] in ("cpu", "cuda")
    api = figures["api"]
    assert all(v > 0 for v in api["per_s"].values()) and api["gflops"]["matmul"] > 0
    records = figures["rows"]
    assert {(r["model"], r["n_rows"]) for r in records} == {
        (m, n) for m in ("qegm", "tail_risk") for n in (2_000, 4_000)}
    assert all(r["epoch_s"] > 0 and r["rss_fit"] >= r["rss_data"] > 0 for r in records)


def test_bench_fit_times_two_trees_and_compares_their_results(tmp_path):
    # The same checkout twice: the same fits, so the results must be equal bit for bit.
    out = tmp_path / "fit.json"
    root = str(BENCHMARKS.parent)
    cmd = [sys.executable, str(BENCHMARKS / "bench_fit.py"), "--quick", "--models", "vae",
           "--tree", root, "--tree", root, "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "fit-loop throughput" in result.stdout
    records = json.loads(out.read_text())["results"]
    assert [(r["model"], r["identical_to_first"]) for r in records] == [
        ("vae", None), ("vae", "identical")]
    assert all(r["cpu_s"] > 0 and r["loop_rows_per_cpu_s"] > 0 and r["epochs"] == 3
               for r in records)


def test_bench_predict_times_two_trees_and_compares_their_results(tmp_path):
    # The same checkout twice: the same predictions, so they must be equal bit for bit.
    out = tmp_path / "predict.json"
    root = str(BENCHMARKS.parent)
    cmd = [sys.executable, str(BENCHMARKS / "bench_predict.py"), "--quick", "--budget", "0.05",
           "--models", "vae", "diffusion", "--tree", root, "--tree", root, "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Time per call" in result.stdout
    records = json.loads(out.read_text())["results"]
    assert {(r["model"], r["method"]) for r in records} == {
        ("vae", "sample(random_state=1)"), ("vae", "score_samples"),
        ("diffusion", "sample(random_state=1)")}
    assert [r["identical_to_first"] for r in records] == [None, "identical"] * 3
    assert all(r["cpu_ms"] > 0 and r["runs"][0]["calls"] >= 3 for r in records)


def _script(name):
    """A benchmark script as a module (nothing is run)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script, argv, message", [
    # --seeds 0 (or -2) ran nothing and exited 0 after writing an empty table and JSON.
    ("bench_paper", ["--seeds", "0"], r"argument --seeds: must be >= 1; got 0"),
    ("bench_paper", ["--n-train", "-5"], r"argument --n-train: must be >= 1; got -5"),
    ("bench_paper", ["--n-draws", "0"], r"argument --n-draws: must be >= 1; got 0"),
    ("bench_paper", ["--seeds", "2.5"], r"argument --seeds: invalid int value: '2.5'"),
    # Outputs in a folder that does not exist failed after the whole run, losing it.
    ("bench_paper", ["--json", "{missing}/run.json"], r"--json .*: the folder .* does not "
                                                     r"exist"),
    ("bench_paper", ["--markdown", "{missing}/run.md"], r"--markdown .*: the folder"),
    ("bench_tail_risk", ["--seeds", "0"], r"argument --seeds: must be >= 1; got 0"),
    ("bench_tail_risk", ["--refit-every", "0"], r"argument --refit-every: must be >= 1"),
    ("bench_tail_risk", ["--n-draws", "0"], r"argument --n-draws: must be >= 1"),
    # joblib's "n_jobs == 0 in Parallel has no meaning", after the hetero part's fits
    ("bench_tail_risk", ["--n-jobs", "0"], r"argument --n-jobs: must be a positive number "
                                           r"of processes or negative \(-1: every core\)"),
    ("bench_tail_risk", ["--json", "{missing}/run.json"], r"--json .*: the folder .* does not"),
    # ValueError: unknown model 'gmn', a traceback after the first models' fits
    ("bench_sampler", ["--models", "gmm", "gmn"], r"argument --models: invalid choice: 'gmn'"),
    # ran nothing and exited 0
    ("bench_regime", ["--seeds", "0"], r"argument --seeds: must be >= 1; got 0"),
    ("bench_regime", ["--train", "0"], r"argument --train: must be >= 1; got 0"),
    ("bench_regime", ["--json", "{missing}/run.json"], r"--json .*: the folder .* does not"),
    # torch's "set_num_threads expects a positive integer", a traceback
    ("bench_scale", ["--threads", "0"], r"argument --threads: must be >= 1; got 0"),
    ("bench_scale", ["--repeats", "0"], r"argument --repeats: must be >= 1; got 0"),
    ("bench_scale", ["--rows", "100", "-3"], r"argument --rows: must be >= 1; got -3"),
    ("bench_scale", ["--json", "{missing}/run.json"], r"--json .*: the folder .* does not"),
    ("bench_fit", ["--repeats", "0"], r"argument --repeats: must be >= 1; got 0"),
    ("bench_fit", ["--json", "{missing}/run.json"], r"--json .*: the folder .* does not"),
    ("bench_predict", ["--repeats", "0"], r"argument --repeats: must be >= 1; got 0"),
    ("bench_predict", ["--budget", "-1"], r"argument --budget: must be a finite number > 0; "
                                          r"got -1"),
    ("bench_predict", ["--budget", "nan"], r"argument --budget: must be a finite number > 0"),
    ("bench_predict", ["--json", "{missing}/run.json"], r"--json .*: the folder .* does not"),
    ("bench_sampler", ["--n-train", "0"], r"argument --n-train: must be >= 1; got 0"),
    ("bench_sampler", ["--seeds", "0", "-1"], r"argument --seeds: must be >= 0; got -1"),
    ("bench_sampler", ["--json", "{missing}/run.json"], r"--json .*: the folder .* does not"),
    ("bench_metrics", ["--json", "{missing}/run.json"], r"--json .*: the folder .* does not"),
    ("bench_quantum_layer", ["--repeats", "0"], r"argument --repeats: must be >= 1; got 0"),
    ("bench_quantum_layer", ["--budget", "0"], r"argument --budget: must be a finite number"),
    ("bench_quantum_layer", ["--fit-old-epochs", "-1"], r"argument --fit-old-epochs: must be "
                                                       r">= 0"),
    ("bench_quantum_layer", ["--batches", "0"], r"argument --batches: must be >= 1; got 0"),
    ("bench_quantum_layer", ["--configs", "4x0"], r"argument --configs: must be >= 1; got 0"),
    ("bench_quantum_layer", ["--configs", "4"], r"argument --configs: expected QxL, e.g. 4x3"),
    ("bench_quantum_layer", ["--noisy-cases", "FakeLondonV2:0"],
     r"argument --noisy-cases: expected DEVICE:QUBITS, .* with at least 1 qubit"),
    ("bench_quantum_layer", ["--json", "{missing}/run.json"], r"--json .*: the folder .* does"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, capsys, script, argv, message):
    module = _script(script)
    argv = [a.format(missing=tmp_path / "missing") for a in argv]
    entry = module.parse_args if hasattr(module, "parse_args") else module.main
    with pytest.raises(SystemExit) as exit_info:
        entry(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err.splitlines()[-1]), err
