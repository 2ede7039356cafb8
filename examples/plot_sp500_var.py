"""
===================================================
S&P 500 Value-at-Risk and expected shortfall
===================================================

A :class:`~skqegm.TailRiskEstimator` learns the distribution of tomorrow's S&P 500 return
given lagged returns and recent volatility. We fit it on 1999-2014, forecast the 99% and
97.5% one-day Value-at-Risk (VaR) and expected shortfall (ES) for every trading day of
2015-2018, and backtest the forecasts beside its classical twin (Gaussian latent) and
250-day historical simulation, the textbook reference. Finally we check the calibration of
its prediction intervals.
"""

# %%
# Data: lagged features, split in time
# ------------------------------------
# :func:`~skqegm.preprocessing.make_lagged_features` turns the daily log returns into
# features that use only past data (returns 1, 2 and 5 days back, and 5- and 22-day
# rolling volatilities); the target is the day's return. We fit on the days before 2015
# and test on the rest, never shuffling: a VaR model is used forward in time.
#
# ``SKQEGM_EXAMPLES_QUICK=1`` trains for a few epochs only, so that the script runs in
# seconds; the numbers quoted in the text are from the full-size run.
import os

import matplotlib.pyplot as plt
import numpy as np

from skqegm import TailRiskEstimator
from skqegm.baselines import historical_simulation
from skqegm.datasets import load_sp500_dates, load_sp500_returns
from skqegm.metrics import (
    christoffersen_conditional_coverage_test,
    interval_coverage,
    kupiec_pof_test,
    var_exceedances,
)
from skqegm.plotting import plot_coverage_calibration, plot_var_backtest
from skqegm.preprocessing import make_lagged_features

QUICK = os.environ.get("SKQEGM_EXAMPLES_QUICK") == "1"
MAX_EPOCHS = 2 if QUICK else 200
N_SEEDS = 2 if QUICK else 5

returns, dates = load_sp500_returns(), load_sp500_dates()
X, y = make_lagged_features(returns)
offset = len(returns) - len(y)  # row i of X predicts returns[offset + i]
row_dates = dates[offset:]
first = int(np.searchsorted(row_dates, np.datetime64("2015-01-01")))
X_train, y_train, X_test, y_test = X[:first], y[:first], X[first:], y[first:]
print(f"fit on {first} days ({row_dates[0]} to {row_dates[first - 1]}), "
      f"test on {len(y_test)} days ({row_dates[first]} to {row_dates[-1]})")

# %%
# Models
# ------
# :class:`~skqegm.TailRiskEstimator` has the architecture of a
# :class:`~skqegm.QEGMSampler` (4 qubits, 3 layers on the exact simulator by default) and
# trains it conditionally on the features; its architecture and training parameters are
# its own. Its predictive distribution for each day is a finite Gaussian mixture, so VaR
# and ES are computed exactly from it. The twin is the same estimator with
# ``latent="gaussian"``.
#
# Historical simulation takes each day's VaR and ES from the empirical distribution of
# the previous 250 returns; :func:`~skqegm.baselines.historical_simulation` is the
# implementation used by ``python -m skqegm``.
LEVELS = (0.99, 0.975)


def fit_and_forecast(latent, seed):
    model = TailRiskEstimator(latent=latent, max_epochs=MAX_EPOCHS, random_state=seed)
    model.fit(X_train, y_train)
    return model, {level: (model.predict_var(X_test, level), model.predict_es(X_test, level))
                   for level in LEVELS}


qegm, qegm_forecasts = fit_and_forecast("quantum", seed=0)
twin, twin_forecasts = fit_and_forecast("gaussian", seed=0)
hs_forecasts, _ = historical_simulation(returns, offset + first, levels=LEVELS)
forecasts = {"QEGM": qegm_forecasts, "twin": twin_forecasts, "HS 250": hs_forecasts}

# %%
# Backtest
# --------
# A VaR is a positive loss: day ``t`` is an *exceedance* when its return falls below
# ``-VaR_t`` (:func:`~skqegm.metrics.var_exceedances`). A correct 99% VaR is exceeded on
# 1% of the days, independently from one day to the next.
#
# - :func:`~skqegm.metrics.kupiec_pof_test` tests the exceedance rate;
# - :func:`~skqegm.metrics.christoffersen_conditional_coverage_test` tests the rate and
#   the absence of clusters of exceedances together.
#
# Small p-values (say below 0.05) reject the VaR. ES has no such simple test; as a sanity
# check we compare the mean ES forecast with the mean realised loss on the exceedance
# days (an ES that is right on average should be close to it).
for level in LEVELS:
    print(f"\n{level:.1%} VaR on {len(y_test)} days: "
          f"{(1 - level) * len(y_test):.1f} exceedances expected")
    print(f"{'':<8}{'VaR %':>7}{'ES %':>7}{'exceed.':>9}{'Kupiec p':>10}{'Christ. p':>11}"
          f"{'loss on exceed. %':>19}{'ES there %':>12}")
    for name, by_level in forecasts.items():
        var, es = by_level[level]
        hits = var_exceedances(y_test, var)  # 1 on the days the VaR was exceeded
        kupiec = kupiec_pof_test(hits, level).p_value
        christoffersen = christoffersen_conditional_coverage_test(hits, level).p_value
        hit_days = hits == 1
        print(f"{name:<8}{100 * var.mean():>7.2f}{100 * es.mean():>7.2f}{hits.sum():>9}"
              f"{kupiec:>10.3f}{christoffersen:>11.3f}{-100 * y_test[hit_days].mean():>19.2f}"
              f"{100 * es[hit_days].mean():>12.2f}")

# %%
# On the full-size run (seed 0), QEGM's 99% VaR is exceeded 13 times (10.1 expected): it
# passes Kupiec's test (p = 0.37) but not the conditional coverage test (p = 0.023); the
# twin's is exceeded 15 times and historical simulation's 18 times, and both fail the
# conditional coverage test too. At 97.5% QEGM is exceeded 18 times (25.2 expected,
# Kupiec p = 0.13), the twin 23 times and historical simulation 38 times, and every model
# fails conditional coverage: the exceedances of 2015-2018 cluster (August 2015, February
# 2018). Every model's ES is below the mean loss actually realised on its exceedance days
# (QEGM at 99%: 2.81% against 3.06%): all three underestimate how bad the bad days are.
#
# The 99% VaR lines over the test years, each exceedance circled. The models' VaR follows
# the recent volatility through the lagged features; historical simulation reacts slowly
# and stays high for a year after a shock.
ax = plot_var_backtest(y_test, {name: f[0.99][0] for name, f in forecasts.items()},
                       dates=row_dates[first:], title="S&P 500: 99% VaR on held-out days")
ax.figure.tight_layout()
plt.show()

# %%
# Read the table with care: 2015-2018 holds about 1,000 days, so a 99% VaR expects about
# 10 exceedances and the tests have little power; a difference of two or three
# exceedances between models is noise. ``doc/benchmarks.md`` ("Tail risk") compares the
# same models with GJR-GARCH(1,1,1) skewed-t over five seeds: close on these years but not
# better, and clearly worse in a walk-forward backtest through 2008.
#
# How much does the fit depend on the seed?
# -----------------------------------------
# A neural model trained with stochastic gradients gives a different VaR for each seed.
# Refit both models with a few seeds, count the 99% exceedances, and keep the coverage
# of their prediction intervals for the next section.
exceedances = {"QEGM": [], "twin": []}
coverages = {"QEGM": [], "twin": []}
NOMINAL = np.array([0.5, 0.7, 0.8, 0.9, 0.95, 0.98])
for seed in range(N_SEEDS):
    for name, latent in (("QEGM", "quantum"), ("twin", "gaussian")):
        if seed == 0:
            model = qegm if name == "QEGM" else twin
        else:
            model = fit_and_forecast(latent, seed)[0]
        var99 = model.predict_var(X_test, 0.99)
        exceedances[name].append(int(var_exceedances(y_test, var99).sum()))
        # The central interval of coverage c runs between the (1 -+ c) / 2 quantiles;
        # one predict_quantiles call gives all of them (predict_interval gives one).
        bounds = model.predict_quantiles(X_test, np.r_[(1 - NOMINAL) / 2, (1 + NOMINAL) / 2])
        coverages[name].append([interval_coverage(y_test, bounds[:, [i, i + len(NOMINAL)]])
                                for i in range(len(NOMINAL))])
for name, counts in exceedances.items():
    print(f"{name}: 99% VaR exceedances for seeds 0-{N_SEEDS - 1}: {counts}")

# %%
# On the full-size run QEGM's 99% VaR is exceeded 11 to 15 times over five seeds (seed 0's
# 13 is typical) and its twin's 13 to 15 times: the seeds differ as much as the models do,
# so a single-seed table says little about which model is better.
#
# Interval calibration
# --------------------
# ``predict_interval(X, coverage)`` gives each day the central interval of its predictive
# distribution (computed above for several coverages at once with ``predict_quantiles``);
# :func:`~skqegm.metrics.interval_coverage` is the share of test days whose return falls
# inside. Calibrated intervals lie on the diagonal; the bars are 95% confidence intervals
# over the seeds. Historical simulation's intervals come from the quantiles of the
# previous 250 returns.
windows = np.lib.stride_tricks.sliding_window_view(returns[:-1], 250)[offset + first - 250:]
hs_coverage = [interval_coverage(y_test, np.quantile(windows, [(1 - c) / 2, (1 + c) / 2],
                                                     axis=1).T) for c in NOMINAL]
ax = plot_coverage_calibration(NOMINAL, {**coverages, "HS 250": hs_coverage},
                               title="S&P 500, 2015-2018: interval calibration")
plt.show()

print(f"{'nominal':<8}" + "".join(f"{c:>7.0%}" for c in NOMINAL))
for name, values in {**coverages, "HS 250": [hs_coverage]}.items():
    print(f"{name:<8}" + "".join(f"{v:>7.3f}" for v in np.mean(values, axis=0)))

# %%
# On the full-size run the intervals of QEGM and of its twin are too wide, by about the
# same amount (about 93% of the days fall inside the 90% intervals, mean of five seeds),
# and historical simulation's are too narrow (about 87%). A plausible reason for the
# first: the neural models condition on recent volatility, but learned the tails of
# 1999-2014, which holds two crises, and 2015-2018 was calmer. We have not tested that
# explanation here.
#
# What this example shows, and what it does not: a ``TailRiskEstimator`` gives usable,
# exactly computed VaR, ES and intervals with the scikit-learn API. On this period the
# quantum-latent model's 99% VaR was exceeded a little less often than its twin's over
# five seeds (11 to 15 times against 13 to 15, for 10.1 expected), and the twin came
# closer to the expected count at 97.5% on seed 0. With about 1,000 test days, gaps of a
# few exceedances are within the noise of the backtests: this is not evidence that
# either latent is better.
