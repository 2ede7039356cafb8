"""Speed of the profile-likelihood intervals of an exponential tail (return levels, periods).

What is measured
----------------
A :class:`~skqegm.baselines.GPDTailSampler` tail of 1 to 4 exceedances is exponential, and
:func:`skqegm.extremes.return_level` / :func:`~skqegm.extremes.return_period` give it a
profile-likelihood interval (``method="exponential-profile"``). Two ways, in the same run,
on the same tails and the same periods or levels:

* ``nested``: each bound the root of the profile deviance, each profile deviance itself
  the root of a derivative (a Python loop over the values, two ``brentq`` deep; what
  skqegm did up to session 10), kept here as :func:`nested_level_interval` and
  :func:`nested_probability_interval`;
* ``tangent``: skqegm's, each bound the point where a line touches the edge of the
  likelihood region, all bounds in one vectorised root search.

Each cell is the median of ``--repeats`` interleaved runs of each (the two alternate, so
that a loaded machine slows both alike); the table gives the milliseconds of each, their
ratio and the largest relative difference of the results (of the levels' excesses over the
threshold, or the scale where larger, and of the periods); the public functions' time
includes their checks. A :class:`~skqegm.baselines.GPDTailSampler` gets the exact
``"exponential-pivot"`` interval since session 12, so the ``tangent`` column now times it.

A second table times the exact pivot's level interval of many probabilities: skqegm's
(the Beta CDF from a table, the roots bracketed about their interpolation over a grid of
them) against the former, kept here as :func:`former_pivot_level_interval` (``betainc`` at
each of 4,096 nodes, every root bracketed from [-1, 1]): milliseconds, ratio and largest
relative difference. Run with ``PYTHONPATH=.`` from the repository root to time this
checkout (the script's folder comes first on ``sys.path``). Run
``python benchmarks/bench_extremes.py`` (about a minute) or ``--quick``; ``--json PATH``
writes every figure.
"""

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
from _options import at_least, check_output_folders, quick_sizes  # this folder is on sys.path
from scipy.optimize import brentq
from scipy.special import betainc, gammaincinv, roots_legendre
from scipy.stats import chi2

from skqegm import __version__
from skqegm.baselines import GPDTailSampler
from skqegm.extremes import return_level, return_period
from skqegm.extremes._pot import (  # the pivot's interval as skqegm has it, and its parts
    _chandrupatla,
    exponential_counts,
    exponential_pivot_level_interval,
)


# -- the nested profile likelihood (the reference) -------------------------------------------
def _profile_loglik(excess, log_p, k, n):
    """Largest log-likelihood of ``k`` of ``n`` rows beyond the threshold, mean excess 1,
    over the exponential tails whose level exceeded with probability ``exp(log_p)`` lies
    ``excess`` beyond it: ``fraction = p e^s``, ``scale = excess / s``, concave in ``s``."""
    top = -log_p

    def slope(s):
        v = log_p + s
        return k + k / s - k / excess + (n - k) * np.exp(v) / np.expm1(v)

    s = brentq(slope, 1e-12 * min(top, excess), top * (1 - 1e-15),
               xtol=1e-15 * top, rtol=8 * np.finfo(np.float64).eps)
    return (k * (log_p + s) + (n - k) * np.log(-np.expm1(log_p + s))
            - k * np.log(excess / s) - k * s / excess)


def _deviance_bound(deviance, start, step, limit, critical):
    inner = start
    while True:
        outer = start + step if abs(step) < abs(limit - start) else limit
        if deviance(outer) > critical:
            return brentq(lambda x: deviance(x) - critical, inner, outer, xtol=1e-12,
                          rtol=8 * np.finfo(np.float64).eps)
        if outer == limit:
            return limit
        inner, step = outer, 2 * step


def _profile(tail, confidence_level):
    fraction, cov = tail[1], tail[4]
    n = round(fraction * (1 - fraction) / cov[0, 0])
    k = round(fraction * n)
    best = k * np.log(fraction) + (n - k) * np.log1p(-fraction) - k
    return k, n, best, chi2.ppf(confidence_level, 1)


def nested_level_interval(tail, probability, sign, confidence_level):
    """The level bounds by nested roots (upper tail: ``sign=1``)."""
    threshold, fraction, _, scale, _ = tail
    k, n, best, critical = _profile(tail, confidence_level)
    lower, upper = [], []
    for p in np.atleast_1d(probability).ravel():
        log_p = float(np.log(p))

        def deviance(log_excess, log_p=log_p):
            return 2 * (best - _profile_loglik(np.exp(log_excess), log_p, k, n))

        start = float(np.log(np.log(fraction) - log_p))
        low = _deviance_bound(deviance, start, -1.0, start - 700.0, critical)
        high = _deviance_bound(deviance, start, 1.0, start + 700.0, critical)
        lower.append(0.0 if low == start - 700.0 else scale * np.exp(low))
        upper.append(scale * np.exp(high))
    shape = np.shape(probability)
    bounds = (threshold + sign * np.reshape(lower, shape),
              threshold + sign * np.reshape(upper, shape))
    return bounds if sign > 0 else bounds[::-1]


def nested_probability_interval(tail, level, sign, confidence_level):
    """The exceedance probability bounds by nested roots."""
    threshold, fraction, _, scale, _ = tail
    k, n, best, critical = _profile(tail, confidence_level)
    lower, upper = [], []
    for x in np.atleast_1d(level).ravel():
        excess = float(sign * (x - threshold) / scale)

        def deviance(log_p, excess=excess):
            return 2 * (best - _profile_loglik(excess, log_p, k, n))

        start = float(np.log(fraction) - excess)
        lower.append(_deviance_bound(deviance, start, -1.0, start - 700.0, critical))
        upper.append(_deviance_bound(deviance, start, 0.5 * -start, -1e-12, critical))
    shape = np.shape(level)
    return np.exp(np.reshape(lower, shape)), np.exp(np.reshape(upper, shape))


def _former_pivot_cdf(k, n, weight):
    """The pivot's CDF before session 12's speed-up: ``betainc`` at each node."""
    x, w = roots_legendre(64)
    u, w = (x + 1) / 2, w / 2
    e1 = -np.log1p(-u)
    if k > 1:
        e1, g = (a.ravel() for a in np.meshgrid(e1, gammaincinv(k - 1, u), indexing="ij"))
        w = np.outer(w, w).ravel()
    else:
        g = np.zeros_like(e1)

    def cdf(y, t):
        y, t = np.asarray(y)[..., None], np.asarray(t)[..., None]
        log_v = np.minimum(y + (weight / k + t * (1 - weight)) * e1 + t * g, 0.0)
        return betainc(k + 1, n - k, np.exp(log_v)) @ w

    return cdf


@np.errstate(divide="ignore", invalid="ignore", over="ignore")
def former_pivot_level_interval(tail, probability, sign, confidence_level, weight):
    """The pivot's level interval before session 12: every root bracketed from [-1, 1]
    and searched to a few ulps."""
    threshold, _, _, scale, _ = tail
    k, n = exponential_counts(tail)
    cdf = _former_pivot_cdf(k, n, weight)
    log_p = np.log(probability)
    alpha = (1 - confidence_level) / 2
    targets = np.repeat([alpha, 1 - alpha], len(log_p))
    log_p2 = np.concatenate([log_p, log_p])
    f = lambda t: cdf(log_p2, t) - targets  # noqa: E731
    low, high = np.full_like(targets, -1.0), np.full_like(targets, 1.0)
    while True:
        f_low, f_high = f(low), f(high)
        if not np.any((f_low > 0) | (f_high < 0)):
            break
        low, high = (np.where(f_low > 0, 2 * low - high, low),
                     np.where(f_high < 0, 2 * high - low, high))
    q = _chandrupatla(f, low, high, f_low, f_high)
    lower, upper = np.split(threshold + sign * k * scale * q, 2)
    return (lower, upper) if sign > 0 else (upper, lower)


def bench_pivot(k, n, n_values, repeats, weight=0.3):
    """The exact pivot's level interval of ``n_values`` probabilities (0.67 to 1e-6 times
    the tail's) of a tail of ``k`` exceedances of ``n`` rows: the former against skqegm's."""
    fraction = k / n
    tail = (0.0, fraction, 0.0, 1.0, np.array([[fraction * (1 - fraction) / n]]))
    probability = np.geomspace(0.67, 1e-6, n_values) * fraction
    calls = [lambda: former_pivot_level_interval(tail, probability, 1, 0.95, weight),
             lambda: exponential_pivot_level_interval(tail, probability, 1, 0.95, weight)]
    old, new = calls[0](), calls[1]()
    diff = max(np.max(np.abs(a / b - 1)) for a, b in zip(old, new, strict=True))
    former_ms, ours_ms = _median_ms(calls, repeats)
    return dict(what="pivot", k=k, n=n, n_values=n_values, former_ms=former_ms,
                ours_ms=ours_ms, ratio=former_ms / ours_ms, max_difference=float(diff))


def pot_tail(model):
    """``(threshold, fraction, shape, scale, cov)`` of the upper tail of a fitted
    :class:`~skqegm.baselines.GPDTailSampler` of one feature, from its public attributes."""
    return (model.tail_threshold_[1, 0], model.tail_fractions_[1, 0], model.gpd_shape_[1, 0],
            model.gpd_scale_[1, 0], model.tail_cov_[1, 0])


def exponential_model(k, n, seed=0):
    """A GPDTailSampler fitted on ``n`` Laplace values, ``k`` (1 to 4) of them beyond its
    upper threshold: an exponential tail."""
    X = np.random.default_rng(seed).laplace(size=(n, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer than 5 exceedances
        model = GPDTailSampler(tail_fraction=k / n, body="empirical").fit(X)
    assert model.n_exceedances_[1, 0] == k
    return model


def nested_return_level(model, periods, observations_per_year=1.0, confidence_level=0.95):
    """``(level, lower, upper)`` of the upper tail by nested roots."""
    threshold, fraction, _, scale, _ = tail = pot_tail(model)
    probability = 1 / (np.asarray(periods, dtype=np.float64) * observations_per_year)
    level = threshold + scale * np.log(fraction / probability)
    return (level, *nested_level_interval(tail, probability, 1.0, confidence_level))


def nested_return_period(model, levels, observations_per_year=1.0, confidence_level=0.95):
    """``(period, lower, upper)`` of levels beyond the upper threshold by nested roots."""
    threshold, fraction, _, scale, _ = tail = pot_tail(model)
    probability = fraction * np.exp(-(np.asarray(levels, dtype=np.float64) - threshold) / scale)
    low, high = nested_probability_interval(tail, levels, 1.0, confidence_level)
    return tuple(1 / (p * observations_per_year) for p in (probability, high, low))


# -- the benchmark ------------------------------------------------------------------------------
def _median_ms(functions, repeats):
    """Median milliseconds of each function, the functions run in turn ``repeats`` times."""
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, spent in zip(functions, times, strict=True):
            start = time.perf_counter()
            function()
            spent.append(1e3 * (time.perf_counter() - start))
    return [float(np.median(t)) for t in times]


def bench(k, n, n_values, repeats):
    """Both ways of ``n_values`` return levels (and periods) of a tail of ``k`` of ``n``
    rows, with intervals: the public functions against the nested roots."""
    model = exponential_model(k, n)
    threshold, fraction, _, scale, _ = pot_tail(model)
    periods = np.geomspace(2.0 / fraction, 1e4 / fraction, n_values)
    levels = threshold + scale * np.geomspace(0.01, 30.0, n_values)
    records = []
    for what, nested, public, at in [("level", nested_return_level, return_level, periods),
                                     ("period", nested_return_period, return_period, levels)]:
        def tangent(public=public, at=at):
            return public(model, at, observations_per_year=1.0)[:3]

        old, new = nested(model, at), tangent()
        # Relative, of each level's excess over the threshold (at least the scale: a bound
        # at the threshold is 0 or 1e-15 as the roots round), and of each period.
        if what == "level":
            diff = max(np.max(np.abs(a - b) / np.maximum(np.abs(a - threshold), scale))
                       for a, b in zip(old, new, strict=True))
        else:
            diff = max(np.max(np.abs(a / b - 1)) for a, b in zip(old, new, strict=True))
        nested_ms, tangent_ms = _median_ms([lambda nested=nested, at=at: nested(model, at),
                                            tangent], repeats)
        records.append(dict(what=what, k=k, n=n, n_values=n_values, nested_ms=nested_ms,
                            tangent_ms=tangent_ms, ratio=nested_ms / tangent_ms,
                            max_difference=float(diff)))
    return records


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--values", type=at_least(1), nargs="+", default=[1, 10, 200],
                        help="numbers of periods (and of levels) per call")
    parser.add_argument("--exceedances", type=at_least(1), nargs="+", default=[1, 4],
                        help="exceedances of the tail (1 to 4 are exponential)")
    parser.add_argument("--rows", type=at_least(2), default=3000, help="rows of the data")
    parser.add_argument("--repeats", type=at_least(1), default=7, help="timed runs per cell")
    parser.add_argument("--quick", action="store_true", help="1 and 20 values, 3 repeats")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_output_folders(parser, args, ["json"])
    if args.quick:
        quick_sizes(parser, args, {"values": [1, 20], "repeats": 3})
    print(f"skqegm {__version__}, numpy {np.__version__}, {platform.processor() or '?'}; "
          f"load average {' '.join(f'{x:.2f}' for x in _load())}")
    print(f"{'bound':<7}{'k':>3}{'n':>7}{'values':>8}{'nested ms':>12}{'tangent ms':>12}"
          f"{'ratio':>9}{'max diff':>11}")
    records = []
    # The shortest periods' levels lie near the threshold, which return_level warns of.
    warnings.filterwarnings("ignore", "the upper tail of GPDTailSampler", UserWarning)
    for k in args.exceedances:
        for n_values in args.values:
            for r in bench(k, args.rows, n_values, args.repeats):
                records.append(r)
                print(f"{r['what']:<7}{k:>3}{args.rows:>7}{n_values:>8}{r['nested_ms']:>12.2f}"
                      f"{r['tangent_ms']:>12.2f}{r['ratio']:>8.1f}x{r['max_difference']:>11.1e}")
    print(f"\nthe exact pivot's level interval (weight 0.3), former (betainc at every node, "
          f"roots from [-1, 1]) against skqegm's\n{'k':>3}{'n':>7}{'values':>8}"
          f"{'former ms':>12}{'ours ms':>12}{'ratio':>9}{'max diff':>11}")
    for k in args.exceedances:
        for n_values in args.values:
            r = bench_pivot(k, args.rows, n_values, args.repeats)
            records.append(r)
            print(f"{k:>3}{args.rows:>7}{n_values:>8}{r['former_ms']:>12.2f}"
                  f"{r['ours_ms']:>12.2f}{r['ratio']:>8.1f}x{r['max_difference']:>11.1e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(records=records, load_average=list(_load())), f, indent=1)


def _load():
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover
        return (float("nan"),) * 3


if __name__ == "__main__":
    main()
