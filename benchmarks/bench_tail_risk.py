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

Part 2, ``sp500``: VaR and ES backtests on ``load_sp500_returns`` (or, with ``--csv``, on
your own series: below) with the features of ``make_lagged_features`` (lags 1, 2, 5; 5-
and 22-day volatility), in two test designs:

* ``fixed``: every model is fitted once on 1999-2014 and forecasts each day of 2015-2018
  from the data before it (no refit);
* ``walk``: walk-forward over 2005-2018 (the 2008 crisis inside the test years) with
  :func:`skqegm.model_selection.walk_forward`: an expanding window, every model refitted
  on all the days before it every ``--refit-every`` days (default 500, about two years),
  the same K for every model. K is set by the cost of the QEGM fits (20-30 s each on a
  loaded 2-core machine, 8 refits x 5 seeds x 3 QEGM models); GARCH and historical
  simulation would afford a refit every 20 days, but a common K keeps the comparison fair
  (every model filters or conditions on the latest returns between refits, GARCH through
  its variance recursion, QEGM through its volatility features, HS through its window).

Models (package defaults, nothing tuned; no figure of the test years chooses anything):

* ``qegm``: ``TailRiskEstimator()`` and ``twin``: ``TailRiskEstimator(latent="gaussian")``,
  ``--seeds`` seeds each (default 5);
* ``qegm-<w>``: ``TailRiskEstimator(mixture_weights=w)`` with the value of
  ``mixture_weights`` that is not the default (the shared, unconditional-weight model or
  the regime-aware one), when the installed skqegm has that parameter;
* ``qegm-filtered`` and ``twin-filtered``: ``FilteredRiskEstimator`` around ``qegm`` and
  ``twin``, the same models fitted on returns (and features) divided by the default
  GJR-GARCH(1,1,1) skewed-t volatility (with arch);
* ``garch-t``: ``GARCHRiskEstimator()``, GARCH(1,1) with Student-t innovations;
* ``gjr-skewt``: ``GARCHRiskEstimator(o=1, dist="skewt")``, GJR-GARCH(1,1,1) with Hansen's
  skewed t, the issue's reference model;
* ``fhs``: ``GARCHRiskEstimator(method="fhs")``, filtered historical simulation;
* ``gjr-evt``: ``GARCHRiskEstimator(o=1, dist="skewt", method="evt")``, McNeil and Frey's
  conditional EVT on the GJR-GARCH filter (a generalized Pareto tail beyond the 10%
  largest standardised losses);
* ``hs250``: ``HistoricalSimulation(window=250)``;
* ``hgb``: gradient-boosted quantile regression on the same features (VaR only, no ES;
  ``fixed`` design only).

Scores at 97.5% and 99%: mean VaR and ES, exceedances and their rate, Kupiec's POF,
Christoffersen's independence and conditional-coverage p-values, Acerbi and Szekely's Z2
and its p-value (the null simulated from each model's ``sample_y`` draws, ``--n-draws``
per day), the mean pinball loss of the VaR and the mean FZ0 loss of (VaR, ES) (proper
scores: lower is better), and Diebold-Mariano tests (HLN-corrected, on the daily FZ0 and
pinball losses) of each QEGM seed against every baseline and against its twin of the same
seed (``twin-filtered`` for ``qegm-filtered``). The issue's bars are printed as PASS/FAIL
lines, per design and level:

* coverage: Kupiec and Christoffersen CC p >= 0.05 for at least 4 of the 5 seeds;
* loss: QEGM's seed-mean FZ0 and pinball loss at or below GJR-GARCH skewed-t's
  ("strict"), and no seed significantly worse by a one-sided DM test at 5% ("DM");

for ``qegm`` and for ``qegm-filtered``. ``--markdown PATH`` writes the seed-aggregated
tables of ``doc/benchmarks.md``; ``--from-json PATH`` prints the tables and bars of an
earlier ``--json`` run without running anything.

``--figures DIR`` draws the 99% VaR paths with their exceedances over the test years
(matplotlib, optional).

Part 3, ``speed``: fit time of the quantum latent beside its twin's (issue 18's bar: within
1.5x), on the main job's data (``python -m skqegm``: S&P 500 1999-2014, its features and
default settings). :func:`fit_time_ratio` fits the twin and then the quantum model
``--repeats`` times in turn, a fixed number of epochs without early stopping (so that
both run the same epochs), and prints the median seconds per fit, wall clock and CPU
(process time, less sensitive to other processes on a shared machine), with their ratio;
then one fit of each as the main job runs it (early stopping), for each of ``--repeats``
seeds (the epochs early stopping runs, and so the ratio, depend on the seed), with the
median ratio. It is not in the default ``--parts``: run
``--parts speed`` (about 2 minutes).

Run ``python benchmarks/bench_tail_risk.py --n-jobs 2`` or ``--quick`` for a smoke test
(the S&P 500 part took 558 s wall with ``--n-jobs 2`` on 2 cores at load 0.7-2.5).
``--json PATH`` writes every figure (and ``PATH.partial.jsonl`` one line per model as it
finishes).

How to run on your own data
---------------------------
``--csv FILE --column NAME`` runs the ``sp500`` part, unchanged (models, seeds, scores and
bars), on a price or return series read exactly as the main job ``python -m skqegm --csv
FILE`` reads it (:func:`skqegm.datasets.load_csv_series`; ``--kind``, ``--missing``,
``--date-column``, ``--no-dates`` and ``--decimal`` as there), e.g. to re-measure issue
17's bars on another market::

    python benchmarks/bench_tail_risk.py --parts sp500 --n-jobs 2 --csv nikkei.csv \\
        --column Close --json nikkei.json --markdown nikkei.md

``--test-start`` and ``--walk-start`` (``YYYY-MM-DD``) set the fixed design's first test
day and the walk-forward's first forecast day (for the S&P 500 too; its defaults stay
2015-01-01 and 2005-01-01). Without them the defaults are fixed before any data is seen,
in the S&P 500 design's proportions: the fixed design tests the last 20% of the feature
rows, the walk-forward starts 30% into them. A series without dates is split by row, and
its rows are labelled by the number of their return in the series (from 0). Every design
run must leave ``MIN_TRAIN`` = 500 rows to fit on before its first test day (the 250-day
historical-simulation window and as many again) and ``MIN_TEST`` = 250 test rows, else
the run stops, naming the option, before anything is fitted: the default designs need
about 1,700 rows (``--designs fixed`` about 1,250). ``--quick`` keeps 600 rows before the
fixed design's start and 300 from it, as for the S&P 500. Titles name the series
(``<column> (<file name>)``) and the JSON records its source (``"data"``: file, column,
kind, first and last date, each design's first row).
"""

import argparse
import json
import platform
import re
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from _options import (  # this folder is on sys.path
    at_least,
    check_output_folders,
    n_jobs_type,
    quick_sizes,
)
from joblib import Parallel, delayed
from scipy import stats
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor

from skqegm import TailRiskEstimator, __version__
from skqegm.baselines import GARCHRiskEstimator, HistoricalSimulation
from skqegm.datasets import load_csv_series, load_sp500_dates, load_sp500_returns
from skqegm.datasets.csv_series import AMBIGUOUS_PRICES, DECIMALS, KINDS, MISSING, parse_date
from skqegm.metrics import (
    acerbi_szekely_test,
    christoffersen_conditional_coverage_test,
    christoffersen_independence_test,
    diebold_mariano_test,
    fz0_loss,
    interval_coverage,
    kupiec_pof_test,
    var_exceedances,
    var_pinball_loss,
)
from skqegm.model_selection import walk_forward
from skqegm.preprocessing import make_lagged_features

try:  # skqegm 0.2 with issue 17's volatility-standardised model
    from skqegm.models import FilteredRiskEstimator
except ImportError:
    FilteredRiskEstimator = None

LEVELS = (0.975, 0.99)
COVERAGES = (0.8, 0.9, 0.95)
SIGMAS = {
    "exp(x0/2)": lambda X: np.exp(0.5 * X[:, 0]),
    "0.3+|x0|": lambda X: 0.3 + np.abs(X[:, 0]),
    "1+x0^2+x1/2": lambda X: 1 + X[:, 0] ** 2 + 0.5 * X[:, 1],
}
TEST_START = np.datetime64("2015-01-01")
WALK_START = np.datetime64("2005-01-01")
# --csv without --test-start / --walk-start: fixed before any data is seen, in the S&P 500
# design's proportions (2015 and 2005 lie 80% and 30% into its feature rows).
CSV_TEST_FRACTION = 0.2
CSV_WALK_FRACTION = 0.3
START_OPTIONS = {"fixed": "--test-start", "walk": "--walk-start"}
HS_WINDOW = 250
# Rows before a design's first test day: the historical-simulation window and as many
# again for the models to fit; test rows: a year of trading days for the coverage tests.
MIN_TRAIN = 2 * HS_WINDOW
MIN_TEST = 250
QUICK_BEFORE, QUICK_AFTER = 600, 300  # --quick: rows kept around the fixed design's start
FIGURE_MODELS = ("qegm", "qegm-filtered", "gjr-skewt", "hs250")
#: The models whose quality bars are printed: the default, and on standardised returns.
BAR_MODELS = ("qegm", "qegm-filtered")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=["hetero", "sp500"],
                        choices=["hetero", "sp500", "speed"])
    parser.add_argument("--seeds", type=at_least(1), default=5, help="seeds per model (default 5)")
    parser.add_argument("--designs", nargs="+", default=["fixed", "walk"],
                        choices=["fixed", "walk"], help="test designs of the sp500 part")
    parser.add_argument("--refit-every", type=at_least(1), default=500,
                        help="walk-forward refit period in days, every model (default 500)")
    parser.add_argument("--n-draws", type=at_least(1), default=1000,
                        help="predictive draws per day for the Acerbi-Szekely test")
    parser.add_argument("--n-jobs", type=n_jobs_type, default=1,
                        help="models forecast in parallel (joblib processes)")
    parser.add_argument("--figures", metavar="DIR", help="write the VaR-path figures here")
    parser.add_argument("--hetero-train", type=at_least(1), default=5000)
    parser.add_argument("--repeats", type=at_least(1), default=3,
                        help="fits per model of the speed part (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="toy sizes, for a smoke test; sizes given beside it win")
    parser.add_argument("--json", metavar="PATH", help="write every figure to this file")
    parser.add_argument("--markdown", metavar="PATH",
                        help="write the seed-aggregated tables of doc/benchmarks.md here")
    parser.add_argument("--from-json", metavar="PATH",
                        help="print the tables and bars of an earlier --json run, run nothing")
    data = parser.add_argument_group(
        "data of the sp500 part", "default: the S&P 500 shipped with skqegm; --csv reads a "
        "series as 'python -m skqegm --csv' does (skqegm.datasets.load_csv_series)")
    data.add_argument("--csv", metavar="FILE", help="a CSV file of prices or returns")
    data.add_argument("--column", metavar="NAME", help="its column (required with --csv)")
    data.add_argument("--kind", choices=KINDS, help="what the column holds (default: auto)")
    data.add_argument("--missing", choices=MISSING,
                      help="a cell without a value: raise (default) or drop its row")
    data.add_argument("--date-column", metavar="NAME",
                      help="its column of dates (default: 'date', 'datetime' or 'timestamp')")
    data.add_argument("--no-dates", action="store_true",
                      help="read no dates, even from a column that looks like dates")
    data.add_argument("--decimal", choices=DECIMALS[1:], metavar="MARK",
                      help="the column's decimal mark, . or , (default: found from the "
                           "column; one that could be read both ways is refused)")
    data.add_argument("--test-start", metavar="YYYY-MM-DD",
                      help=f"the fixed design's first test day (default: {TEST_START}; with "
                           f"--csv, the last {100 * CSV_TEST_FRACTION:.0f}%% of the rows are "
                           "tested)")
    data.add_argument("--walk-start", metavar="YYYY-MM-DD",
                      help=f"the walk-forward's first forecast day (default: {WALK_START}; "
                           f"with --csv, {100 * CSV_WALK_FRACTION:.0f}%% into the rows)")
    return parser


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
    n_train, n_test = args.hetero_train, 1000 if args.quick else 5000
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


# -- part 2: S&P 500 VaR and ES backtests ----------------------------------------------------
def qegm_models(seed, max_epochs):
    """QEGM, its twin, (when the parameter exists) the other mixture-weight model, and
    (with arch) both latents fitted on GJR-GARCH-standardised returns."""
    models = tail_risk_models(seed, max_epochs)
    params = TailRiskEstimator().get_params()
    if "mixture_weights" in params:
        other = {"conditional": "shared", "shared": "conditional"}[params["mixture_weights"]]
        models[f"qegm-{other}"] = TailRiskEstimator(mixture_weights=other,
                                                    max_epochs=max_epochs, random_state=seed)
    if FilteredRiskEstimator is not None and _has_arch():
        for name in ("qegm", "twin"):  # the package's default filter (GJR-GARCH skewed t)
            models[f"{name}-filtered"] = FilteredRiskEstimator(clone(models[name]))
    return models


def _has_arch():
    try:
        import arch  # noqa: F401
    except ImportError:
        return False
    return True


def twin_of(name):
    """The classical twin that a QEGM model is compared with: the same design, Gaussian
    latent."""
    return "twin-filtered" if name.endswith("-filtered") else "twin"


def baseline_models():
    models = {"hs250": HistoricalSimulation(window=250)}
    if not _has_arch():
        print("  arch is not installed: the GARCH models are skipped (pip install arch)")
        return models
    return {"garch-t": GARCHRiskEstimator(), "gjr-skewt": GARCHRiskEstimator(o=1, dist="skewt"),
            "fhs": GARCHRiskEstimator(method="fhs"),
            "gjr-evt": GARCHRiskEstimator(o=1, dist="skewt", method="evt"), **models}


class MarketData(NamedTuple):
    """The sp500 part's data: features, targets and labels of the rows, first test rows."""

    name: str  # in titles: "S&P 500", or "<column> (<file name>)"
    X: np.ndarray
    y: np.ndarray
    dates: np.ndarray  # of the rows; numbers of the returns for a CSV without dates
    starts: dict  # the first test row of each design
    notes: tuple  # what the CSV reader decided (its kind, a reversed date order)
    source: dict  # for the JSON


def check_data_options(args):
    """Refuse data options that do not go together, naming the option."""
    if args.csv is None:
        for option in ("column", "kind", "missing", "date_column", "decimal"):
            if getattr(args, option) is not None:
                raise ValueError(f"--{option.replace('_', '-')} needs --csv")
        if args.no_dates:
            raise ValueError("--no-dates needs --csv")
    elif args.column is None:
        raise ValueError("--csv needs --column NAME (the column holding the series)")
    elif args.no_dates and args.date_column is not None:
        raise ValueError("--no-dates and --date-column exclude each other: pass one")
    given = [option for option in ("csv", "test_start", "walk_start")
             if getattr(args, option) is not None]
    if given and "sp500" not in args.parts:
        raise ValueError(f"--{given[0].replace('_', '-')} is for the sp500 part: add it to "
                         "--parts")


def load_market(args):
    """``(name, returns, their dates or None, notes, source)``: --csv, else the S&P 500."""
    if args.csv is None:
        return "S&P 500", load_sp500_returns(), load_sp500_dates(), (), {
            "series": "S&P 500", "loader": "skqegm.datasets.load_sp500_returns"}
    date_column = False if args.no_dates else args.date_column
    with warnings.catch_warnings():
        # Prices that may be a yield: said once, in the kind's note printed with the rest.
        warnings.filterwarnings("ignore", message=re.escape(AMBIGUOUS_PRICES))
        series = load_csv_series(args.csv, args.column, date_column, args.kind or "auto",
                                 args.missing or "raise", args.decimal)
    name = f"{args.column} ({Path(args.csv).name})"
    return name, series.returns, series.return_dates, series.notes, {
        "series": name, "csv": str(args.csv), "column": args.column,
        "date_column": date_column, "decimal": args.decimal, "kind": series.kind,
        "missing": args.missing or "raise", "notes": list(series.notes)}


def default_starts(n_rows):
    """The first test row of each design of a --csv series without dates given.

    Fixed before any data is seen, in the S&P 500 design's proportions: the fixed design
    tests the last 20% of the ``n_rows`` feature rows, the walk-forward starts 30% in.

    >>> default_starts(1000)
    {'fixed': 800, 'walk': 300}
    """
    return {"fixed": n_rows - int(round(CSV_TEST_FRACTION * n_rows)),
            "walk": int(round(CSV_WALK_FRACTION * n_rows))}


def start_row(dates, text, option):
    """The first row on or after the date ``text`` given to ``option``, or a ValueError."""
    if dates is None:
        raise ValueError(f"{option} needs dates, and the series has none: pass --date-column")
    date = parse_date(text.strip())
    if date is None:
        raise ValueError(f"{option} must be a date YYYY-MM-DD; got {text!r}")
    start = np.datetime64(date, "s")
    if not dates[0] <= start <= dates[-1]:
        raise ValueError(f"{option} {text} is outside the series, whose feature rows run "
                         f"from {dates[0]} to {dates[-1]}")
    return int(np.searchsorted(dates, start))


def given_start(args, design):
    """``(option, its date or None)``: the option setting the first test day of ``design``."""
    option = START_OPTIONS[design]
    return option, getattr(args, option[2:].replace("-", "_"))


def design_starts(dates, n_rows, args):
    """The first test row of each design: its option, else the S&P 500's or --csv's default."""
    texts = {design: given_start(args, design)[1] for design in START_OPTIONS}
    if args.csv is None:
        texts = {"fixed": texts["fixed"] or str(TEST_START),
                 "walk": texts["walk"] or str(WALK_START)}
    starts = default_starts(n_rows)
    for design, text in texts.items():
        if text is not None:
            starts[design] = start_row(dates, text, START_OPTIONS[design])
    return starts


def check_design(design, start, n_rows, args):
    """Refuse a design whose fitting or test period is too short, naming its option."""
    option, text = given_start(args, design)
    what = f"{option} {text}" if text else f"the default {option} (row {start} of {n_rows})"
    if start < MIN_TRAIN:
        raise ValueError(f"{what} leaves {start} rows to fit on before the {design} design's "
                         f"first test day; it needs {MIN_TRAIN} (the {HS_WINDOW}-day "
                         f"historical-simulation window and as many again): pass a later "
                         f"{option}")
    if n_rows - start < MIN_TEST:
        raise ValueError(f"{what} leaves {n_rows - start} test rows in the {design} design; "
                         f"it needs {MIN_TEST} (a year of trading days): pass an earlier "
                         f"{option}")


def market_data(args):
    """The sp500 part's :class:`MarketData`; a ValueError names the option at fault.

    The same path for the S&P 500 and a --csv series: features of
    ``make_lagged_features``, each design's first test row, and with --quick
    ``QUICK_BEFORE`` rows before the fixed design's start and ``QUICK_AFTER`` from it,
    where both designs then start.
    """
    name, returns, dates, notes, source = load_market(args)
    X, y = make_lagged_features(returns)
    offset = len(returns) - len(y)
    labels = (np.arange(len(returns)) if dates is None else dates)[offset:]
    starts = design_starts(None if dates is None else labels, len(y), args)
    for design in args.designs:
        check_design(design, starts[design], len(y), args)
    source.update(first_date=None if dates is None else str(dates[0]),
                  last_date=None if dates is None else str(dates[-1]),
                  n_returns=len(returns), n_rows=len(y),
                  starts={design: {"row": starts[design], "date": None if dates is None
                                   else str(labels[starts[design]])} for design in args.designs})
    if args.quick:  # a shorter history and test period around the fixed design's start
        first = starts["fixed"]
        rows = slice(max(first - QUICK_BEFORE, 0), first + QUICK_AFTER)
        X, y, labels = X[rows], y[rows], labels[rows]
        starts = dict.fromkeys(starts, first - rows.start)
    return MarketData(name, X, y, labels, starts, notes, source)


def score_forecasts(result, n_simulations, seed):
    """Backtest figures of a WalkForwardResult, and the daily losses for the DM tests."""
    row, losses = {}, {}
    for level in LEVELS:
        var, es = result.var_at(level), result.es_at(level)
        hits = var_exceedances(result.y, var)
        pinball = var_pinball_loss(result.y, var, level, reduce=False)
        # FZ0 and the Acerbi-Szekely test need an ES that is a positive loss beyond the
        # VaR on every day; a forecast that breaks this (a model extrapolating far outside
        # its training features can forecast a gain as its ES) has neither.
        bad = int(np.count_nonzero((es <= 0) | (es < var)))
        fz0 = es_test = None
        if not bad:
            fz0 = fz0_loss(result.y, var, es, level, reduce=False)
            es_test = acerbi_szekely_test(result.y, var, es, level, result.draws,
                                          n_simulations=n_simulations, random_state=seed)
        row[str(level)] = {
            "mean_var": float(var.mean()), "mean_es": float(es.mean()),
            "exceedances": int(hits.sum()), "rate": float(hits.mean()),
            "kupiec_p": kupiec_pof_test(hits, level).p_value,
            "independence_p": christoffersen_independence_test(hits).p_value,
            "christoffersen_p": christoffersen_conditional_coverage_test(hits, level).p_value,
            "as_z2": None if es_test is None else es_test.statistic,
            "as_p": None if es_test is None else es_test.p_value,
            "pinball": float(pinball.mean()),
            "fz0": None if fz0 is None else float(fz0.mean()),
            "invalid_es_days": bad,
            "min_var": float(var.min()),
        }
        losses[level] = {"pinball": pinball} if fz0 is None else {"fz0": fz0,
                                                                   "pinball": pinball}
    return row, losses


def forecast(model, X, y, dates, start, refit_every, n_draws):
    """One model's walk-forward forecasts (a single fit when refit_every covers the test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return walk_forward(model, X, y, start=start, refit_every=refit_every, dates=dates,
                            n_draws=n_draws, random_state=0)


def run_design(design, data, start, refit_every, models, args):
    """Walk-forward forecasts of every model: records and daily losses by model name.

    The models run in parallel (``--n-jobs``), each walk on one core: the results do not
    depend on ``--n-jobs``.
    """
    records, losses = [], {}
    X, y, dates = data.X, data.y, data.dates
    n_draws = args.n_draws
    n_simulations = 100 if args.quick else 1000
    results = Parallel(n_jobs=args.n_jobs, return_as="generator")(
        delayed(forecast)(model, X, y, dates, start, refit_every, n_draws)
        for model in models.values())
    for (name, seed), result in zip(models, results):
        row, losses[name, seed] = score_forecasts(result, n_simulations, 0)
        records.append({"part": "sp500", "design": design, "series": data.name,
                        "model": name, "seed": seed,
                        "test_start": str(result.dates[0]), "test_end": str(result.dates[-1]),
                        "n_train_first": int(start), "n_test": len(result.y),
                        "refit_every": int(refit_every), "n_refits": len(result.fit_time),
                        "fit_s": float(result.fit_time.sum()), **row})
        if args.figures and name in FIGURE_MODELS and seed in (None, 0):
            losses[name, seed]["path"] = (result.dates, result.y, result.var_at(0.99))
        print_progress(records[-1])
        if args.json:  # one line per model as it finishes, so a cut-off run keeps them
            with open(args.json + ".partial.jsonl", "a") as handle:
                handle.write(json.dumps(records[-1]) + "\n")
    return records, losses


def hgb_fixed(X, y, start, seed=0):
    """Boosted quantile regression fitted once before ``start`` (VaR only)."""
    boosting = QuantileBoosting([1 - lv for lv in LEVELS], seed)
    fit_s = timed_fit(boosting, X[:start], y[:start])
    row, losses = {}, {}
    for level in LEVELS:
        var = -boosting.quantile(X[start:], 1 - level)
        hits = var_exceedances(y[start:], var)
        pinball = var_pinball_loss(y[start:], var, level, reduce=False)
        row[str(level)] = {
            "mean_var": float(var.mean()), "mean_es": None,
            "exceedances": int(hits.sum()), "rate": float(hits.mean()),
            "kupiec_p": kupiec_pof_test(hits, level).p_value,
            "independence_p": christoffersen_independence_test(hits).p_value,
            "christoffersen_p": christoffersen_conditional_coverage_test(hits, level).p_value,
            "as_z2": None, "as_p": None, "pinball": float(pinball.mean()), "fz0": None,
        }
        losses[level] = {"pinball": pinball}
    return row, losses, fit_s


def dm_tests(design, losses):
    """DM tests of every QEGM seed against each baseline and its own twin."""
    out = []
    for (name, seed), own in losses.items():
        if not name.startswith("qegm"):
            continue
        for (other, other_seed), theirs in losses.items():
            if other_seed is not None and (other != twin_of(name) or other_seed != seed):
                continue  # seeded models: only this seed's own twin
            for level in LEVELS:
                for loss in ("fz0", "pinball"):
                    if loss not in theirs[level] or loss not in own[level]:
                        continue  # FZ0 undefined (an ES that is not a positive loss)
                    a, b = own[level][loss], theirs[level][loss]
                    two = diebold_mariano_test(a, b)
                    worse = diebold_mariano_test(a, b, alternative="greater")
                    out.append({"part": "dm", "design": design, "model": name, "seed": seed,
                                "versus": other, "level": level, "loss": loss,
                                "mean_diff": float(np.mean(a - b)),
                                "statistic": two.statistic, "p_value": two.p_value,
                                "p_worse": worse.p_value})
    return out


def sp500(args, data):
    X, y, dates, starts = data.X, data.y, data.dates, data.starts
    max_epochs = 3 if args.quick else 200
    refit = {"fixed": len(y), "walk": args.refit_every}
    models = {(name, seed): model for seed in range(args.seeds)
              for name, model in qegm_models(seed, max_epochs).items()}
    models.update({(name, None): model for name, model in baseline_models().items()})
    records, paths = [], {}
    for design in args.designs:
        print(f" design {design}: test from {dates[starts[design]]}, refit every "
              f"{min(refit[design], len(y) - starts[design])} days", flush=True)
        design_records, losses = run_design(design, data, starts[design], refit[design],
                                            models, args)
        if design == "fixed":
            row, losses["hgb", None], fit_s = hgb_fixed(X, y, starts[design])
            design_records.append({**{k: v for k, v in design_records[-1].items()
                                      if k in ("part", "design", "series", "test_start",
                                               "test_end", "n_train_first", "n_test")},
                                   "model": "hgb", "seed": None, "refit_every": len(y),
                                   "n_refits": 1, "fit_s": fit_s, **row})
        records += design_records + dm_tests(design, losses)
        paths[design] = {key: value["path"] for key, value in losses.items()
                         if "path" in value}
    if args.figures:
        draw_figures(paths, args.figures, data.name)
    return records


def draw_figures(paths, folder, series="S&P 500"):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("Figures skipped: matplotlib is not installed.")
        return
    from skqegm.plotting import plot_var_backtest

    Path(folder).mkdir(parents=True, exist_ok=True)
    for design, by_model in paths.items():
        if not by_model:
            continue
        (test_dates, y, _), *_ = by_model.values()
        fig, ax = plt.subplots(figsize=(11, 4.5))
        plot_var_backtest(y, {f"{name}" + ("" if seed is None else f" seed {seed}"): var
                              for (name, seed), (_, _, var) in by_model.items()},
                          dates=test_dates, ax=ax,
                          title=f"{series}, {design} design: 99% VaR and exceedances")
        fig.tight_layout()
        path = Path(folder) / f"tail_risk_var_{design}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print(f"Figure written to {path}")


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
    # The main job's fits: early stopping, each its own number of epochs, which depends on
    # the seed; one pair per seed.
    rows = [main_job_fits(X, y, seed, 3 if args.quick else 200) for seed in range(args.repeats)]
    ratios = [row["ratio"] for row in rows]
    print(f"  main job, {len(rows)} seed(s): median ratio {np.median(ratios):.2f} (range "
          f"{min(ratios):.2f}-{max(ratios):.2f}); {sum(r > 1.5 for r in ratios)} above 1.5",
          flush=True)
    return records + rows


def main_job_fits(X, y, seed, max_epochs):
    """One fit of the twin and one of the quantum model as ``python -m skqegm`` runs them."""
    row = {"part": "speed-main-job", "seed": seed, "load": [_load()]}
    for latent in ("gaussian", "quantum"):
        model = TailRiskEstimator(latent=latent, max_epochs=max_epochs, random_state=seed)
        wall, cpu = _timed_fits(model, X, y)
        row[latent] = {"wall": wall, "cpu": cpu, "epochs": model.n_iter_}
    row["load"].append(_load())
    row["ratio"] = row["quantum"]["wall"] / row["gaussian"]["wall"]
    row["cpu_ratio_per_epoch"] = ((row["quantum"]["cpu"] / row["quantum"]["epochs"])
                                  / (row["gaussian"]["cpu"] / row["gaussian"]["epochs"]))
    print(f"  main job, seed {seed}: twin {row['gaussian']['wall']:.1f} s "
          f"({row['gaussian']['epochs']} epochs), quantum {row['quantum']['wall']:.1f} s "
          f"({row['quantum']['epochs']} epochs): ratio {row['ratio']:.2f}, CPU per epoch "
          f"{row['cpu_ratio_per_epoch']:.2f} (load {row['load'][0]} -> {row['load'][1]})",
          flush=True)
    return row


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
    where = f" {record['design']}" if "design" in record else ""
    print(f"  {record.get('series', record['part'])}{where} {record['model']} "
          f"seed={record['seed']}: "
          + ", ".join(f"{k}={v:.3f}" for k, v in figures.items()), flush=True)


def _cell(value, spec, scale=1.0):
    return "—" if value is None else format(scale * value, spec)


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
    for design in ("fixed", "walk"):
        rows = [r for r in records if r["part"] == "sp500" and r["design"] == design]
        if rows:
            print_design(design, rows, [r for r in records
                                        if r["part"] == "dm" and r["design"] == design])


def print_design(design, rows, dm_rows):
    first = rows[0]
    series = first.get("series", "S&P 500")  # earlier runs were all on the S&P 500
    print(f"\n{series} VaR and ES backtests, {design} design: test {first['test_start']} to "
          f"{first['test_end']} ({first['n_test']} days), first fit on {first['n_train_first']} "
          f"days, refit every {min(first['refit_every'], first['n_test'])} days\n")
    print("| model | seed | level | mean VaR % | mean ES % | exceedances (rate %) | Kupiec p | "
          "indep. p | CC p | AS Z2 | AS p | pinball x1e4 | FZ0 | fit s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        for level in LEVELS:
            b = r[str(level)]
            print(f"| {r['model']} | {'—' if r['seed'] is None else r['seed']} | "
                  f"{100 * level:g}% | {100 * b['mean_var']:.2f} | "
                  f"{_cell(b['mean_es'], '.2f', 100)} | {b['exceedances']} "
                  f"({100 * b['rate']:.2f}) | {b['kupiec_p']:.3f} | {b['independence_p']:.3f} | "
                  f"{b['christoffersen_p']:.3f} | {_cell(b['as_z2'], '.3f')} | "
                  f"{_cell(b['as_p'], '.3f')} | {1e4 * b['pinball']:.3f} | "
                  f"{_cell(b['fz0'], '.4f')} | {r['fit_s']:.1f} |")
    if dm_rows:
        print(f"\nDiebold-Mariano, {design} design: QEGM seed minus the other model, daily "
              "losses (t statistic, two-sided p; t > 0: QEGM worse)\n")
        print("| model | versus | level | loss | seeds | mean diff | t per seed | p per seed |")
        print("|---|---|---|---|---|---|---|---|")
        groups = {}
        for d in dm_rows:
            groups.setdefault((d["model"], d["versus"], d["level"], d["loss"]), []).append(d)
        for (model, versus, level, loss), ds in groups.items():
            scale = 1e4 if loss == "pinball" else 1.0
            print(f"| {model} | {versus} | {100 * level:g}% | {loss} | {len(ds)} | "
                  f"{scale * np.mean([d['mean_diff'] for d in ds]):+.4f}"
                  f"{' x1e-4' if loss == 'pinball' else ''} | "
                  + ", ".join(f"{d['statistic']:+.2f}" for d in ds) + " | "
                  + ", ".join(f"{d['p_value']:.3f}" for d in ds) + " |")


def _mean_sd(values, spec, scale=1.0):
    """``mean ± sd`` over seeds (the value alone for one seed), with undefined seeds."""
    defined = [scale * v for v in values if v is not None]
    missing = len(values) - len(defined)
    if not defined:
        return "—"
    text = (f"{defined[0]:{spec}}" if len(values) == 1
            else f"{np.mean(defined):{spec}} ± {np.std(defined, ddof=1):{spec}}")
    return text + (f" (undefined in {missing})" if missing else "")


def markdown_summary(records):
    """The seed-aggregated tables of ``doc/benchmarks.md``: per design, every model's
    backtests, then the DM tests of each QEGM model against every other model."""
    lines = []
    for design in ("fixed", "walk"):
        rows = [r for r in records if r["part"] == "sp500" and r["design"] == design]
        if not rows:
            continue
        first = rows[0]
        title = {"fixed": "Fixed design", "walk": "Walk-forward design"}[design]
        series = first.get("series", "S&P 500")  # the doc's tables, of the S&P 500, say none
        if series != "S&P 500":
            title = f"{series}, {title[0].lower()}{title[1:]}"
        lines += [f"#### {title}: test {first['test_start']} to "
                  f"{first['test_end']} ({first['n_test']} days), refit every "
                  f"{min(first['refit_every'], first['n_test'])} days", "",
                  "| model | seeds | level | exceedances (expected) | Kupiec p >= 0.05 | "
                  "CC p >= 0.05 | AS Z2 | AS p < 0.05 | pinball x1e4 | FZ0 | fit s per model |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        models = list(dict.fromkeys(r["model"] for r in rows))
        for model in models:
            own = [r for r in rows if r["model"] == model]
            n = len(own)
            for level in LEVELS:
                b = [r[str(level)] for r in own]
                hits = [x["exceedances"] for x in b]
                expected = (1 - level) * first["n_test"]
                hits_text = (f"{hits[0]}" if n == 1 else
                             f"{min(hits)}-{max(hits)}, mean {np.mean(hits):.1f}")
                as_p = [x["as_p"] for x in b if x["as_p"] is not None]
                fit = [r["fit_s"] for r in own]
                fit_text = f"{np.mean(fit):.0f}" + (f" ± {np.std(fit, ddof=1):.0f}"
                                                    if n > 1 else "")
                lines.append(
                    f"| {model} | {n} | {100 * level:g}% | {hits_text} ({expected:.1f}) | "
                    f"{sum(x['kupiec_p'] >= 0.05 for x in b)} of {n} | "
                    f"{sum(x['christoffersen_p'] >= 0.05 for x in b)} of {n} | "
                    f"{_mean_sd([x['as_z2'] for x in b], '.3f')} | "
                    + (f"{sum(p < 0.05 for p in as_p)} of {len(as_p)}" if as_p else "—")
                    + f" | {_mean_sd([x['pinball'] for x in b], '.3f', 1e4)} | "
                    f"{_mean_sd([x['fz0'] for x in b], '.4f')} | "
                    f"{fit_text} |")
        dm = [d for d in records if d["part"] == "dm" and d["design"] == design]
        if dm:
            lines += ["", f"Diebold-Mariano ({design}): each QEGM-model seed minus the other "
                      "model, on the daily losses (HLN-corrected); seeds significantly worse / "
                      "better at 5% (two-sided). Each QEGM model against every baseline and "
                      "against its own twin of the same seed.", "",
                      "| model | versus | level | loss | mean diff | t (mean over seeds) | "
                      "worse | better |", "|---|---|---|---|---|---|---|---|"]
            groups = {}
            for d in dm:
                groups.setdefault((d["model"], d["versus"], d["level"], d["loss"]), []).append(d)
            for (model, versus, level, loss), ds in groups.items():
                scale = 1e4 if loss == "pinball" else 1.0
                significant = [d for d in ds if d["p_value"] < 0.05]
                lines.append(
                    f"| {model} | {versus} | {100 * level:g}% | "
                    f"{loss}{' x1e4' if loss == 'pinball' else ''} | "
                    f"{scale * np.mean([d['mean_diff'] for d in ds]):+.4f} | "
                    f"{np.mean([d['statistic'] for d in ds]):+.2f} | "
                    f"{sum(d['statistic'] > 0 for d in significant)} of {len(ds)} | "
                    f"{sum(d['statistic'] < 0 for d in significant)} of {len(ds)} |")
        lines.append("")
    return "\n".join(lines)


def quality_bars(records, model="qegm", reference="gjr-skewt"):
    """The issue's bars, per design and level: ``(label, passed, detail)`` lines."""
    bars = []
    for design in ("fixed", "walk"):
        rows = [r for r in records if r["part"] == "sp500" and r["design"] == design]
        own = [r for r in rows if r["model"] == model]
        ref = [r for r in rows if r["model"] == reference]
        if not own:
            continue
        needed = int(np.ceil(0.8 * len(own)))
        for level in LEVELS:
            key = str(level)
            good = sum(r[key]["kupiec_p"] >= 0.05 and r[key]["christoffersen_p"] >= 0.05
                       for r in own)
            bars.append((f"{design} {100 * level:g}% coverage (Kupiec and CC p >= 0.05)",
                         good >= needed, f"{good} of {len(own)} seeds, {needed} needed"))
            if not ref:
                continue
            for loss in ("fz0", "pinball"):
                # A seed whose ES forecasts have no FZ0 loss (ES <= 0 on some day) fails.
                undefined = sum(r[key][loss] is None for r in own)
                scale = 1e4 if loss == "pinball" else 1.0
                if undefined or ref[0][key][loss] is None:
                    bars.append((f"{design} {100 * level:g}% {loss} at or below {reference}",
                                 False, f"undefined in {undefined} of {len(own)} seeds "
                                 "(an ES forecast that is not a positive loss)"))
                else:
                    mine = float(np.mean([r[key][loss] for r in own]))
                    theirs = ref[0][key][loss]
                    bars.append((f"{design} {100 * level:g}% {loss} at or below {reference}",
                                 mine <= theirs, f"seed mean {scale * mine:.4f} vs "
                                 f"{scale * theirs:.4f}" + (" (x1e4)" if scale != 1 else "")))
                worse = [d for d in records if d["part"] == "dm" and d["design"] == design
                         and d["model"] == model and d["versus"] == reference
                         and d["level"] == level and d["loss"] == loss
                         and d["p_worse"] < 0.05]
                failed = len(worse) + undefined
                bars.append((f"{design} {100 * level:g}% {loss} not significantly worse than "
                             f"{reference} (one-sided DM, 5%)", not failed,
                             f"significantly worse in {len(worse)} of {len(own)} seeds"
                             + (f", undefined in {undefined}" if undefined else "")))
    return bars


def print_bars(bars, model):
    if bars:
        print(f"\nThe issue's quality bars for {model}:")
        for label, passed, detail in bars:
            print(f"  {'PASS' if passed else 'FAIL'}  {label}: {detail}")


def report(records, args):
    """Print the tables and bars (and write ``--markdown``); return the bars by model."""
    print_tables(records)
    bars = {model: quality_bars(records, model) for model in BAR_MODELS}
    for model, model_bars in bars.items():
        print_bars(model_bars, model)
    if args.markdown:
        Path(args.markdown).write_text(markdown_summary(records))
    return bars


def parse_args(argv=None):
    """The parsed options; output files in a folder that does not exist are refused."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    check_output_folders(parser, args, ("json", "markdown"))
    if args.quick:
        quick_sizes(parser, args, dict(seeds=1, n_draws=100, refit_every=150,
                                       hetero_train=800))
    return parser, args


def main(argv=None):
    parser, args = parse_args(argv)
    if args.from_json:
        records = json.loads(Path(args.from_json).read_text())["records"]
        report(records, args)
        return 0
    try:  # before any fit: a bad series or start date costs one line
        check_data_options(args)
        data = market_data(args) if "sp500" in args.parts else None
    except ValueError as exc:
        parser.error(" ".join(str(exc).split()))
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
        print(f"Part 2: {data.name} VaR and ES backtests")
        for note in data.notes:
            print(f"  {note}")
        records += sp500(args, data)
    if "speed" in args.parts:
        print("Part 3: fit time, quantum beside its twin")
        records += speed(args)
    bars = report(records, args)
    wall = time.perf_counter() - start
    print(f"\nWall time {wall:.0f} s; skqegm {__version__}, python {platform.python_version()}.")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "wall_s": wall, "records": records,
                       "data": None if data is None else data.source,
                       "bars": [{"model": model, "bar": label, "passed": bool(passed),
                                 "detail": detail} for model, model_bars in bars.items()
                                for label, passed, detail in model_bars]},
                      handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
