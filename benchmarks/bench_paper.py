"""The paper's benchmark, measured honestly: QEGM, its controls and classical baselines.

Does the quantum latent help? Every model is fitted on the same training rows and scored
by the package's own metrics on the same held-out rows, over 10 seeds per cell.

Data
----
* ``mixture``: the paper's mixture (``make_tail_mixture``); per seed 10,000 training,
  2,000 validation and 20,000 test points, all fresh draws.
* ``sp500-shuffled``: S&P 500 daily log returns 1999-2018 (``load_sp500_returns``),
  split 70/15/15 after a shuffle stratified on the lower-2.5% label, as in the paper;
  the split changes with the seed.
* ``sp500-chrono``: the same returns split 70/15/15 in time order (train 1999-2012,
  test 2016-2018), as a user would; only the models' seeds change.

Models
------
``qegm`` (``QEGMSampler()``, exact backend) and its controls: ``twin`` (``latent=
"gaussian"``), ``qegm-qrng`` (``noise="qrng"``), ``qegm-nonoise`` (``noise=None``),
``qegm-notail`` (``tail_weight=0``); ``qegm-aer`` (Aer, 256 shots, parameter shift;
mixture only, a 200-row subset and 2 epochs on the first ``--aer-seeds`` seeds: Aer is
too slow for more); ``gan``, ``vae``, ``diffusion``, ``student-t``, ``gpd``
(:mod:`skqegm.baselines`), ``gmm`` (``GaussianMixture``), ``kde`` (``KernelDensity``).

Tuning: the same budget for every family. On each dataset, before the seeds, one
``GridSearchCV`` per family over a grid of 4 candidates (``GRIDS``; Student-t has no
hyper-parameter), fitted on seed 0's training rows and scored on its validation rows
(``PredefinedSplit``) with ``skqegm.metrics.SCORERS``; the candidate with the best
``neg_tail_kl`` is used for all seeds. The QEGM controls take QEGM's choice and change one
thing; the twin is tuned as its own family.

Scores (held-out test rows; model draws: 100,000, Aer 20,000)
-------------------------------------------------------------
* ``tail_kl``: ``tail_kl_divergence(test, draws)`` (5% per side); ``tail_kl_low``: the
  lower 2.5% tail only;
* ``recall`` / ``precision``: the paper's rare events, test points beyond the training
  tail thresholds (mixture: 5% per side; S&P: the lower 2.5%), against the model's flags:
  rarity ``-log density`` (``score_samples``, or a Gaussian KDE of 10,000 draws for a
  model without a density) above its (1 - rate) quantile on the training rows, where
  rate is the training share of rare events (the matching rate);
* ``cov90`` / ``cov95`` / ``cov99``: share of test points inside the central interval of
  the draws (also 50-80% for the calibration figure);
* ``q0.1`` / ``q0.5`` / ``q1``: error of the draws' 0.1% / 0.5% / 1% quantile, in training
  standard deviations, against the exact quantile (mixture) or the test set's (S&P: 755
  test points, so the 0.1% reference is the extreme point, a noisy target);
* ``mode_lo`` / ``mode_mid`` / ``mode_hi`` (mixture): mass of the draws nearest each
  component mean (exact: 0.152 / 0.703 / 0.145);
* ``loglik``: mean held-out log-density (models with ``score_samples``);
* ``fit_s``: fit wall time, one fit at a time, one torch thread.

Each cell is a mean with a 95% t confidence interval over the seeds. Paired comparisons
(same seeds, same splits) of QEGM against its twin, its controls and the best classical
model by tail KL give the mean difference with its 95% CI and the p-values of a paired
t-test and a Wilcoxon signed-rank test.

Run ``python benchmarks/bench_paper.py --json paper.json --figures doc/_static`` for the
full run (wall time in ``doc/benchmarks.md``), ``--quick`` for a smoke test (toy sizes,
2 seeds). ``--markdown PATH`` writes the tables.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.optimize import brentq
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.neighbors import KernelDensity

from skqegm import QEGMSampler, __version__
from skqegm.baselines import (
    DiffusionSampler,
    GANSampler,
    GPDTailSampler,
    StudentTSampler,
    VAESampler,
)
from skqegm.datasets import load_sp500_returns, make_tail_mixture, tail_mixture_cdf
from skqegm.metrics import SCORERS, rare_event_precision, rare_event_recall, tail_kl_divergence
from skqegm.preprocessing import train_val_test_split

DATASETS = ("mixture", "sp500-shuffled", "sp500-chrono")
MODELS = ("qegm", "twin", "qegm-qrng", "qegm-nonoise", "qegm-notail", "qegm-aer", "gan", "vae",
          "diffusion", "gmm", "kde", "student-t", "gpd")
CLASSICAL = ("gan", "vae", "diffusion", "gmm", "kde", "student-t", "gpd")
CONTROLS = {"qegm-qrng": dict(noise="qrng"), "qegm-nonoise": dict(noise=None),
            "qegm-notail": dict(tail_weight=0.0)}
LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
QUANTILES = (0.001, 0.005, 0.01)
MODE_MEANS = np.array([-3.0, 0.0, 3.0])
NETWORK_GRID = {"hidden_layer_sizes": [(32, 32), (64, 64)], "learning_rate": [1e-3, 3e-3]}
GRIDS = {
    "qegm": NETWORK_GRID,
    "twin": NETWORK_GRID,
    "vae": NETWORK_GRID,
    "diffusion": NETWORK_GRID,
    "gan": {"hidden_layer_sizes": [(32, 32), (64, 64)], "learning_rate": [1e-4, 1e-3]},
    "gmm": {"n_components": [1, 2, 3, 5]},
    "kde": {"bandwidth": [0.05, 0.1, 0.2, 0.4]},  # times the training standard deviation
    "gpd": {"tail_fraction": [0.01, 0.02, 0.05, 0.1]},
    "student-t": {},
}
# Rare events per dataset: (tail probability, side) of the training thresholds.
RARE = {"mixture": (0.05, "both"), "sp500-shuffled": (0.025, "lower"),
        "sp500-chrono": (0.025, "lower")}
METRICS = ("tail_kl", "tail_kl_low", "recall", "precision", "cov90", "cov95", "cov99", "q0.1",
           "q0.5", "q1", "mode_lo", "mode_mid", "mode_hi", "loglik", "fit_s")
# Which way is better, for the paired tests and the "best classical" choice.
LOWER_IS_BETTER = {"tail_kl", "tail_kl_low", "q0.1", "q0.5", "q1", "fit_s"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per cell (0..N-1)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--n-train", type=int, default=10000, help="mixture training rows")
    parser.add_argument("--n-val", type=int, default=2000, help="mixture validation rows")
    parser.add_argument("--n-test", type=int, default=20000, help="mixture test rows")
    parser.add_argument("--n-draws", type=int, default=100000, help="model draws per fit")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="cap every torch model's epochs (default: their own)")
    parser.add_argument("--aer-seeds", type=int, default=2)
    parser.add_argument("--aer-rows", type=int, default=200)
    parser.add_argument("--aer-epochs", type=int, default=2)
    parser.add_argument("--aer-shots", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="toy sizes, 2 seeds")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--markdown", metavar="PATH")
    parser.add_argument("--figures", metavar="DIR", help="write the PNG figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.n_train, args.n_val, args.n_test = 2, 600, 300, 2000
        args.n_draws, args.max_epochs = 4000, 2
        args.aer_seeds, args.aer_rows, args.aer_epochs, args.aer_shots = 1, 10, 1, 32
    return args


# -- data ---------------------------------------------------------------------------------------
def load_split(dataset, seed, args):
    """``(train, val, test)``, each of shape (n, 1)."""
    if dataset == "mixture":
        return tuple(make_tail_mixture(n, random_state=1000 * part + seed)[0]
                     for part, n in enumerate((args.n_train, args.n_val, args.n_test)))
    r = load_sp500_returns()
    if args.quick:
        r = r[-1500:]
    if dataset == "sp500-chrono":
        parts = train_val_test_split(r, shuffle=False)
    else:
        rare = (r < np.quantile(r, 0.025)).astype(int)
        parts = train_val_test_split(r, stratify=rare, random_state=seed)
    return tuple(np.asarray(part).reshape(-1, 1) for part in parts[:3])


def reference_quantiles(dataset, test):
    if dataset == "mixture":
        cdf = lambda v: tail_mixture_cdf(np.array([v]))[0]  # noqa: E731
        return np.array([brentq(lambda v, p=p: cdf(v) - p, -20, 20, xtol=1e-10)
                         for p in QUANTILES])
    return np.quantile(test, QUANTILES)


# -- models -------------------------------------------------------------------------------------
def family(name):
    return "qegm" if name in CONTROLS else name


def make_model(name, params, seed, args, train_std):
    """An unfitted model; ``params`` are its family's tuned hyper-parameters."""
    epochs = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    if name == "qegm-aer":
        return QEGMSampler(backend="aer", shots=args.aer_shots, max_epochs=args.aer_epochs,
                           batch_size=args.aer_rows, early_stopping=False, random_state=seed)
    if name in ("qegm", "twin") or name in CONTROLS:
        extra = dict(latent="gaussian") if name == "twin" else CONTROLS.get(name, {})
        return QEGMSampler(random_state=seed, **epochs, **params, **extra)
    if name == "gan":
        return GANSampler(random_state=seed, **epochs, **params)
    if name == "vae":
        return VAESampler(random_state=seed, **epochs, **params)
    if name == "diffusion":
        return DiffusionSampler(random_state=seed, **epochs, **params)
    if name == "gmm":
        return GaussianMixture(random_state=seed, **params)
    if name == "kde":
        return KernelDensity(bandwidth=params.get("bandwidth", 0.1) * train_std)
    if name == "student-t":
        return StudentTSampler()
    if name == "gpd":
        return GPDTailSampler(**params)
    raise ValueError(f"unknown model {name!r}")


def tune(dataset, families, args, log):
    """Per family, the grid candidate with the best validation ``neg_tail_kl`` on seed 0."""
    train, val, _ = load_split(dataset, 0, args)
    X = np.vstack([train, val])
    cv = PredefinedSplit(np.r_[np.full(len(train), -1), np.zeros(len(val), dtype=int)])
    std = float(train.std())
    chosen = {}
    for name in families:
        grid = GRIDS[name]
        if not grid:
            chosen[name] = {}
            continue
        start = time.perf_counter()
        model = make_model(name, {}, 0, args, std)
        if name == "kde":  # the grid is relative to the data's spread
            grid = {"bandwidth": [b * std for b in grid["bandwidth"]]}
        search = GridSearchCV(model, grid, scoring=SCORERS, refit=False, cv=cv).fit(X)
        scores = np.nan_to_num(search.cv_results_["mean_test_neg_tail_kl"], nan=-np.inf)
        best = dict(search.cv_results_["params"][int(np.argmax(scores))])
        if name == "kde":
            best = {"bandwidth": best["bandwidth"] / std}
        chosen[name] = best
        log(f"  tuned {name:<10} {best}  (validation tail KL {-scores.max():.4f}, "
            f"{time.perf_counter() - start:.0f} s)")
    return chosen


# -- scores -------------------------------------------------------------------------------------
def draw(model, n, seed):
    draws = model.sample(n, random_state=seed) if not isinstance(model, GaussianMixture) \
        else model.sample(n)[0]
    return np.asarray(draws, dtype=np.float64).ravel()


def log_density(model, X, draws):
    if hasattr(model, "score_samples"):
        return model.score_samples(X)
    return stats.gaussian_kde(draws[:10000]).logpdf(X.ravel())


def rare_flags(values, thresholds, side):
    low, high = thresholds
    return (values < low) | ((values > high) if side == "both" else False)


def score_model(model, dataset, train, test, seed, n_draws, reference):
    draws = draw(model, n_draws, seed)
    x_train, x_test = train.ravel(), test.ravel()
    record = {
        "tail_kl": tail_kl_divergence(test, draws),
        "tail_kl_low": tail_kl_divergence(test, draws, tail_fraction=0.025, side="lower"),
    }
    tail, side = RARE[dataset]
    thresholds = np.quantile(x_train, [tail, 1 - tail])
    rate = rare_flags(x_train, thresholds, side).mean()
    rarity_train = -log_density(model, train, draws)
    test_log_density = log_density(model, test, draws)
    rarity_test = -test_log_density
    flags = (rarity_test > np.quantile(rarity_train, 1 - rate)).astype(int)
    true = rare_flags(x_test, thresholds, side).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no flag at all gives nan precision, with a warning
        record["recall"] = rare_event_recall(true, flags)
        record["precision"] = rare_event_precision(true, flags)
    bounds = np.quantile(draws, np.r_[(1 - np.array(LEVELS)) / 2, (1 + np.array(LEVELS)) / 2])
    n = len(LEVELS)
    coverage = [float(np.mean((x_test >= bounds[i]) & (x_test <= bounds[n + i])))
                for i in range(n)]
    record["coverage"] = coverage
    for level, key in ((0.90, "cov90"), (0.95, "cov95"), (0.99, "cov99")):
        record[key] = coverage[LEVELS.index(level)]
    errors = np.abs(np.quantile(draws, QUANTILES) - reference) / x_train.std()
    record.update({"q0.1": errors[0], "q0.5": errors[1], "q1": errors[2]})
    if dataset == "mixture":
        nearest = np.abs(draws[:, None] - MODE_MEANS).argmin(axis=1)
        masses = np.bincount(nearest, minlength=3) / nearest.size
        record.update(mode_lo=masses[0], mode_mid=masses[1], mode_hi=masses[2])
    if hasattr(model, "score_samples"):
        record["loglik"] = float(np.mean(test_log_density))
    return {key: (float(v) if np.isscalar(v) else v) for key, v in record.items()}


# -- the run ------------------------------------------------------------------------------------
def run(args, log):
    records, fitted_examples, tuned = [], {}, {}
    for dataset in args.datasets:
        log(f"== {dataset}")
        models = [m for m in args.models if not (m == "qegm-aer" and dataset != "mixture")]
        families = sorted({family(m) for m in models if m != "qegm-aer"})
        tuned[dataset] = tune(dataset, families, args, log)
        for seed in range(args.seeds):
            train, _, test = load_split(dataset, seed, args)
            reference = reference_quantiles(dataset, test)
            for name in models:
                if name == "qegm-aer" and seed >= args.aer_seeds:
                    continue
                params = tuned[dataset].get(family(name), {})
                model = make_model(name, params, seed, args, float(train.std()))
                rows = train[: args.aer_rows] if name == "qegm-aer" else train
                start = time.perf_counter()
                model.fit(rows)
                fit_s = time.perf_counter() - start
                n_draws = min(args.n_draws, 20000) if name == "qegm-aer" else args.n_draws
                record = score_model(model, dataset, train, test, seed, n_draws, reference)
                record.update(dataset=dataset, model=name, seed=seed, fit_s=fit_s,
                              n_train=len(rows), epochs=getattr(model, "n_iter_", None))
                records.append(record)
                log(f"  seed {seed} {name:<13} fit {fit_s:6.1f} s  tail KL "
                    f"{record['tail_kl']:.4f}  recall {record['recall']:.3f}  "
                    f"cov90 {record['cov90']:.3f}")
                if seed == 0:
                    fitted_examples[(dataset, name)] = (model, test)
    return records, fitted_examples, tuned


# -- summaries ----------------------------------------------------------------------------------
def mean_ci(values):
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(values) == 0:
        return None
    if len(values) == 1:
        return float(values[0]), None, 1
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half), len(values)


def summarise(records):
    summary = {}
    for r in records:
        summary.setdefault(r["dataset"], {}).setdefault(r["model"], []).append(r)
    return {dataset: {model: {key: mean_ci([r.get(key) for r in rows]) for key in METRICS}
                      for model, rows in by_model.items()}
            for dataset, by_model in summary.items()}


def paired(records, dataset, first, second, metric):
    """Paired differences ``first - second`` over the seeds both ran."""
    a = {r["seed"]: r[metric] for r in records if r["dataset"] == dataset and r["model"] == first}
    b = {r["seed"]: r[metric] for r in records
         if r["dataset"] == dataset and r["model"] == second}
    seeds = sorted(s for s in set(a) & set(b) if np.isfinite(a[s]) and np.isfinite(b[s]))
    if len(seeds) < 2:
        return None
    diff = np.array([a[s] - b[s] for s in seeds])
    mean, half, n = mean_ci(diff)
    t_p = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue) \
        if np.any(diff != 0) else 1.0
    w_p = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
    return {"mean_diff": mean, "ci": half, "n": n, "t_p": t_p, "wilcoxon_p": w_p}


def best_classical(summary, dataset):
    rows = {m: summary[dataset][m]["tail_kl"] for m in CLASSICAL if m in summary[dataset]}
    rows = {m: v for m, v in rows.items() if v is not None}
    return min(rows, key=lambda m: rows[m][0]) if rows else None


def comparisons(records, summary):
    out = []
    for dataset in summary:
        if "qegm" not in summary[dataset]:
            continue
        others = ["twin", *CONTROLS]
        best = best_classical(summary, dataset)
        if best:
            others.append(best)
        for other in others:
            if other not in summary[dataset]:
                continue
            for metric in ("tail_kl", "tail_kl_low", "recall", "precision", "cov90", "q0.5"):
                result = paired(records, dataset, "qegm", other, metric)
                if result:
                    out.append(dict(dataset=dataset, versus=other, metric=metric,
                                    best_classical=other == best, **result))
    return out


def fmt(cell, digits=3):
    if cell is None:
        return "-"
    mean, half, _ = cell
    return f"{mean:.{digits}f}" if half is None else f"{mean:.{digits}f} ± {half:.{digits}f}"


def markdown(summary, tests, tuned, args):
    lines = []
    columns = [("tail_kl", "tail KL", 4), ("tail_kl_low", "lower 2.5% KL", 4),
               ("recall", "recall", 3), ("precision", "precision", 3), ("cov90", "cov 90", 3),
               ("cov95", "cov 95", 3), ("cov99", "cov 99", 3), ("q0.1", "q0.1% err", 3),
               ("q0.5", "q0.5% err", 3), ("q1", "q1% err", 3), ("loglik", "loglik", 3),
               ("fit_s", "fit s", 1)]
    for dataset, by_model in summary.items():
        cols = list(columns)
        if dataset == "mixture":
            cols[-2:-2] = [("mode_lo", "mass -3", 3), ("mode_mid", "mass 0", 3),
                           ("mode_hi", "mass +3", 3)]
        lines += [f"### {dataset}", "",
                  "| model | n | " + " | ".join(c[1] for c in cols) + " |",
                  "|---|---|" + "---|" * len(cols)]
        for model, cells in by_model.items():
            n = cells["tail_kl"][2] if cells["tail_kl"] else 0
            lines.append(f"| {model} | {n} | "
                         + " | ".join(fmt(cells[key], d) for key, _, d in cols) + " |")
        lines += ["", "Tuned hyper-parameters: " + "; ".join(
            f"{name} {params}" for name, params in tuned[dataset].items() if params), ""]
    lines += ["### Paired comparisons: qegm minus the other model, over the same seeds", "",
              "| dataset | versus | metric | mean difference ± 95% CI | paired t p | "
              "Wilcoxon p |", "|---|---|---|---|---|---|"]
    for t in tests:
        versus = t["versus"] + (" (best classical)" if t["best_classical"] else "")
        lines.append(f"| {t['dataset']} | {versus} | {t['metric']} | "
                     f"{fmt((t['mean_diff'], t['ci'], t['n']), 4)} | {t['t_p']:.3g} | "
                     f"{t['wilcoxon_p']:.3g} |")
    return "\n".join(lines) + "\n"


# -- figures ------------------------------------------------------------------------------------
def figures(records, summary, examples, directory):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skqegm.plotting import plot_coverage_calibration, plot_tail_density

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    if any(d == "mixture" for d, _ in examples):
        shown = [m for m in ("qegm", "twin", "gan", "vae", "diffusion", "gmm", "kde",
                             "student-t", "gpd") if ("mixture", m) in examples]
        test = examples[("mixture", shown[0])][1]
        fig, axes = plt.subplots(1, 2, figsize=(15, 5))
        models = {m: examples[("mixture", m)][0] for m in shown}
        plot_tail_density(test, models, ax=axes[0], title="Tail mixture, seed 0: densities")
        plot_tail_density(test, models, log=True, ax=axes[1], title="Log scale: the tails")
        axes[1].set_ylim(1e-5, 1)
        axes[1].get_legend().remove()
        written.append(_save(fig, directory / "paper_fig5b_mixture_densities.png"))
    fig, axes = plt.subplots(1, len(summary), figsize=(5.5 * len(summary), 5), squeeze=False)
    for ax, dataset in zip(axes[0], summary):
        coverage = {}
        for model in summary[dataset]:
            rows = [r["coverage"] for r in records
                    if r["dataset"] == dataset and r["model"] == model]
            coverage[model] = rows
        plot_coverage_calibration(LEVELS, coverage, ax=ax, title=dataset)
    written.append(_save(fig, directory / "paper_fig5a_coverage.png"))
    fig, axes = plt.subplots(1, len(summary), figsize=(6 * len(summary), 4.5), squeeze=False)
    for ax, dataset in zip(axes[0], summary):
        names = list(summary[dataset])
        cells = [summary[dataset][m]["recall"] for m in names]
        ax.bar(range(len(names)), [c[0] for c in cells],
               yerr=[c[1] or 0 for c in cells], capsize=3,
               color=["C0" if m.startswith("qegm") else "C1" if m == "twin" else "0.6"
                      for m in names])
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("rare-event recall (95% CI)")
        ax.set_title(dataset)
    written.append(_save(fig, directory / "paper_recall.png"))
    return written


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return str(path)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()

    def log(message):
        print(f"[{time.perf_counter() - start:7.1f} s] {message}", flush=True)

    log(f"skqegm {__version__}, python {platform.python_version()}, {platform.machine()}, "
        f"{args.seeds} seeds, datasets {args.datasets}")
    with warnings.catch_warnings():
        # Early stopping warns when max_epochs cuts it short (always in --quick), and the
        # tail KL warns when a toy model puts no draw in a tail; the figures show both.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="No point of x_model falls")
        records, examples, tuned = run(args, log)
    summary = summarise(records)
    tests = comparisons(records, summary)
    table = markdown(summary, tests, tuned, args)
    print(table)
    wall = time.perf_counter() - start
    print(f"wall time {wall:.0f} s")
    if args.markdown:
        Path(args.markdown).write_text(table)
    if args.figures:
        for path in figures(records, summary, examples, args.figures):
            print(f"wrote {path}")
    if args.json:
        payload = {"args": vars(args), "wall_s": wall, "tuned": tuned, "records": records,
                   "summary": summary, "paired_tests": tests,
                   "machine": {"python": platform.python_version(),
                               "platform": platform.platform()}}
        Path(args.json).write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
