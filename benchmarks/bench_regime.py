"""Regime-aware mixtures (issue 17): TailRiskEstimator with ``mixture_weights`` "conditional"
beside "shared", on validation data only.

What is measured
----------------
Part 1, ``simulated``: a regime-switching target whose crash probability depends on a
feature. ``x ~ U(-1.5, 1.5)^2``; a crash happens with probability
``p(x) = sigmoid(-3 + 2 x_0)`` (1% to 50%); a crash draws ``y ~ N(-4, 1)``, a calm day
``y ~ N(0, 1)`` (the components do not move with ``x``: only their weights do).
``--train`` rows to fit, 20,000 fresh rows to score. Scores: the mean absolute error
of ``predict_tail_proba`` against the true ``P(y < t | x)`` at the fitted lower
threshold ``t`` (2.5% tail), also relative to the mean true probability, their
correlation, and the held-out mean log-likelihood. At that threshold the true tail
probability is nearly ``p(x) Phi(t + 4)``: recovering it is recovering the regime
probability's dependence on ``x``.

Part 2, ``sp500``: ``load_sp500_returns`` with ``make_lagged_features``, fitted on
1999-2012 and scored on 2013-2014 (the validation years; the 2015-2018 test years are
not touched). Scores at 97.5% and 99%: the pinball loss of the VaR quantile and the
FZ0 loss of (VaR, ES) (Patton, Ziegel & Chen 2019; lower is better), and the held-out
mean log-likelihood.

Models: ``TailRiskEstimator(latent=..., mixture_weights=...)`` for the quantum latent, the
categorical control and the twin, package defaults otherwise, ``--seeds`` seeds each.

Run ``python benchmarks/bench_regime.py`` (about 8 minutes on 2 cores: its two parts took
131 s and 329 s on 2026-12-07) or ``--quick``.
``--json PATH`` writes every figure.
"""

import argparse
import json
import platform
import sys
import time
import warnings

import numpy as np
from _options import at_least, check_output_folders  # this folder is on sys.path
from scipy import stats
from scipy.special import expit

from skqegm import TailRiskEstimator, __version__
from skqegm.datasets import load_sp500_dates, load_sp500_returns
from skqegm.metrics import fz0_loss, var_pinball_loss
from skqegm.preprocessing import make_lagged_features

LEVELS = (0.975, 0.99)
LATENTS = ("quantum", "categorical", "gaussian")
WEIGHTS = ("shared", "conditional")
FIT_END, VALIDATION_END = np.datetime64("2013-01-01"), np.datetime64("2015-01-01")
CRASH_MEAN = -4.0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=["simulated", "sp500"],
                        choices=["simulated", "sp500"])
    parser.add_argument("--seeds", type=at_least(1), default=3)
    parser.add_argument("--latents", nargs="+", default=list(LATENTS), choices=LATENTS)
    parser.add_argument("--train", type=at_least(1), default=5000)
    parser.add_argument("--quick", action="store_true", help="toy sizes, for a smoke test")
    parser.add_argument("--json", metavar="PATH", help="write every figure to this file")
    args = parser.parse_args(argv)
    check_output_folders(parser, args, ("json",))
    return args


def crash_probability(X):
    """The true ``P(crash | x)`` of the simulated regimes."""
    return expit(-3.0 + 2.0 * X[:, 0])


def simulate(n, rng):
    X = rng.uniform(-1.5, 1.5, size=(n, 2))
    crash = rng.uniform(size=n) < crash_probability(X)
    y = np.where(crash, rng.normal(CRASH_MEAN, 1.0, size=n), rng.normal(0.0, 1.0, size=n))
    return X, y


def true_cdf(t, X):
    p = crash_probability(X)
    return p * stats.norm.cdf(t, CRASH_MEAN) + (1 - p) * stats.norm.cdf(t)


def fit(latent, weights, seed, X, y, max_epochs):
    model = TailRiskEstimator(latent=latent, mixture_weights=weights, max_epochs=max_epochs,
                              random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    return model, time.perf_counter() - start


def simulated(args):
    n_train, n_test = (600, 2000) if args.quick else (args.train, 20000)
    max_epochs = 3 if args.quick else 200
    records = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        X, y = simulate(n_train, rng)
        X_test, y_test = simulate(n_test, rng)
        for latent in args.latents:
            for weights in WEIGHTS:
                model, fit_s = fit(latent, weights, seed, X, y, max_epochs)
                t = model.tail_threshold_[0, 0]
                tail, truth = model.predict_tail_proba(X_test), true_cdf(t, X_test)
                records.append({
                    "part": "simulated", "seed": seed, "latent": latent, "weights": weights,
                    "fit_s": fit_s, "epochs": model.n_iter_,
                    "tail_mae": float(np.mean(np.abs(tail - truth))),
                    "tail_rel_error": float(np.mean(np.abs(tail - truth)) / np.mean(truth)),
                    "tail_corr": float(np.corrcoef(tail, truth)[0, 1]),
                    "log_score": model.score(X_test, y_test),
                })
                print_progress(records[-1])
    return records


def sp500(args):
    returns, dates = load_sp500_returns(), load_sp500_dates()
    X, y = make_lagged_features(returns)
    row_dates = dates[len(returns) - len(y):]
    fit_end, val_end = np.searchsorted(row_dates, [FIT_END, VALIDATION_END])
    if args.quick:
        X, y, fit_end, val_end = X[fit_end - 600:val_end], y[fit_end - 600:val_end], 600, \
            600 + val_end - fit_end
    X_fit, y_fit, X_val, y_val = X[:fit_end], y[:fit_end], X[fit_end:val_end], y[fit_end:val_end]
    max_epochs = 3 if args.quick else 200
    records = []
    for seed in range(args.seeds):
        for latent in args.latents:
            for weights in WEIGHTS:
                model, fit_s = fit(latent, weights, seed, X_fit, y_fit, max_epochs)
                row = {"part": "sp500", "seed": seed, "latent": latent, "weights": weights,
                       "fit_s": fit_s, "epochs": model.n_iter_, "n_fit": len(y_fit),
                       "n_val": len(y_val), "log_score": model.score(X_val, y_val)}
                for level in LEVELS:
                    var, es = model.predict_var(X_val, level), model.predict_es(X_val, level)
                    row[f"pinball_{level}"] = var_pinball_loss(y_val, var, level)
                    row[f"fz0_{level}"] = fz0_loss(y_val, var, es, level)
                    row[f"rate_{level}"] = float(np.mean(y_val < -var))
                records.append(row)
                print_progress(row)
    return records


def print_progress(record):
    figures = {k: v for k, v in record.items()
               if k.startswith(("tail_", "log_score", "pinball", "fz0", "fit_s"))}
    print(f"  {record['part']} {record['latent']} {record['weights']} seed={record['seed']}: "
          + ", ".join(f"{k}={v:.5g}" for k, v in figures.items()), flush=True)


def print_tables(records):
    for part, keys in (("simulated", ("tail_mae", "tail_rel_error", "tail_corr", "log_score")),
                       ("sp500", ("log_score", "pinball_0.975", "fz0_0.975", "pinball_0.99",
                                  "fz0_0.99", "rate_0.975", "rate_0.99"))):
        rows = [r for r in records if r["part"] == part]
        if not rows:
            continue
        print(f"\n{part}: mean (standard error) over seeds\n")
        print("| latent | mixture_weights | " + " | ".join(keys) + " | fit s |")
        print("|---" * (len(keys) + 3) + "|")
        for latent in LATENTS:
            for weights in WEIGHTS:
                group = [r for r in rows if r["latent"] == latent and r["weights"] == weights]
                if not group:
                    continue
                cells = []
                for key in keys + ("fit_s",):
                    values = np.array([r[key] for r in group])
                    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0
                    scale = 1e4 if key.startswith("pinball") else 1
                    cells.append(f"{scale * values.mean():.4g} ({scale * se:.2g})")
                print(f"| {latent} | {weights} | " + " | ".join(cells) + " |")
        if part == "sp500":
            print("\n(pinball x 1e4; FZ0 in its own units; rate = VaR exceedance rate)")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.seeds = 1
    start = time.perf_counter()
    records = []
    if "simulated" in args.parts:
        print("Part 1: simulated regimes, crash probability sigmoid(-3 + 2 x0)")
        records += simulated(args)
    if "sp500" in args.parts:
        print("Part 2: S&P 500, fit 1999-2012, validation 2013-2014")
        records += sp500(args)
    print_tables(records)
    wall = time.perf_counter() - start
    print(f"\nWall time {wall:.0f} s; skqegm {__version__}, python {platform.python_version()}.")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "wall_s": wall, "records": records}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
