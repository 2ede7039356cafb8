"""Speed of the multivariate tail metrics: skqegm's KDE rarity against a KDE of every row.

What is measured
----------------
``tail_kl_divergence(x_true, x_model)`` on Student-t(4) data of ``n`` rows and ``d``
features (``x_model`` a fresh draw of the same size), two ways in the same run:

* ``skqegm``: the default rarity, a Gaussian KDE of at most 2,000 rows of ``x_true``
  evaluated in blocks of matrix products;
* ``full KDE``: the same metric with ``rarity`` a :class:`scipy.stats.gaussian_kde` of
  every row of ``x_true`` (what skqegm 0.2 did).

Then the three ``SCORERS`` on a ``GaussianMixture`` fitted on ``n`` rows of ``d``
features, scored on ``n`` held-out rows (10 model draws per row): the time of one call
each, the cost a grid search pays per candidate and fold.

The target of issue 16: tail KL at 20,000 x 5 in under 2 s. Run
``python benchmarks/bench_metrics.py`` (about 2 minutes, most of it the full KDE) or
``--quick``; ``--json PATH`` writes every figure.
"""

import argparse
import json
import platform
import time

import numpy as np
from _options import check_output_folders  # this folder is on sys.path
from scipy.stats import gaussian_kde
from sklearn.mixture import GaussianMixture

from skqegm import __version__
from skqegm.metrics import SCORERS, tail_kl_divergence

TARGET_SECONDS = 2.0


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def _full_kde_rarity(x_true):
    kde = gaussian_kde(x_true.T)
    return lambda X: -kde.logpdf(np.asarray(X).T)


def bench_tail_kl(n_rows, n_features, with_full_kde):
    rng = np.random.RandomState(0)
    x_true = rng.standard_t(4, size=(n_rows, n_features))
    x_model = rng.standard_t(4, size=(n_rows, n_features))
    kl, seconds = _timed(lambda: tail_kl_divergence(x_true, x_model))
    record = dict(n_rows=n_rows, n_features=n_features, kl=kl, seconds=seconds)
    if with_full_kde:
        full_kl, full_seconds = _timed(lambda: tail_kl_divergence(
            x_true, x_model, rarity=_full_kde_rarity(x_true)))
        record.update(full_kde_kl=full_kl, full_kde_seconds=full_seconds)
    return record


def bench_scorers(n_rows, n_features):
    rng = np.random.RandomState(1)
    X = rng.standard_t(4, size=(2 * n_rows, n_features))
    model = GaussianMixture(n_components=3, random_state=0).fit(X[:n_rows])
    record = dict(n_rows=n_rows, n_features=n_features)
    for name, scorer in SCORERS.items():
        record[name], record[f"{name}_seconds"] = _timed(lambda s=scorer: s(model, X[n_rows:]))
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args(argv)
    check_output_folders(parser, args, ("json",))
    sizes = [(2000, 2), (2000, 5)] if args.quick else [(20000, 2), (20000, 5)]
    print(f"skqegm {__version__}, python {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}")
    print(f"\n{'n x d':>10}  {'skqegm s':>9}  {'full KDE s':>10}  {'speed-up':>8}  "
          f"{'kl':>7}  {'kl (full)':>9}")
    tail = [bench_tail_kl(n, d, with_full_kde=True) for n, d in sizes]
    for r in tail:
        print(f"{r['n_rows']:>6,} x {r['n_features']}  {r['seconds']:>9.2f}  "
              f"{r['full_kde_seconds']:>10.2f}  {r['full_kde_seconds'] / r['seconds']:>7.1f}x  "
              f"{r['kl']:>7.4f}  {r['full_kde_kl']:>9.4f}")
    scorers = [bench_scorers(n, d) for n, d in sizes]
    print(f"\n{'n x d':>10}  " + "  ".join(f"{k + ' s':>24}" for k in SCORERS))
    for r in scorers:
        print(f"{r['n_rows']:>6,} x {r['n_features']}  "
              + "  ".join(f"{r[k + '_seconds']:>24.2f}" for k in SCORERS))
    largest = tail[-1]
    verdict = "PASS" if largest["seconds"] < TARGET_SECONDS else "FAIL"
    print(f"\nTarget tail KL at {largest['n_rows']:,} x {largest['n_features']} under "
          f"{TARGET_SECONDS:.0f} s: {largest['seconds']:.2f} s {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(version=__version__, tail_kl=tail, scorers=scorers), f, indent=2)


if __name__ == "__main__":
    main()
