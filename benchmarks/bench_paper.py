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
* ``rainfall-chrono`` (the paper's climate domain): daily rainfall in south-west England,
  1914-1962 (``load_daily_rainfall``, 17,531 days, mm), split 70/15/15 in time order
  (12,271 training days, 2,630 validation and 2,630 test days, the last 7 years); only the
  models' seeds change. Every model sits in ``make_tail_pipeline(kind="climate")``
  (min-max scaling fitted on the training days; draws mapped back to mm).
* ``intrusion`` (the paper's cybersecurity domain): ``load_intrusion`` (20,000 KDD Cup 99
  connections, 1.5% attacks), split 70/15/15 stratified on the attack flag
  (``train_val_test_split(stratify=y)``), the split changing with the seed. To keep the
  run short the models train on a stratified subsample of ``--intrusion-train`` (3,000)
  of the 14,000 training rows, the tuning scores ``--intrusion-val`` (1,500) validation
  rows, and the test is the full 15% (3,000 rows, 45 attacks). The features are
  preprocessed the paper's way (one-hot categorical, standardised continuous: the
  ``"preprocess"`` step of ``make_tail_pipeline(kind="intrusion")``), fitted on the
  training rows only and applied outside the models (one-hot encoding has no inverse, so a
  pipeline ending in a sampler cannot draw): about 65 columns.

Models
------
``qegm`` (``QEGMSampler()``, exact backend) and its controls: ``twin`` (``latent=
"gaussian"``), ``qegm-qrng`` (``noise="qrng"``), ``qegm-nonoise`` (``noise=None``),
``qegm-notail`` (``tail_weight=0``), ``qegm-categorical`` (``latent="categorical"``: a
learned softmax over the same 2**n codes, no circuit) and ``qegm-product``
(``entanglement=None``: the circuit without its CNOT chain, a product of independent
bits), ``qegm-toronto`` (``backend=FakeTorontoV2(), shots=None``: the circuit trained
under the fake Toronto device's noise model, gate and readout errors, simulated exactly
by ``NoisyDensityMatrixSimulator`` and trained by autograd on the full training rows);
``qegm-aer`` (Aer, 256 shots, parameter shift;
mixture only, a 200-row subset and 2 epochs on the first ``--aer-seeds`` seeds: Aer is
too slow for more); ``gan``, ``vae``, ``diffusion``, ``student-t``, ``gpd``
(:mod:`skqegm.baselines`), ``gmm`` (``GaussianMixture``), ``kde`` (``KernelDensity``).

New domains: ``qegm-aer`` is not run (mixture only); on the intrusions ``gpd`` is not run
either (a model of independent margins, with generalized Pareto tails fitted to 0/1
columns); the reasons are printed and kept in the JSON (``skipped``).

Tuning: the same budget for every family. On each dataset, before the seeds, one
``GridSearchCV`` per family over a grid of 4 candidates (``GRIDS``; Student-t has no
hyper-parameter), fitted on seed 0's training rows and scored on its validation rows
(``PredefinedSplit``) with ``skqegm.metrics.SCORERS``; the candidate with the best
``neg_tail_kl`` is used for all seeds. The QEGM controls take QEGM's choice and change one
thing; the twin is tuned as its own family. On the new domains the selection score is the
tail KL of that domain (below): the upper 5% on the rainfall (``make_tail_kl_scorer(side=
"upper")``; both tails would fail, the lower one being all dry days), and the
multivariate tail KL on the intrusions; the KDE grid there is {0.25, 0.5, 1, 2} times the
pooled training standard deviation (4 candidates, bracketing Scott's factor, about 0.9 in
65 dimensions, which the 1-D grid misses entirely).

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

Scores on the rainfall (1-D, zero-inflated: 47% of the days are dry, so the lower tail is a
point mass at 0 mm and is not scored; model draws: 100,000)
------------------------------------------------------------------------------------------
* ``tail_kl``: ``tail_kl_divergence(test, draws, side="upper")``, the wettest 5% of the
  test days; ``tail_kl_1``: the wettest 1% (the paper's rare days, 26 test days, so
  ``bins=10``);
* ``recall`` / ``precision``: the paper's rare days, test days above the training 99%
  quantile (28.4 mm), against the model's flags (the same matching-rate rule as above);
* ``cov90`` / ``cov95`` / ``cov99``: share of test days at or below the draws' 90 / 95 /
  99% quantile (one-sided upper intervals: a central interval would hinge on whether its
  lower bound is <= 0 mm);
* ``q99`` / ``q99.9``: absolute error (mm) of the draws' 99% / 99.9% quantile against the
  test days' (the 99.9% reference lies between the 2nd and 3rd wettest test days, a
  noisy target);
* ``fit_s``.

Scores on the intrusions (model draws: ``--intrusion-draws``, 20,000)
------------------------------------------------------------------------
The package's multivariate scores need a rarity (minus a log-density) to define the tail
region; its default, a Gaussian KDE of the held-out rows on their span, ranks every draw of
a continuous model as rarer than every one-hot test row (the draws lie off the lattice of
the data), so the tail KL saturates and scores every model the same (it warns). The
reference rarity is therefore a Gaussian KDE (Scott's bandwidth) of 2,000 training rows
that the models do not see (the rest of the 70%), in the whitened PCA space of the training
rows that keeps 95% of their variance (about 20 components).

* ``tail_kl``: ``tail_kl_divergence`` of the test rows against the draws, both projected on
  that PCA space, with that reference rarity: the rarest 5%, 20 k-means cells (in the
  full one-hot space every model scored the same: the cells are dominated by rare one-hot
  columns);
* ``scorer_recall``: ``make_rare_event_recall_scorer(tail_fraction=0.05, rarity=...)``:
  the test rows rarest by the reference, against the model's own ranking;
* ``hdr90_err``: minus ``make_coverage_scorer(0.9)``, the distance from 0.9 of the share
  of test rows inside the model's 90% highest-density region (its level set on about
  ``--intrusion-hdr-draws`` draws);
* ``recall`` / ``precision``: the attacks (the paper's rare class) against the model's
  flags, its rarity above the (1 - rate) quantile of its rarity on the training rows, rate
  = the training share of attacks;
* ``loglik``: mean test log-density in the preprocessed space (models with a density);
* a model without a density (GAN, diffusion) is given one: a Gaussian KDE of 10,000 of
  its draws in the same PCA space, like the models' densities (a GAN's output layer is
  linear, so its draws lie in a space of at most 64 dimensions, its last hidden layer's
  width, fewer than the columns).

Anomaly detection on the intrusions (its own table): every model's rarity of the test
rows, and that of scikit-learn's ``IsolationForest(random_state=seed)`` and
``LocalOutlierFactor(novelty=True)`` (their defaults: no labels for tuning; ``-
score_samples``); ``gmm`` is the Gaussian mixture. Each is trained (a) on the normal
training rows only and (b) on the training rows as they are, attacks included
("contaminated"), with the same tuned hyper-parameters, and scored by
``average_precision_score`` (attack = positive, score = rarity) and the recall at a 1%
false-positive rate (attacks whose rarity exceeds the 99% quantile of the rarity of the
normal test rows). Paired tests: QEGM against every other model and detector.

Each cell is a mean with a 95% t confidence interval over the seeds. Paired comparisons
(same seeds, same splits) of QEGM against its twin, its controls and the best classical
model by tail KL give the mean difference with its 95% CI and the p-values of a paired
t-test and a Wilcoxon signed-rank test.

"Is it quantum?" (``--controls-markdown PATH``): per dataset, QEGM, the controls that
remove its circuit (``qegm-categorical``) or its entanglement (``qegm-product``) or add a
device's noise (``qegm-toronto``), and the twin, then QEGM minus each of them, paired
over the seeds, on every metric of the table (and of the intrusion detection table);
the JSON keeps them as ``controls_tests``. A further control (``QUANTUM_CONTROLS``) slots
in as one more row and column.

Run ``python benchmarks/bench_paper.py --json paper.json --figures doc/_static`` for the
full run (wall time in ``doc/benchmarks.md``), ``--quick`` for a smoke test (toy sizes,
2 seeds). ``--markdown PATH`` writes the tables. ``--datasets rainfall-chrono intrusion``
runs the new domains only (about 30 minutes on 2 cores: the intrusion subsample above
keeps it there); ``--from-json A.json B.json --json merged.json --markdown ...`` runs
nothing and writes the tables of several such runs as one (each dataset in its own
process, say); the paper's figures are drawn only for the paper's datasets, the new
domains have ``domains_rainfall_upper_tail.png`` and ``domains_intrusion_detection.png``.
In ``--quick`` the new domains use the last 2,000 rainfall days, 200 / 150 / 300
intrusion rows, 300-point rarity KDEs of at most 1,000 draws and at most 50 Student-t
iterations.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from _options import at_least, check_output_folders, quick_sizes  # this folder is on sys.path
from scipy import stats
from scipy.optimize import brentq
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import average_precision_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, PredefinedSplit, train_test_split
from sklearn.neighbors import KernelDensity, LocalOutlierFactor

from skqegm import QEGMSampler, __version__
from skqegm.baselines import (
    DiffusionSampler,
    GANSampler,
    GPDTailSampler,
    StudentTSampler,
    VAESampler,
)
from skqegm.datasets import (
    load_daily_rainfall,
    load_intrusion,
    load_sp500_returns,
    make_tail_mixture,
    tail_mixture_cdf,
)
from skqegm.metrics import (
    SCORERS,
    make_coverage_scorer,
    make_rare_event_recall_scorer,
    make_tail_kl_scorer,
    rare_event_precision,
    rare_event_recall,
    tail_kl_divergence,
)
from skqegm.preprocessing import make_tail_pipeline, train_val_test_split

PAPER_DATASETS = ("mixture", "sp500-shuffled", "sp500-chrono")
DOMAINS = ("rainfall-chrono", "intrusion")
DATASETS = PAPER_DATASETS + DOMAINS
MODELS = ("qegm", "twin", "qegm-qrng", "qegm-nonoise", "qegm-notail", "qegm-categorical",
          "qegm-product", "qegm-toronto", "qegm-aer", "gan", "vae", "diffusion", "gmm", "kde",
          "student-t", "gpd")
CLASSICAL = ("gan", "vae", "diffusion", "gmm", "kde", "student-t", "gpd")
#: QEGM's controls: QEGM's tuned hyper-parameters with one thing changed.
CONTROLS = {"qegm-qrng": dict(noise="qrng"), "qegm-nonoise": dict(noise=None),
            "qegm-notail": dict(tail_weight=0.0),
            "qegm-categorical": dict(latent="categorical"),
            "qegm-product": dict(entanglement=None),
            "qegm-toronto": dict(shots=None)}
#: Controls trained under a fake IBM device's noise: its ``NoiseModel.from_backend``
#: (readout included), simulated exactly (``shots=None``: a density matrix, autograd), so
#: they train on the full training rows; the device is built when the model is.
DEVICES = {"qegm-toronto": "FakeTorontoV2"}
#: The rows of the "Is it quantum?" table, each paired with QEGM on every metric: a
#: learned softmax over the same 2**n codes (no circuit) and the circuit without its CNOT
#: chain (a product of independent bits), and the circuit trained under the noise of a
#: fake IBM device (``DEVICES``). Another control slots in by adding its name here, to
#: MODELS, and its parameters to CONTROLS. The twin is shown beside them for reference.
QUANTUM_CONTROLS = ("qegm-categorical", "qegm-product", "qegm-toronto")
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
LOWER_IS_BETTER = {"tail_kl", "tail_kl_low", "q0.1", "q0.5", "q1", "fit_s", "tail_kl_1",
                   "q99", "q99.9", "hdr90_err"}

# -- the new domains: climate (rainfall) and intrusion ------------------------------------------
RARE["rainfall-chrono"] = (0.01, "upper")  # the paper's climate rare events (eq. 9)
RAIN_QUANTILES = (0.99, 0.999)
#: Scores per domain (their definitions are in the module docstring).
DOMAIN_METRICS = {
    "rainfall-chrono": ("tail_kl", "tail_kl_1", "recall", "precision", "cov90", "cov95", "cov99",
                        "q99", "q99.9", "fit_s"),
    "intrusion": ("tail_kl", "scorer_recall", "hdr90_err", "recall", "precision", "loglik",
                  "fit_s"),
}
#: The paired tests per domain (the paper's datasets use ``PAPER_TESTS``).
PAPER_TESTS = ("tail_kl", "tail_kl_low", "recall", "precision", "cov90", "q0.5")
DOMAIN_TESTS = {
    "rainfall-chrono": ("tail_kl", "tail_kl_1", "recall", "precision", "cov90", "q99", "q99.9"),
    "intrusion": ("tail_kl", "scorer_recall", "hdr90_err", "recall", "precision"),
}
#: Models that do not run on a domain, and why (printed and kept in the JSON).
SKIPPED = {
    "rainfall-chrono": {"qegm-aer": "Aer is run on the mixture only (too slow for more)"},
    "intrusion": {
        "qegm-aer": "Aer is run on the mixture only (too slow for more)",
        "gpd": "a peaks-over-threshold model of each margin, independent of the others: not "
               "a model of about 65 one-hot and standardised columns (it fits generalized "
               "Pareto tails to 0/1 columns)",
    },
}
#: The intrusion's categorical columns (protocol_type, service, flag) in load_intrusion's X.
CATEGORICAL = [1, 2, 3]
#: The intrusion KDE grid, in units of the training rows' pooled standard deviation: in
#: about 70 dimensions Scott's factor n ** (-1 / (d + 4)) is about 0.9, far above the 1-D
#: grid of GRIDS, so this grid of 4 brackets it instead (the same budget).
INTRUSION_KDE_BANDWIDTHS = [0.25, 0.5, 1.0, 2.0]
#: Anomaly detectors of scikit-learn compared with every model on the intrusions.
DETECTORS = ("iforest", "lof")
#: Most points behind a Gaussian KDE (of held-out rows, or of a model's draws).
MAX_KDE_POINTS = 2000
MIN_REFERENCE_ROWS = 500
KDE_DRAWS = 10000
REGIMES = ("normal", "contaminated")
#: Upper-tail probabilities of the rainfall QQ figure.
UPPER_PROBS = np.linspace(0.95, 0.9995, 60)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=at_least(1), default=10, help="seeds per cell (0..N-1)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--n-train", type=at_least(1), default=10000, help="mixture training rows")
    parser.add_argument("--n-val", type=at_least(1), default=2000, help="mixture validation rows")
    parser.add_argument("--n-test", type=at_least(1), default=20000, help="mixture test rows")
    parser.add_argument("--n-draws", type=at_least(1), default=100000, help="model draws per fit")
    parser.add_argument("--max-epochs", type=at_least(1), default=None,
                        help="cap every torch model's epochs (default: their own)")
    parser.add_argument("--aer-seeds", type=at_least(0), default=2)
    parser.add_argument("--aer-rows", type=at_least(1), default=200)
    parser.add_argument("--aer-epochs", type=at_least(1), default=2)
    parser.add_argument("--aer-shots", type=at_least(1), default=256)
    parser.add_argument("--intrusion-train", type=at_least(1), default=3000,
                        help="intrusion training rows (a stratified subsample of the 70%%)")
    parser.add_argument("--intrusion-val", type=at_least(1), default=1500,
                        help="intrusion validation rows for the tuning (stratified subsample)")
    parser.add_argument("--intrusion-test", type=at_least(1), default=None,
                        help="intrusion test rows (default: all 15%%, 3,000)")
    parser.add_argument("--intrusion-draws", type=at_least(1), default=20000,
                        help="model draws per fit on the intrusions")
    parser.add_argument("--intrusion-hdr-draws", type=at_least(1), default=3000,
                        help="about this many draws set the intrusion HDR coverage level")
    parser.add_argument("--kde-points", type=at_least(1), default=MAX_KDE_POINTS,
                        help="points behind each intrusion rarity KDE")
    parser.add_argument("--kde-draws", type=at_least(1), default=KDE_DRAWS,
                        help="draws behind the KDE density of a model without one "
                             "(intrusions)")
    parser.add_argument("--student-t-iter", type=at_least(1), default=None,
                        help="cap the Student-t EM iterations on the new domains")
    parser.add_argument("--quick", action="store_true",
                        help="toy sizes and 2 seeds; sizes given beside it win")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--markdown", metavar="PATH")
    parser.add_argument("--figures", metavar="DIR", help="write the PNG figures here")
    parser.add_argument("--controls-markdown", metavar="PATH",
                        help="write the 'Is it quantum?' tables (QEGM, its categorical and "
                             "product controls, the twin) here")
    parser.add_argument("--from-json", nargs="+", metavar="PATH",
                        help="run nothing: merge these --json outputs (runs of other "
                             "datasets) and write their tables and JSON")
    args = parser.parse_args(argv)
    if args.from_json and args.figures:
        parser.error("--figures needs fitted models: it cannot be used with --from-json")
    check_output_folders(parser, args, ("json", "markdown", "controls_markdown"))
    if args.quick:
        quick_sizes(parser, args, dict(
            seeds=2, n_train=600, n_val=300, n_test=2000, n_draws=4000, max_epochs=2,
            aer_seeds=1, aer_rows=10, aer_epochs=1, aer_shots=32, intrusion_train=200,
            intrusion_val=150, intrusion_test=300, intrusion_draws=1000,
            intrusion_hdr_draws=300, kde_points=300, kde_draws=1000, student_t_iter=50))
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
        extra = dict(latent="gaussian") if name == "twin" else dict(CONTROLS.get(name, {}))
        if name in DEVICES:
            from qiskit_ibm_runtime import fake_provider

            extra["backend"] = getattr(fake_provider, DEVICES[name])()
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


# -- the new domains ----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _intrusion_data():
    return load_intrusion()


def _stratified_rows(X, y, n_rows, seed, rest=False):
    """A stratified random subset of ``n_rows`` rows (all of them when ``n_rows`` is None);
    with ``rest``, also the rows left out."""
    if n_rows is None or n_rows >= len(y):
        kept = (X, y)
        left = (X[:0], y[:0])
    else:
        X_kept, X_left, y_kept, y_left = train_test_split(X, y, train_size=n_rows, stratify=y,
                                                          random_state=seed)
        kept, left = (X_kept, y_kept), (X_left, y_left)
    return (kept, left) if rest else kept


def load_domain(dataset, seed, args):
    """A dict with the ``train``, ``val`` and ``test`` rows in the models' input space.

    Rainfall: mm, shape (n, 1), in time order (the models are pipelines that scale them).
    Intrusion: the one-hot + standardised features (fitted on the training rows only), the
    attack flags ``y_train`` / ``y_val`` / ``y_test``, ``pca``, the 95%-variance whitened
    PCA of the training rows that the rarity KDEs and the tail KL work in, and
    ``reference``, the rarity (of PCA coordinates; ``reference_features``: of feature rows)
    that defines the tail region: a KDE of ``MAX_KDE_POINTS`` training rows that the models
    do not see (the rest of the 70% split).
    """
    if dataset == "rainfall-chrono":
        rain = load_daily_rainfall()
        if args.quick:
            rain = rain[-2000:]
        parts = train_val_test_split(rain, shuffle=False)[:3]
        return dict(zip(("train", "val", "test"), (p.reshape(-1, 1) for p in parts)))
    X, y = _intrusion_data()
    X_train, X_val, X_test, y_train, y_val, y_test = train_val_test_split(
        X, y, stratify=y, random_state=seed)
    (X_train, y_train), (X_spare, _) = _stratified_rows(X_train, y_train, args.intrusion_train,
                                                        seed, rest=True)
    if len(X_spare) < MIN_REFERENCE_ROWS:
        raise ValueError(f"--intrusion-train {args.intrusion_train} leaves {len(X_spare)} of "
                         f"the training rows unused; the reference rarity needs "
                         f"{MIN_REFERENCE_ROWS}: train on fewer rows.")
    X_spare = X_spare[np.sort(np.random.RandomState(seed).permutation(len(X_spare))
                              [:args.kde_points])]
    X_val, y_val = _stratified_rows(X_val, y_val, args.intrusion_val, seed)
    X_test, y_test = _stratified_rows(X_test, y_test, args.intrusion_test, seed)
    # The paper's preprocessing, as make_tail_pipeline(kind="intrusion") builds it, fitted on
    # the training rows only. It is applied outside the models: one-hot encoding has no
    # inverse, so a pipeline ending in a sampler cannot draw (Pipeline.sample raises).
    pipeline = make_tail_pipeline(GaussianMixture(), kind="intrusion",
                                  categorical_features=CATEGORICAL)
    preprocess = clone(pipeline.named_steps["preprocess"]).fit(X_train)
    train, val, test, spare = (np.asarray(preprocess.transform(part), dtype=np.float64)
                               for part in (X_train, X_val, X_test, X_spare))
    pca = PCA(n_components=0.95, svd_solver="full", whiten=True).fit(train)
    reference = pca_kde_rarity(IDENTITY, pca.transform(spare), args.kde_points)
    return dict(train=train, val=val, test=test, y_train=np.asarray(y_train),
                y_val=np.asarray(y_val), y_test=np.asarray(y_test), pca=pca,
                reference=reference,
                reference_features=lambda X: reference(pca.transform(X)))


class _Identity:
    """The projection of rows already in the PCA space."""

    @staticmethod
    def transform(X):
        return np.asarray(X, dtype=np.float64)


IDENTITY = _Identity()


def intrusion_tail_kl(split, rows, draws):
    """The multivariate tail KL (5%) of held-out ``rows`` against ``draws``, both in the
    training PCA space, the tail region defined by the ``reference`` rarity."""
    pca = split["pca"]
    return tail_kl_divergence(pca.transform(rows), pca.transform(draws),
                              rarity=split["reference"])


def pca_kde_log_density(pca, points, max_points=MAX_KDE_POINTS, seed=0):
    """``log kde(X)``: a Gaussian KDE (Scott's bandwidth) of at most ``max_points`` of
    ``points``, in the whitened PCA space ``pca`` of the training rows.

    On the one-hot rows themselves the package's default KDE rarity places every draw of
    a continuous model beyond every test row (off the data's lattice), where the tail KL
    saturates, and a GAN's draws lie in the span of its last hidden layer (at most 64
    dimensions). The PCA keeps the directions that hold 95% of the training variance,
    where models and data overlap.
    """
    projected = pca.transform(points)
    if projected.shape[0] > max_points:
        keep = np.random.RandomState(seed).choice(projected.shape[0], max_points,
                                                  replace=False)
        projected = projected[np.sort(keep)]
    kde = stats.gaussian_kde(projected.T)
    return lambda X: kde.logpdf(pca.transform(np.asarray(X, dtype=np.float64)).T)


def pca_kde_rarity(pca, points, max_points=MAX_KDE_POINTS):
    """``rarity(X) = -log kde(X)``, the reference rarity of the intrusion tail metrics."""
    log_density = pca_kde_log_density(pca, points, max_points)
    return lambda X: -log_density(X)


class DrawsDensity:
    """A sampler without a density (GAN, diffusion), given one for the intrusion scores:
    ``score_samples`` is a Gaussian KDE of ``KDE_DRAWS`` of its draws in the training PCA
    space (drawn with their own seed, so not the draws that a scorer compares it with)."""

    def __init__(self, model, pca, seed, max_points=MAX_KDE_POINTS, n_draws=KDE_DRAWS):
        self.model = model
        draws = draw_any(model, n_draws, 10_000 + seed)
        self._log_density = pca_kde_log_density(pca, draws, max_points)

    def sample(self, n_samples=1, random_state=None):
        return self.model.sample(n_samples, random_state=random_state)

    def score_samples(self, X):
        return self._log_density(X)


def last_step(model):
    return model.steps[-1][1] if hasattr(model, "steps") else model


def draw_any(model, n, seed):
    """``n`` draws of shape (n, n_features), for a model, a pipeline or a GaussianMixture."""
    if isinstance(last_step(model), GaussianMixture):
        draws = model.sample(n)  # its own random_state (the seed) fixes the draws
    else:
        draws = model.sample(n, random_state=seed)
    if isinstance(draws, tuple):
        draws = draws[0]
    return np.asarray(draws, dtype=np.float64).reshape(n, -1)


def model_space_std(dataset, train):
    """The training rows' standard deviation where the model sees them (for the KDE grid)."""
    if dataset == "rainfall-chrono":  # min-max scaled by the climate pipeline
        return float(train.std() / np.ptp(train))
    return float(train.std())


def domain_grid(dataset, name, std):
    grid = {"bandwidth": INTRUSION_KDE_BANDWIDTHS} if (dataset, name) == ("intrusion", "kde") \
        else GRIDS[name]
    if name == "kde":
        grid = {"bandwidth": [b * std for b in grid["bandwidth"]]}
    if dataset == "rainfall-chrono":
        grid = {f"estimator__{key}": values for key, values in grid.items()}
    return grid


def make_domain_model(dataset, name, params, seed, args, train_std):
    """An unfitted model of the domain: rainfall models sit in the climate pipeline."""
    model = make_model(name, params, seed, args, train_std)
    if name == "student-t" and args.student_t_iter is not None:
        model.set_params(max_iter=args.student_t_iter)
    if dataset == "rainfall-chrono":
        return make_tail_pipeline(model, kind="climate")
    return model


def domain_models(dataset, args, log):
    skipped = {m: why for m, why in SKIPPED[dataset].items() if m in args.models}
    for name, why in skipped.items():
        log(f"  skipped {name} on {dataset}: {why}")
    return [m for m in args.models if m not in skipped], skipped


def intrusion_tail_kl_scorer(split, n_draws=10):
    """``neg_tail_kl`` for the intrusion grid search: minus :func:`intrusion_tail_kl` of the
    held-out rows against ``n_draws`` draws per row (the package's scorer takes no rarity
    and no projection)."""

    def scorer(estimator, X, y=None):
        return -intrusion_tail_kl(split, X, draw_any(estimator, n_draws * X.shape[0], 0))

    return scorer


def tune_domain(dataset, families, args, log):
    """As :func:`tune`, on a new domain: the grid candidate with the best validation tail KL
    (rainfall: upper 5%; intrusion: the rarest 5%) on seed 0's rows."""
    split = load_domain(dataset, 0, args)
    train, val = split["train"], split["val"]
    X = np.vstack([train, val])
    cv = PredefinedSplit(np.r_[np.full(len(train), -1), np.zeros(len(val), dtype=int)])
    std = model_space_std(dataset, train)
    if dataset == "rainfall-chrono":
        scoring = {"neg_tail_kl": make_tail_kl_scorer(side="upper")}
    else:
        scoring = {"neg_tail_kl": intrusion_tail_kl_scorer(split)}
    chosen = {}
    for name in families:
        if not GRIDS[name]:
            chosen[name] = {}
            continue
        start = time.perf_counter()
        grid = domain_grid(dataset, name, std)
        model = make_domain_model(dataset, name, {}, 0, args, std)
        search = GridSearchCV(model, grid, scoring=scoring, refit=False, cv=cv).fit(X)
        scores = np.nan_to_num(search.cv_results_["mean_test_neg_tail_kl"], nan=-np.inf)
        best = {key.removeprefix("estimator__"): value
                for key, value in search.cv_results_["params"][int(np.argmax(scores))].items()}
        if name == "kde":
            best = {"bandwidth": best["bandwidth"] / std}
        chosen[name] = best
        log(f"  tuned {name:<10} {best}  (validation tail KL {-scores.max():.4f}, "
            f"{time.perf_counter() - start:.0f} s)")
    return chosen


def fit_domain_model(dataset, name, params, seed, args, X):
    model = make_domain_model(dataset, name, params, seed, args, model_space_std(dataset, X))
    start = time.perf_counter()
    model.fit(X)
    return model, time.perf_counter() - start


def _optional(metric, *args, **kwargs):
    """A score, or None (with the reason printed) where the data cannot define it."""
    try:
        return float(metric(*args, **kwargs))
    except ValueError as exc:
        print(f"    (not scored: {exc})", flush=True)
        return None


def score_rainfall(model, split, seed, n_draws):
    """Upper-tail scores in mm; the lower tail is dry days (0 mm), so it is not scored."""
    train, test = split["train"], split["test"]
    draws = draw_any(model, n_draws, seed).ravel()
    x_train, x_test = train.ravel(), test.ravel()
    record = {
        "tail_kl": tail_kl_divergence(test, draws, side="upper"),
        "tail_kl_1": _optional(tail_kl_divergence, test, draws, tail_fraction=0.01,
                               side="upper", bins=10),
    }
    tail, _ = RARE["rainfall-chrono"]
    threshold = np.quantile(x_train, 1 - tail)  # rare: strictly above it, as the loader
    rate = float(np.mean(x_train > threshold))
    rarity_train = -log_density(model, train, draws)
    rarity_test = -log_density(model, test, draws)
    flags = (rarity_test > np.quantile(rarity_train, 1 - rate)).astype(int)
    true = (x_test > threshold).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record["recall"] = rare_event_recall(true, flags)
        record["precision"] = rare_event_precision(true, flags)
    # One-sided upper intervals (-inf, q_level] of the draws: a central interval would
    # hinge on whether the model's lower bound is <= 0 mm, where 47% of the days lie.
    coverage = [float(np.mean(x_test <= bound)) for bound in np.quantile(draws, LEVELS)]
    record["coverage"] = coverage
    for level, key in ((0.90, "cov90"), (0.95, "cov95"), (0.99, "cov99")):
        record[key] = coverage[LEVELS.index(level)]
    errors = np.abs(np.quantile(draws, RAIN_QUANTILES) - np.quantile(x_test, RAIN_QUANTILES))
    record.update({"q99": errors[0], "q99.9": errors[1]})
    return ({key: (float(v) if v is not None and np.isscalar(v) else v)
             for key, v in record.items()}, draws)


def density_of(model, pca, seed, args):
    """The model itself if it has ``score_samples``, else a KDE of its draws."""
    if hasattr(model, "score_samples"):
        return model
    return DrawsDensity(model, pca, seed, args.kde_points, args.kde_draws)


def recall_at_fpr(y, rarity, fpr=0.01):
    """Share of attacks whose rarity is above the ``1 - fpr`` quantile on the normal rows."""
    threshold = np.quantile(rarity[y == 0], 1 - fpr)
    return float(np.mean(rarity[y == 1] > threshold))


def finite_rarity(rarity):
    # A zero density (-inf log-density) is the rarest there is: the largest finite number.
    big = np.finfo(np.float64).max
    return np.nan_to_num(np.asarray(rarity, dtype=np.float64), posinf=big, neginf=-big)


def detection_scores(y_test, rarity_test):
    rarity_test = finite_rarity(rarity_test)
    return {"ap": float(average_precision_score(y_test, rarity_test)),
            "recall_fpr1": recall_at_fpr(y_test, rarity_test)}


def score_intrusion(model, split, seed, args):
    """The package's multivariate scores (tail region by the reference rarity), the attack
    recall / precision, and the model's rarity of the test rows (for the detection table)."""
    train, test, pca = split["train"], split["test"], split["pca"]
    y_train, y_test = split["y_train"], split["y_test"]
    density = density_of(model, pca, seed, args)
    draws = draw_any(model, args.intrusion_draws, seed)
    record = {"tail_kl": intrusion_tail_kl(split, test, draws)}
    record["scorer_recall"] = make_rare_event_recall_scorer(
        tail_fraction=0.05, rarity=split["reference_features"])(density, test)
    # n_draws per held-out row: the region's level is set on about intrusion_hdr_draws draws
    n_hdr = max(1, round(args.intrusion_hdr_draws / test.shape[0]))
    record["hdr90_err"] = -make_coverage_scorer(0.9, n_draws=n_hdr)(density, test)
    rarity_train = finite_rarity(-density.score_samples(train))
    rarity_test = finite_rarity(-density.score_samples(test))
    rate = float(np.mean(y_train))  # the matching rate: flag as many as the training attacks
    flags = (rarity_test > np.quantile(rarity_train, 1 - rate)).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record["recall"] = rare_event_recall(y_test, flags)
        record["precision"] = rare_event_precision(y_test, flags)
    if hasattr(model, "score_samples"):
        record["loglik"] = float(np.mean(-rarity_test))
    return {key: float(v) for key, v in record.items()}, rarity_test


def make_detector(name, seed):
    if name == "iforest":
        return IsolationForest(random_state=seed)
    return LocalOutlierFactor(novelty=True)


def run_domain(dataset, args, log):
    """Tuning, then every model on every seed; on the intrusions also the detection table."""
    models, skipped = domain_models(dataset, args, log)
    families = sorted({family(m) for m in models})
    tuned = tune_domain(dataset, families, args, log)
    records, detections, examples = [], [], {}
    for seed in range(args.seeds):
        split = load_domain(dataset, seed, args)
        train = split["train"]
        if dataset == "intrusion":
            normal = train[split["y_train"] == 0]
        for name in models:
            params = tuned.get(family(name), {})
            model, fit_s = fit_domain_model(dataset, name, params, seed, args, train)
            if dataset == "rainfall-chrono":
                record, draws = score_rainfall(model, split, seed, args.n_draws)
                if seed == 0:
                    examples[(dataset, name)] = (np.quantile(draws, UPPER_PROBS),
                                                 split["test"].ravel())
            else:
                record, rarity = score_intrusion(model, split, seed, args)
                detections.append(dict(dataset=dataset, model=name, seed=seed,
                                       train="contaminated", fit_s=fit_s,
                                       **detection_scores(split["y_test"], rarity)))
                # (a) the same model trained on the normal training rows only
                clean, clean_s = fit_domain_model(dataset, name, params, seed, args, normal)
                clean_rarity = -density_of(clean, split["pca"], seed, args).score_samples(
                    split["test"])
                detections.append(dict(dataset=dataset, model=name, seed=seed, train="normal",
                                       fit_s=clean_s,
                                       **detection_scores(split["y_test"], clean_rarity)))
                if seed == 0:
                    examples[(dataset, name)] = (finite_rarity(clean_rarity), split["y_test"])
            record.update(dataset=dataset, model=name, seed=seed, fit_s=fit_s,
                          n_train=len(train), epochs=getattr(last_step(model), "n_iter_", None))
            records.append(record)
            log(f"  seed {seed} {name:<16} fit {fit_s:6.1f} s  tail KL "
                f"{record['tail_kl']:.4f}  recall {record['recall']:.3f}"
                + (f"  cov90 {record['cov90']:.3f}" if "cov90" in record else
                   f"  AP {detections[-2]['ap']:.3f} / {detections[-1]['ap']:.3f}"))
        if dataset == "intrusion":
            for name in DETECTORS:
                for regime, rows in (("contaminated", train), ("normal", normal)):
                    detector = make_detector(name, seed)
                    start = time.perf_counter()
                    detector.fit(rows)
                    fit_s = time.perf_counter() - start
                    rarity = -detector.score_samples(split["test"])
                    detections.append(dict(dataset=dataset, model=name, seed=seed,
                                           train=regime, fit_s=fit_s,
                                           **detection_scores(split["y_test"], rarity)))
                    if seed == 0 and regime == "normal":
                        examples[(dataset, name)] = (finite_rarity(rarity), split["y_test"])
                log(f"  seed {seed} {name:<16} AP {detections[-2]['ap']:.3f} (contaminated) "
                    f"/ {detections[-1]['ap']:.3f} (normal)")
    return records, detections, examples, tuned, skipped


# -- the run ------------------------------------------------------------------------------------
def run(args, log):
    records, fitted_examples, tuned = [], {}, {}
    extra = {"detections": [], "skipped": {}, "dataset_wall_s": {}}
    for dataset in args.datasets:
        log(f"== {dataset}")
        started = time.perf_counter()
        if dataset in DOMAINS:
            found, detections, examples, tuned[dataset], skipped = run_domain(dataset, args, log)
            records += found
            extra["detections"] += detections
            extra["skipped"][dataset] = skipped
            fitted_examples.update(examples)
            extra["dataset_wall_s"][dataset] = time.perf_counter() - started
            continue
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
                log(f"  seed {seed} {name:<16} fit {fit_s:6.1f} s  tail KL "
                    f"{record['tail_kl']:.4f}  recall {record['recall']:.3f}  "
                    f"cov90 {record['cov90']:.3f}")
                if seed == 0:
                    fitted_examples[(dataset, name)] = (model, test)
        extra["dataset_wall_s"][dataset] = time.perf_counter() - started
    return records, fitted_examples, tuned, extra


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
    return {dataset: {model: {key: mean_ci([r.get(key) for r in rows])
                              for key in DOMAIN_METRICS.get(dataset, METRICS)}
                      for model, rows in by_model.items()}
            for dataset, by_model in summary.items()}


def paired(records, dataset, first, second, metric):
    """Paired differences ``first - second`` over the seeds both ran."""
    a = {r["seed"]: r.get(metric) for r in records
         if r["dataset"] == dataset and r["model"] == first}
    b = {r["seed"]: r.get(metric) for r in records
         if r["dataset"] == dataset and r["model"] == second}
    # A score the data could not define (None) or nan leaves that seed out of the pair.
    seeds = sorted(s for s in set(a) & set(b)
                   if a[s] is not None and b[s] is not None
                   and np.isfinite(a[s]) and np.isfinite(b[s]))
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
            for metric in DOMAIN_TESTS.get(dataset, PAPER_TESTS):
                result = paired(records, dataset, "qegm", other, metric)
                if result:
                    out.append(dict(dataset=dataset, versus=other, metric=metric,
                                    best_classical=other == best, **result))
    return out


def summarise_detection(detections):
    """``{regime: {model: {"ap": cell, "recall_fpr1": cell, "fit_s": cell}}}``."""
    out = {}
    for regime in REGIMES:
        rows = [d for d in detections if d["train"] == regime]
        for model in dict.fromkeys(d["model"] for d in rows):
            mine = [d for d in rows if d["model"] == model]
            out.setdefault(regime, {})[model] = {
                key: mean_ci([d[key] for d in mine]) for key in ("ap", "recall_fpr1", "fit_s")}
    return out


def best_detector(detection_summary, regime):
    """The non-QEGM model or detector with the best mean average precision."""
    cells = {m: c["ap"] for m, c in detection_summary.get(regime, {}).items()
             if family(m) != "qegm" and m != "twin" and c["ap"] is not None}
    return max(cells, key=lambda m: cells[m][0]) if cells else None


def detection_tests(detections, detection_summary):
    """Paired tests, QEGM minus every other model or detector, per training regime."""
    out = []
    for regime, by_model in detection_summary.items():
        if "qegm" not in by_model:
            continue
        best = best_detector(detection_summary, regime)
        rows = [dict(d, dataset=regime) for d in detections if d["train"] == regime]
        for other in by_model:
            if other == "qegm":
                continue
            for metric in ("ap", "recall_fpr1"):
                result = paired(rows, regime, "qegm", other, metric)
                if result:
                    out.append(dict(train=regime, versus=other, metric=metric,
                                    best_classical=other == best, **result))
    return out


def fmt(cell, digits=3):
    if cell is None:
        return "-"
    mean, half, _ = cell
    return f"{mean:.{digits}f}" if half is None else f"{mean:.{digits}f} ± {half:.{digits}f}"


DOMAIN_COLUMNS = {
    "rainfall-chrono": [("tail_kl", "upper 5% KL", 4), ("tail_kl_1", "upper 1% KL", 4),
                        ("recall", "recall", 3), ("precision", "precision", 3),
                        ("cov90", "upper cov 90", 3), ("cov95", "upper cov 95", 3),
                        ("cov99", "upper cov 99", 3), ("q99", "q99% err mm", 2),
                        ("q99.9", "q99.9% err mm", 2),
                        ("fit_s", "fit s", 1)],
    "intrusion": [("tail_kl", "tail KL (rarest 5%)", 3), ("scorer_recall", "rarest-5% recall", 3),
                  ("hdr90_err", "HDR 90 error", 3), ("recall", "attack recall", 3),
                  ("precision", "attack precision", 3), ("loglik", "loglik", 1),
                  ("fit_s", "fit s", 1)],
}


PAPER_COLUMNS = [("tail_kl", "tail KL", 4), ("tail_kl_low", "lower 2.5% KL", 4),
                 ("recall", "recall", 3), ("precision", "precision", 3), ("cov90", "cov 90", 3),
                 ("cov95", "cov 95", 3), ("cov99", "cov 99", 3), ("q0.1", "q0.1% err", 3),
                 ("q0.5", "q0.5% err", 3), ("q1", "q1% err", 3), ("loglik", "loglik", 3),
                 ("fit_s", "fit s", 1)]


def table_columns(dataset):
    """``(metric, header, digits)`` of the dataset's table."""
    cols = list(DOMAIN_COLUMNS.get(dataset, PAPER_COLUMNS))
    if dataset == "mixture":
        cols[-2:-2] = [("mode_lo", "mass -3", 3), ("mode_mid", "mass 0", 3),
                       ("mode_hi", "mass +3", 3)]
    return cols


def summary_table(by_model, cols):
    """Markdown lines: one row per model, mean ± 95% CI of each metric of ``cols``."""
    lines = ["| model | n | " + " | ".join(c[1] for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for model, cells in by_model.items():
        n = cells["tail_kl"][2] if cells["tail_kl"] else 0
        lines.append(f"| {model} | {n} | "
                     + " | ".join(fmt(cells[key], d) for key, _, d in cols) + " |")
    return lines


def markdown(summary, tests, tuned, args, detection_summary=None, detection_paired=()):
    lines = []
    for dataset, by_model in summary.items():
        cols = table_columns(dataset)
        lines += [f"### {dataset}", "", *summary_table(by_model, cols)]
        lines += ["", "Tuned hyper-parameters: " + "; ".join(
            f"{name} {params}" for name, params in tuned[dataset].items() if params), ""]
    lines += paired_table("### Paired comparisons: qegm minus the other model, over the same "
                          "seeds", ("dataset", "dataset"), tests, "best classical")
    if detection_summary:
        lines += ["", *detection_markdown(detection_summary, detection_paired)]
    return "\n".join(lines) + "\n"


def detection_markdown(detection_summary, detection_paired):
    models = list(dict.fromkeys(m for regime in detection_summary.values() for m in regime))
    lines = ["### intrusion: anomaly detection (attack = positive, score = rarity)", "",
             "| model | AP, normal-only | recall @ 1% FPR, normal-only | AP, contaminated | "
             "recall @ 1% FPR, contaminated | fit s, normal-only |",
             "|---|---|---|---|---|---|"]
    for model in models:
        cells = [detection_summary.get(regime, {}).get(model) for regime in REGIMES]
        row = []
        for cell in cells:
            row += [fmt(cell["ap"]) if cell else "-", fmt(cell["recall_fpr1"]) if cell else "-"]
        row.append(fmt(cells[0]["fit_s"], 1) if cells[0] else "-")
        lines.append(f"| {model} | " + " | ".join(row) + " |")
    lines += ["", *paired_table("### intrusion detection, paired: qegm minus the other model, "
                                "same seeds", ("trained on", "train"), detection_paired,
                                "best non-QEGM")]
    return lines


def paired_table(title, first_column, tests, best_label):
    """Markdown lines of paired tests; ``first_column`` is (header, key of each test)."""
    header, key = first_column
    lines = [title, "", f"| {header} | versus | metric | mean difference ± 95% CI | paired t p "
             "| Wilcoxon p |", "|---|---|---|---|---|---|"]
    for t in tests:
        versus = t["versus"] + (f" ({best_label})" if t["best_classical"] else "")
        lines.append(f"| {t[key]} | {versus} | {t['metric']} | "
                     f"{fmt((t['mean_diff'], t['ci'], t['n']), 4)} | {t['t_p']:.3g} | "
                     f"{t['wilcoxon_p']:.3g} |")
    return lines


# -- "Is it quantum?": QEGM against the controls that remove its circuit or entanglement --------
#: Metrics where higher is better (the others of LOWER_IS_BETTER are lower-is-better; the
#: coverages and the mode masses are best at their nominal or exact values).
HIGHER_IS_BETTER = {"recall", "precision", "loglik", "scorer_recall", "ap", "recall_fpr1"}
DETECTION_COLUMNS = [("ap", "AP", 3), ("recall_fpr1", "recall @ 1% FPR", 3)]


def controls_shown(models):
    """QEGM, the controls of the "Is it quantum?" table that ran, then the twin."""
    return [m for m in ("qegm", *QUANTUM_CONTROLS, "twin") if m in models]


def controls_tests(records, summary, detections=()):
    """QEGM minus each of :data:`QUANTUM_CONTROLS` and the twin, paired over the seeds, on
    every metric of the dataset's table (and, on the intrusions, of the detection table:
    ``dataset`` is then ``"intrusion detection, <regime>"``)."""
    out = []
    for dataset, by_model in summary.items():
        for other in controls_shown(by_model)[1:] if "qegm" in by_model else ():
            for key, _, _ in table_columns(dataset):
                result = paired(records, dataset, "qegm", other, key)
                if result:
                    out.append(dict(dataset=dataset, versus=other, metric=key, **result))
    rows = [dict(d, dataset=f"intrusion detection, {d['train']}") for d in detections]
    for regime in REGIMES:
        dataset = f"intrusion detection, {regime}"
        models = {d["model"] for d in rows if d["dataset"] == dataset}
        for other in controls_shown(models)[1:] if "qegm" in models else ():
            for key, _, _ in DETECTION_COLUMNS:
                result = paired(rows, dataset, "qegm", other, key)
                if result:
                    out.append(dict(dataset=dataset, versus=other, metric=key, **result))
    return out


def _direction(key):
    return " ↓" if key in LOWER_IS_BETTER else " ↑" if key in HIGHER_IS_BETTER else ""


def _paired_lines(tests, dataset, others, cols):
    """Rows: the metrics; columns: ``qegm − other``, as mean ± CI (paired t p; Wilcoxon p)."""
    found = {(t["versus"], t["metric"]): t for t in tests if t["dataset"] == dataset}
    lines = ["| metric | " + " | ".join(f"qegm − {m}" for m in others) + " |",
             "|---|" + "---|" * len(others)]
    for key, label, digits in cols:
        cells = []
        for other in others:
            t = found.get((other, key))
            cells.append("-" if t is None else
                         f"{fmt((t['mean_diff'], t['ci'], t['n']), digits)} "
                         f"(p {t['t_p']:.2g}; {t['wilcoxon_p']:.2g})")
        lines.append(f"| {label}{_direction(key)} | " + " | ".join(cells) + " |")
    return lines


def controls_markdown(summary, tests, detection_summary=None):
    """The "Is it quantum?" tables: per dataset, QEGM, its quantum controls and the twin
    (mean ± 95% CI over the seeds), then QEGM minus each of them on every metric."""
    note = ("QEGM minus each model, paired over the same seeds: mean difference ± 95% CI "
            "(paired t-test p; Wilcoxon signed-rank p). ↓: lower is better, so a negative "
            "difference favours QEGM; ↑: higher is better.")
    lines = []
    for dataset, by_model in summary.items():
        shown = controls_shown(by_model)
        if shown[:1] != ["qegm"] or len(shown) < 2:
            continue
        cols = table_columns(dataset)
        lines += [f"### {dataset}", "", *summary_table({m: by_model[m] for m in shown}, cols),
                  "", note, "", *_paired_lines(tests, dataset, shown[1:], cols), ""]
    by_regime = detection_summary or {}
    shown = controls_shown(by_regime.get(REGIMES[0], {}))
    if shown[:1] == ["qegm"] and len(shown) > 1:
        lines += ["### intrusion: anomaly detection", "",
                  "| model | " + " | ".join(f"{label}, {regime}" for regime in REGIMES
                                            for _, label, _ in DETECTION_COLUMNS) + " |",
                  "|---|" + "---|" * (len(REGIMES) * len(DETECTION_COLUMNS))]
        for model in shown:
            cells = [by_regime.get(regime, {}).get(model) for regime in REGIMES]
            lines.append(f"| {model} | " + " | ".join(
                fmt(cell[key], d) if cell else "-" for cell in cells
                for key, _, d in DETECTION_COLUMNS) + " |")
        for regime in REGIMES:
            lines += ["", f"Trained on the {regime} rows. {note}", "",
                      *_paired_lines(tests, f"intrusion detection, {regime}", shown[1:],
                                     DETECTION_COLUMNS)]
        lines.append("")
    return lines


# -- figures ------------------------------------------------------------------------------------
def figures(records, summary, examples, directory, detection_summary=None):
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
    # The paper's figures show the paper's datasets only; the new domains have their own.
    domains = {d: summary[d] for d in summary if d in DOMAINS}
    summary = {d: summary[d] for d in summary if d in PAPER_DATASETS}
    written += domain_figures(summary=domains, examples=examples, directory=directory,
                              detection_summary=detection_summary or {})
    if not summary:
        return written
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


def _bars(ax, names, cells, ylabel, title):
    ax.bar(range(len(names)), [c[0] if c else np.nan for c in cells],
           yerr=[(c[1] or 0) if c else 0 for c in cells], capsize=3,
           color=["C0" if family(m) == "qegm" else "C1" if m == "twin" else "0.6"
                  for m in names])
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)


def domain_figures(summary, examples, directory, detection_summary):
    """``domains_rainfall_upper_tail.png`` and ``domains_intrusion_detection.png``."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    written = []
    if "rainfall-chrono" in summary:
        fig, axes = plt.subplots(1, 2, figsize=(13, 5))
        shown = [m for m in ("qegm", "twin", "gan", "vae", "diffusion", "gmm", "kde",
                             "student-t", "gpd") if ("rainfall-chrono", m) in examples]
        test = examples[("rainfall-chrono", shown[0])][1]
        observed = np.quantile(test, UPPER_PROBS)
        for k, name in enumerate(shown):
            axes[0].plot(observed, examples[("rainfall-chrono", name)][0], ".-", ms=3,
                         color=f"C{k}", label=name)
        top = 1.3 * observed.max()
        axes[0].plot([0, top], [0, top], "k--", lw=1, label="model = test")
        axes[0].set(xlim=(0, top), ylim=(0, top), xlabel="test quantile (mm)",
                    ylabel="model quantile (mm)",
                    title="Rainfall, seed 0: upper-tail QQ plot, levels 95% to 99.95%")
        axes[0].legend(fontsize=8)
        names = list(summary["rainfall-chrono"])
        _bars(axes[1], names, [summary["rainfall-chrono"][m]["tail_kl"] for m in names],
              "upper 5% tail KL (95% CI, log scale)",
              "Rainfall, chronological test: upper-tail KL")
        axes[1].set_yscale("log")
        written.append(_save(fig, directory / "domains_rainfall_upper_tail.png"))
    if "intrusion" in summary and detection_summary:
        fig, axes = plt.subplots(1, 2, figsize=(14, 5))
        for k, name in enumerate(m for m in ("qegm", "twin", "gmm", "kde", "vae", "iforest",
                                             "lof") if ("intrusion", m) in examples):
            rarity, y_test = examples[("intrusion", name)]
            precision, recall, _ = precision_recall_curve(y_test, rarity)
            axes[0].plot(recall, precision, color=f"C{k}",
                         label=f"{name} (AP {average_precision_score(y_test, rarity):.2f})")
        axes[0].set(xlabel="recall (attacks)", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
                    title="Intrusions, seed 0, trained on normal traffic: precision-recall")
        axes[0].legend(fontsize=8, loc="lower left")
        models = list(dict.fromkeys(m for regime in detection_summary.values() for m in regime))
        width = 0.4
        for k, regime in enumerate(REGIMES):
            cells = [detection_summary.get(regime, {}).get(m, {}).get("ap") for m in models]
            axes[1].bar(np.arange(len(models)) + (k - 0.5) * width,
                        [c[0] if c else np.nan for c in cells], width,
                        yerr=[(c[1] or 0) if c else 0 for c in cells], capsize=2,
                        label=f"trained on {regime} rows", color=("C0", "C3")[k])
        axes[1].set_xticks(range(len(models)), models, rotation=60, ha="right", fontsize=8)
        axes[1].set(ylim=(0, 1), ylabel="average precision (95% CI)",
                    title="Intrusions: average precision over the seeds")
        axes[1].legend(fontsize=8)
        written.append(_save(fig, directory / "domains_intrusion_detection.png"))
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

    if args.from_json:
        return report(*merge_runs(args.from_json), {}, args)
    log(f"skqegm {__version__}, python {platform.python_version()}, {platform.machine()}, "
        f"{args.seeds} seeds, datasets {args.datasets}")
    with warnings.catch_warnings():
        # Early stopping warns when max_epochs cuts it short (always in --quick), and the
        # tail KL warns when a toy model puts no draw in a tail; the figures show both.
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="No point of x_model falls")
        # The rainfall's lower tail is dry days (0 mm): the GPD model's lower tail has no
        # exceedance there, always, and it is not scored.
        warnings.filterwarnings("ignore", message=r"GPDTailSampler: a generalized Pareto fit "
                                r"needs .* feature 0 lower tail has 0\. ")
        records, examples, tuned, extra = run(args, log)
    return report(records, tuned, extra, time.perf_counter() - start, examples, args)


def merge_runs(paths):
    """``(records, tuned, extra, wall_s)`` of several ``--json`` outputs, as one run.

    A cell (dataset, model, seed) found in several runs is kept once, from the first run,
    if its scores are the same in all (the fit time aside): a model rerun beside a new
    control reuses the earlier run's record only when it reproduced it exactly; scores
    that differ are refused. Tuned hyper-parameters merge per dataset, and a dataset's
    wall times add up.
    """
    records, tuned, wall = [], {}, 0.0
    extra = {"detections": [], "skipped": {}, "dataset_wall_s": {}, "runs": []}
    for path in paths:
        payload = json.loads(Path(path).read_text())
        records = _merge_cells(records, payload["records"], ("dataset", "model", "seed"), path)
        for dataset, chosen in payload["tuned"].items():
            tuned.setdefault(dataset, {}).update(chosen)
        extra["detections"] = _merge_cells(extra["detections"], payload.get("detections", []),
                                           ("dataset", "model", "seed", "train"), path)
        extra["skipped"].update(payload.get("skipped", {}))
        for dataset, seconds in payload.get("dataset_wall_s", {}).items():
            extra["dataset_wall_s"][dataset] = extra["dataset_wall_s"].get(dataset, 0.0) + seconds
        # A merged output lists the runs it was merged from: keep those.
        extra["runs"] += payload.get("runs") or [
            {"path": str(path), "args": payload["args"], "wall_s": payload["wall_s"],
             "machine": payload.get("machine")}]
        wall += payload["wall_s"]
    return records, tuned, extra, wall


def _merge_cells(kept, new, keys, path):
    """``kept`` plus the rows of ``new`` whose ``keys`` are not in it; a row already there
    must have the same scores (timings aside), else ``ValueError``."""
    seen = {tuple(row[k] for k in keys): row for row in kept}
    timings = {"fit_s", "wall_s"}
    merged = list(kept)
    for row in new:
        key = tuple(row[k] for k in keys)
        if key not in seen:
            merged.append(row)
            continue
        first = {k: v for k, v in seen[key].items() if k not in timings}
        if first != {k: v for k, v in row.items() if k not in timings}:
            raise ValueError(f"{path}: the cell {dict(zip(keys, key))} is in an earlier run "
                             "with other scores: a cell is merged only if it reproduced "
                             "exactly.")
    return merged


def report(records, tuned, extra, wall, examples, args):
    """Summaries, paired tests, tables, JSON and figures of a run's records."""
    summary = summarise(records)
    tests = comparisons(records, summary)
    detection_summary = summarise_detection(extra["detections"])
    detection_paired = detection_tests(extra["detections"], detection_summary)
    table = markdown(summary, tests, tuned, args, detection_summary, detection_paired)
    quantum_tests = controls_tests(records, summary, extra["detections"])
    quantum_table = "\n".join(controls_markdown(summary, quantum_tests, detection_summary))
    print(table)
    if quantum_table:
        print("## Is it quantum? Controls\n\n" + quantum_table)
    print(f"wall time {wall:.0f} s")
    if args.markdown:
        Path(args.markdown).write_text(table)
    if args.controls_markdown:
        Path(args.controls_markdown).write_text(quantum_table + "\n")
    if args.json:
        payload = {"args": vars(args), "wall_s": wall, "tuned": tuned, "records": records,
                   "summary": summary, "paired_tests": tests, "controls_tests": quantum_tests,
                   "dataset_wall_s": extra["dataset_wall_s"],
                   **({"runs": extra["runs"]} if extra.get("runs") else {}),
                   **({"detections": extra["detections"],
                       "detection_summary": detection_summary,
                       "detection_tests": detection_paired} if extra["detections"] else {}),
                   **({"skipped": extra["skipped"]} if extra["skipped"] else {}),
                   "machine": {"python": platform.python_version(),
                               "platform": platform.platform()}}
        Path(args.json).write_text(json.dumps(payload, indent=1))
    if args.figures:
        for path in figures(records, summary, examples, args.figures, detection_summary):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
