"""TailRiskEstimator against classical tail-risk models: conditional intervals and VaR backtests.

What is measured
----------------
Part 1, ``hetero``: conditional calibration. ``y = sigma(x) * t_4`` with three features
``x ~ U(-1.5, 1.5)^3`` and ``sigma(x) = exp(x_0 / 2)`` (one shape per seed, below),
``--hetero-train`` training rows and 5,000 held-out rows per seed. Models:

* ``qegm``  ``TailRiskEstimator()`` (the quantum latent, package defaults);
* ``twin``  ``TailRiskEstimator(latent="gaussian")``;
* ``hgb``   one ``HistGradientBoostingRegressor(loss="quantile")`` per interval bound, a
  strong classical conditional-quantile baseline (default settings).

Scores: empirical coverage of the central 80% / 90% / 95% intervals and the largest
deviation from nominal (the issue's bar: within 0.03), the correlation of the 90% width
with ``sigma(x)``, and the median ratio of that width to the true one.

Part 2, ``sp500``: VaR backtests on ``load_sp500_returns`` with the features of
``make_lagged_features`` (lags 1, 2, 5; 5- and 22-day volatility). Every model is fitted
on 1999-2014 only and forecasts each day of 2015-2018 from the data before it:

* ``qegm`` / ``twin`` as above (``--seeds`` seeds each);
* ``garch-t``: GARCH(1,1) with a constant mean and Student-t innovations (the ``arch``
  package), parameters estimated on 1999-2014 and then filtered through the test days
  (one-step-ahead variance forecasts, no refit);
* ``hs250``: historical simulation on the previous 250 returns;
* ``hgb``: gradient-boosted quantile regression on the same features (VaR only; it
  gives no expected shortfall).

Scores at 97.5% and 99%: mean VaR, exceedances and their rate, Kupiec's POF p-value,
Christoffersen's independence and conditional-coverage p-values, the mean quantile
(pinball) loss of the VaR (a proper score: lower is better), the mean ES, and fit time.

Part 3, ``speed``: fit time of the quantum latent beside its twin's (issue 18's bar: within
1.5x), on the main job's data (``python -m skqegm``: S&P 500 1999-2014, its features and
default settings). :func:`fit_time_ratio` fits the twin and then the quantum model
``--repeats`` times in turn, a fixed number of epochs without early stopping (so that
both run the same epochs), and prints the median seconds per fit, wall clock and CPU
(process time, less sensitive to other processes on a shared machine), with their ratio;
then one fit of each as the main job runs it (early stopping), whose ratio also depends
on the epochs each ran. It is not in the default ``--parts``: run
``--parts speed`` (about 2 minutes).

Run ``python benchmarks/bench_tail_risk.py`` (about 5 minutes on 2 cores) or ``--quick``
for a smoke test. ``--json PATH`` writes every figure.
"""

import argparse
import json
import platform
import sys
import time
import warnings

import numpy as np
from scipy import stats
from sklearn.ensemble import HistGradientBoostingRegressor

from skqegm import TailRiskEstimator, __version__
from skqegm.baselines import historical_simulation
from skqegm.datasets import load_sp500_dates, load_sp500_returns
from skqegm.metrics import (
    christoffersen_conditional_coverage_test,
    christoffersen_independence_test,
    interval_coverage,
    kupiec_pof_test,
    var_exceedances,
)
from skqegm.preprocessing import make_lagged_features

LEVELS = (0.975, 0.99)
COVERAGES = (0.8, 0.9, 0.95)
SIGMAS = {
    "exp(x0/2)": lambda X: np.exp(0.5 * X[:, 0]),
    "0.3+|x0|": lambda X: 0.3 + np.abs(X[:, 0]),
    "1+x0^2+x1/2": lambda X: 1 + X[:, 0] ** 2 + 0.5 * X[:, 1],
}
TEST_START = np.datetime64("2015-01-01")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=["hetero", "sp500"],
                        choices=["hetero", "sp500", "speed"])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per model (default 3)")
    parser.add_argument("--hetero-train", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3,
                        help="fits per model of the speed part (default 3)")
    parser.add_argument("--quick", action="store_true", help="toy sizes, for a smoke test")
    parser.add_argument("--json", metavar="PATH", help="write every figure to this file")
    return parser.parse_args(argv)


def tail_risk_models(seed, max_epochs):
    return {
        "qegm": TailRiskEstimator(max_epochs=max_epochs, random_state=seed),
        "twin": TailRiskEstimator(latent="gaussian", max_epochs=max_epochs,
                                  random_state=seed),
    }


def timed_fit(model, X, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    return time.perf_counter() - start


class QuantileBoosting:
    """One gradient-boosted quantile regressor per probability."""

    def __init__(self, probabilities, seed):
        self.models = {p: HistGradientBoostingRegressor(loss="quantile", quantile=p,
                                                        random_state=seed)
                       for p in probabilities}

    def fit(self, X, y):
        for model in self.models.values():
            model.fit(X, y)
        return self

    def quantile(self, X, p):
        return self.models[p].predict(X)


# -- part 1: conditional calibration ----------------------------------------------------------
def hetero(args):
    records = []
    n_train, n_test = (800, 1000) if args.quick else (args.hetero_train, 5000)
    max_epochs = 3 if args.quick else 200
    probabilities = sorted({p for c in COVERAGES for p in ((1 - c) / 2, (1 + c) / 2)})
    for seed in range(args.seeds):
        shape, sigma = list(SIGMAS.items())[seed % len(SIGMAS)]
        rng = np.random.default_rng(seed)
        X = rng.uniform(-1.5, 1.5, size=(n_train + n_test, 3))
        s = sigma(X)
        y = s * rng.standard_t(4, size=len(X))
        train, test = slice(0, n_train), slice(n_train, None)
        true_width = 2 * stats.t.ppf(0.95, 4) * s[test]
        models = {**tail_risk_models(seed, max_epochs),
                  "hgb": QuantileBoosting(probabilities, seed)}
        for name, model in models.items():
            fit_s = timed_fit(model, X[train], y[train])
            if name == "hgb":
                # Separately fitted quantiles can cross: sort them (rearrangement).
                intervals = {c: np.sort(np.column_stack([model.quantile(X[test], (1 - c) / 2),
                                                         model.quantile(X[test], (1 + c) / 2)]),
                                        axis=1)
                             for c in COVERAGES}
            else:
                intervals = {c: model.predict_interval(X[test], c) for c in COVERAGES}
            coverage = {c: interval_coverage(y[test], intervals[c]) for c in COVERAGES}
            width = np.diff(intervals[0.9], axis=1).ravel()
            records.append({
                "part": "hetero", "seed": seed, "sigma": shape, "model": name,
                "n_train": n_train, "fit_s": fit_s,
                "coverage": {str(c): v for c, v in coverage.items()},
                "max_coverage_error": max(abs(v - c) for c, v in coverage.items()),
                "width_sigma_corr": float(np.corrcoef(width, s[test])[0, 1]),
                "width_ratio": float(np.median(width / true_width)),
            })
            print_progress(records[-1])
    return records


# -- part 2: S&P 500 VaR backtests ------------------------------------------------------------
def garch_t(returns, first):
    """VaR and ES per test day from GARCH(1,1)-t estimated on the returns before ``first``."""
    from arch import arch_model

    model = arch_model(100 * returns, mean="Constant", vol="GARCH", p=1, q=1, dist="t")
    start = time.perf_counter()
    fitted = model.fit(last_obs=first, disp="off")
    fit_s = time.perf_counter() - start
    # Row i of the forecast, made at day first - 1 + i, is for day first + i.
    forecast = fitted.forecast(start=first - 1, horizon=1, reindex=False)
    sigma = np.sqrt(forecast.variance.to_numpy()[:-1, 0]) / 100
    mu, nu = fitted.params["mu"] / 100, fitted.params["nu"]
    scale = sigma * np.sqrt((nu - 2) / nu)  # the innovations have unit variance
    out = {}
    for level in LEVELS:
        q = stats.t.ppf(1 - level, nu)
        tail_mean = -stats.t.pdf(q, nu) / (1 - level) * (nu + q * q) / (nu - 1)
        out[level] = (-(mu + scale * q), -(mu + scale * tail_mean))
    return out, fit_s


def backtest(y, by_level, fit_s):
    row = {"fit_s": fit_s}
    for level in LEVELS:
        var, es = by_level[level]
        hits = var_exceedances(y, var)
        quantile = -var
        pinball = np.mean(np.maximum((1 - level) * (y - quantile), level * (quantile - y)))
        row[str(level)] = {
            "mean_var": float(var.mean()),
            "mean_es": None if es is None else float(es.mean()),
            "exceedances": int(hits.sum()),
            "rate": float(hits.mean()),
            "kupiec_p": kupiec_pof_test(hits, level).p_value,
            "independence_p": christoffersen_independence_test(hits).p_value,
            "christoffersen_p": christoffersen_conditional_coverage_test(hits, level).p_value,
            "pinball": float(pinball),
        }
    return row


def sp500(args):
    returns, dates = load_sp500_returns(), load_sp500_dates()
    X, y = make_lagged_features(returns)
    offset = len(returns) - len(y)
    first = int(np.searchsorted(dates[offset:], TEST_START))
    if args.quick:
        first_fit = first - 600  # a shorter training window, same test period
        X, y, offset = X[first_fit:], y[first_fit:], offset + first_fit
        first = 600
    X_train, y_train, X_test, y_test = X[:first], y[:first], X[first:], y[first:]
    max_epochs = 3 if args.quick else 200
    records = []

    def add(name, seed, by_level, fit_s):
        records.append({"part": "sp500", "model": name, "seed": seed,
                        "n_train": first, "n_test": len(y_test),
                        **backtest(y_test, by_level, fit_s)})
        print_progress(records[-1])

    for seed in range(args.seeds):
        for name, model in tail_risk_models(seed, max_epochs).items():
            fit_s = timed_fit(model, X_train, y_train)
            add(name, seed, {lv: (model.predict_var(X_test, lv), model.predict_es(X_test, lv))
                             for lv in LEVELS}, fit_s)
    by_level, fit_s = garch_t(returns, offset + first)
    add("garch-t", None, by_level, fit_s)
    start = time.perf_counter()
    hs, _ = historical_simulation(returns, offset + first, LEVELS)
    add("hs250", None, hs, time.perf_counter() - start)
    boosting = QuantileBoosting([1 - lv for lv in LEVELS], 0)
    fit_s = timed_fit(boosting, X_train, y_train)
    add("hgb", 0, {lv: (-boosting.quantile(X_test, 1 - lv), None) for lv in LEVELS}, fit_s)
    return records


# -- part 3: fit time, quantum beside its twin ------------------------------------------------
def main_job_data(last_train_day=TEST_START):
    """The main job's training rows: lagged features of the S&P 500 before ``last_train_day``."""
    returns, dates = load_sp500_returns(), load_sp500_dates()
    X, y = make_lagged_features(returns)
    first = int(np.searchsorted(dates[len(returns) - len(y):], last_train_day))
    return X[:first], y[:first]


def _timed_fits(model, X, y):
    wall, cpu = time.perf_counter(), time.process_time()
    timed_fit(model, X, y)
    return time.perf_counter() - wall, time.process_time() - cpu


def fit_time_ratio(X, y, max_epochs=20, repeats=3, twin="gaussian", other="quantum",
                   **params):
    """Median fit time of ``latent=other`` over ``latent=twin``, measured side by side.

    Both fit ``max_epochs`` epochs without early stopping, ``repeats`` times each in
    turn (twin, other, twin, ...), with ``params`` (e.g. ``mixture_weights``).

    Returns
    -------
    record : dict
        ``wall`` and ``cpu``: ``{twin: s, other: s, "ratio": other / twin}`` from the
        medians, and the ``load`` (1-minute load average) before and after.
    """
    times = {twin: [], other: []}
    load = [_load()]
    for repeat in range(repeats):
        for latent in (twin, other):
            model = TailRiskEstimator(latent=latent, max_epochs=max_epochs,
                                      early_stopping=False, random_state=repeat, **params)
            times[latent].append(_timed_fits(model, X, y))
    load.append(_load())
    record = {"part": "speed", "max_epochs": max_epochs, "repeats": repeats,
              "params": {k: str(v) for k, v in params.items()}, "load": load}
    for i, clock in enumerate(("wall", "cpu")):
        median = {latent: float(np.median([t[i] for t in ts])) for latent, ts in times.items()}
        record[clock] = {**median, "ratio": median[other] / median[twin]}
    return record


def _load():
    try:
        return round(float(open("/proc/loadavg").read().split()[0]), 2)
    except OSError:  # not Linux
        return None


def speed(args):
    X, y = main_job_data()
    if args.quick:
        X, y = X[-800:], y[-800:]
    epochs = 2 if args.quick else 20
    records = [fit_time_ratio(X, y, epochs, args.repeats)]
    print_speed(records[-1])
    # The main job's fits: early stopping, each its own number of epochs.
    row = {"part": "speed-main-job", "load": [_load()]}
    for latent in ("gaussian", "quantum"):
        model = TailRiskEstimator(latent=latent, max_epochs=3 if args.quick else 200,
                                  random_state=0)
        wall, cpu = _timed_fits(model, X, y)
        row[latent] = {"wall": wall, "cpu": cpu, "epochs": model.n_iter_}
    row["load"].append(_load())
    row["ratio"] = row["quantum"]["wall"] / row["gaussian"]["wall"]
    row["cpu_ratio_per_epoch"] = ((row["quantum"]["cpu"] / row["quantum"]["epochs"])
                                  / (row["gaussian"]["cpu"] / row["gaussian"]["epochs"]))
    print(f"  main job: twin {row['gaussian']['wall']:.1f} s ({row['gaussian']['epochs']} "
          f"epochs), quantum {row['quantum']['wall']:.1f} s ({row['quantum']['epochs']} "
          f"epochs): ratio {row['ratio']:.2f}, CPU per epoch {row['cpu_ratio_per_epoch']:.2f}"
          f" (load {row['load'][0]} -> {row['load'][1]})", flush=True)
    return records + [row]


def print_speed(record):
    print(f"  {record['max_epochs']} epochs x {record['repeats']} fits "
          f"{record['params'] or ''}: "
          + "; ".join(f"{clock} twin {r['gaussian']:.2f} s, quantum {r['quantum']:.2f} s, "
                      f"ratio {r['ratio']:.2f}"
                      for clock, r in ((c, record[c]) for c in ("wall", "cpu")))
          + f" (load {record['load'][0]} -> {record['load'][1]})", flush=True)


# -- output -----------------------------------------------------------------------------------
def print_progress(record):
    figures = {k: v for k, v in record.items() if k in ("max_coverage_error", "fit_s")}
    print(f"  {record['part']} {record['model']} seed={record['seed']}: "
          + ", ".join(f"{k}={v:.3f}" for k, v in figures.items()), flush=True)


def print_tables(records):
    hetero_rows = [r for r in records if r["part"] == "hetero"]
    if hetero_rows:
        print("\nConditional calibration, y = sigma(x) * t_4 (coverage of central intervals on "
              "held-out rows)\n")
        print("| seed | sigma(x) | model | cov 0.80 | cov 0.90 | cov 0.95 | max error | "
              "corr(width, sigma) | width / true | fit s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in hetero_rows:
            cov = r["coverage"]
            print(f"| {r['seed']} | {r['sigma']} | {r['model']} | {cov['0.8']:.3f} | "
                  f"{cov['0.9']:.3f} | {cov['0.95']:.3f} | {r['max_coverage_error']:.3f} | "
                  f"{r['width_sigma_corr']:.3f} | {r['width_ratio']:.3f} | {r['fit_s']:.1f} |")
    sp_rows = [r for r in records if r["part"] == "sp500"]
    if sp_rows:
        print(f"\nS&P 500 VaR backtests: fit 1999-2014 ({sp_rows[0]['n_train']} days), "
              f"test 2015-2018 ({sp_rows[0]['n_test']} days)\n")
        print("| model | seed | level | mean VaR % | mean ES % | exceedances (rate %) | "
              "Kupiec p | indep. p | Christoffersen p | pinball x1e4 | fit s |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in sp_rows:
            for level in LEVELS:
                b = r[str(level)]
                es = "—" if b["mean_es"] is None else f"{100 * b['mean_es']:.2f}"
                print(f"| {r['model']} | {'—' if r['seed'] is None else r['seed']} | "
                      f"{100 * level:g}% | {100 * b['mean_var']:.2f} | {es} | "
                      f"{b['exceedances']} ({100 * b['rate']:.2f}) | {b['kupiec_p']:.3f} | "
                      f"{b['independence_p']:.3f} | {b['christoffersen_p']:.3f} | "
                      f"{1e4 * b['pinball']:.2f} | {r['fit_s']:.1f} |")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.seeds = 1
    start = time.perf_counter()
    # Warm-up: the first fit in a process pays torch's one-off import costs.
    rng = np.random.default_rng(0)
    timed_fit(TailRiskEstimator(max_epochs=1), rng.normal(size=(300, 1)),
              rng.normal(size=300))
    records = []
    if "hetero" in args.parts:
        print("Part 1: conditional calibration")
        records += hetero(args)
    if "sp500" in args.parts:
        print("Part 2: S&P 500 VaR backtests")
        records += sp500(args)
    if "speed" in args.parts:
        print("Part 3: fit time, quantum beside its twin")
        records += speed(args)
    print_tables(records)
    wall = time.perf_counter() - start
    print(f"\nWall time {wall:.0f} s; skqegm {__version__}, python {platform.python_version()}.")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "wall_s": wall, "records": records}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
