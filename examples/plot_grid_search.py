"""
==============================================
Model selection with tail scorers
==============================================

:class:`~sklearn.model_selection.GridSearchCV` works with skqegm's samplers like with any
scikit-learn estimator; only the scores are tail-specific. We tune a
:class:`~skqegm.QEGMSampler` on the paper's tail mixture with the scorers of
:mod:`skqegm.metrics` (tail KL, rare-event recall, interval coverage), refit the
candidate with the best tail KL, and check how far the cross-validated ranking can be
trusted.
"""

# %%
# Data and scorers
# ----------------
# ``skqegm.metrics.SCORERS`` holds three greater-is-better scorers with the signature
# ``scorer(estimator, X, y=None)``, usable as ``scoring=`` in any scikit-learn search:
#
# - ``"neg_tail_kl"``: minus the tail KL divergence between the validation points and
#   ten model draws per point, on the 5% tails of each side
#   (:func:`~skqegm.metrics.make_tail_kl_scorer` builds variants);
# - ``"rare_event_recall"``: the share of the validation fold's rare points (those
#   beyond the fold's own 5% quantiles on each side, the same events for every
#   candidate) that the model ranks among its least likely points
#   (:func:`~skqegm.metrics.make_rare_event_recall_scorer`);
# - ``"neg_coverage_error"``: minus the distance between 90% and the coverage of the
#   model's central 90% interval (:func:`~skqegm.metrics.make_coverage_scorer`).
#
# ``SKQEGM_EXAMPLES_QUICK=1`` shrinks the data and the training so that the script runs
# in seconds; the numbers quoted in the text are from the full-size run.
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from skqegm import QEGMSampler
from skqegm.datasets import make_tail_mixture, tail_mixture_logpdf
from skqegm.metrics import SCORERS, neg_tail_kl_scorer

QUICK = os.environ.get("SKQEGM_EXAMPLES_QUICK") == "1"
N_TRAIN, N_TEST = (600, 2_000) if QUICK else (6_000, 20_000)
MAX_EPOCHS = 2 if QUICK else 200

X_train, _ = make_tail_mixture(N_TRAIN, random_state=0)
X_test, _ = make_tail_mixture(N_TEST, random_state=1)
print("scorers:", list(SCORERS))

# %%
# The grid
# --------
# Three axes, eight candidates: the latent (the quantum circuit, or the classical twin's
# Gaussian), the number of qubits (the circuit's width, or the twin's latent dimension)
# and the weight of the paper's tail loss (0 switches it off). Each candidate is fitted
# on two thirds of the training points and scored on the remaining third, three times.
# ``refit="neg_tail_kl"`` picks the winner by tail KL and refits it on all the training
# points.
param_grid = {
    "latent": ["quantum", "gaussian"],
    "n_qubits": [2, 4],
    "tail_weight": [0.0, 1.0],
}
search = GridSearchCV(
    QEGMSampler(max_epochs=MAX_EPOCHS, random_state=0),
    param_grid,
    scoring=SCORERS,
    refit="neg_tail_kl",
    cv=KFold(3, shuffle=True, random_state=0),
)
search.fit(X_train)

# %%
# ``cv_results_`` holds every candidate's mean and standard deviation over the folds, for
# every scorer.
results = search.cv_results_
print(f"{'latent':<10}{'qubits':>7}{'tail w.':>8}{'tail KL':>18}{'recall':>8}"
      f"{'cov. err.':>10}{'rank':>6}")
for i in np.argsort(results["rank_test_neg_tail_kl"]):
    params = results["params"][i]
    print(f"{params['latent']:<10}{params['n_qubits']:>7}{params['tail_weight']:>8}"
          f"{-results['mean_test_neg_tail_kl'][i]:>10.3f} +- "
          f"{results['std_test_neg_tail_kl'][i]:.3f}"
          f"{results['mean_test_rare_event_recall'][i]:>8.3f}"
          f"{-results['mean_test_neg_coverage_error'][i]:>10.3f}"
          f"{results['rank_test_neg_tail_kl'][i]:>6}")
print("best parameters:", search.best_params_)

# %%
# The scorers disagree. On the full-size run the recall column favours the Gaussian-latent
# candidates (about 0.95 against 0.80): their smoother densities fall off steadily from
# the centre (see the figure of the tail-mixture example), which is exactly how the tail
# points are defined, while the multi-modal quantum-latent fits also flag the valleys
# between the modes. Read recall together with the tail KL (``doc/benchmarks.md``
# discusses this). The coverage error of the central 90% interval, in turn, is smaller
# for the quantum-latent candidates (0.005 to 0.012 against 0.028 to 0.038).
#
# How noisy is the tail KL on a validation fold?
# ----------------------------------------------
# Each validation fold holds a third of the training points, so only 5% of those (a
# hundred points per side at full size) fall in each tail. The tail KL is biased upward
# and noisy at that size: even the *true* distribution scores well above zero.
# We measure it by scoring the exact mixture, wrapped in a two-method class that follows
# the sampler protocol the scorers expect, on fresh validation sets of the same size.


class TrueMixture:
    """The exact law of the data, with the sampler protocol of skqegm's scorers."""

    def sample(self, n_samples, random_state=None):
        return make_tail_mixture(n_samples, random_state=random_state)[0]

    def score_samples(self, X):
        return tail_mixture_logpdf(X)


fold_size = N_TRAIN // 3
floor = [-neg_tail_kl_scorer(TrueMixture(), make_tail_mixture(fold_size, random_state=seed)[0])
         for seed in range(100, 120)]
print(f"true mixture on {fold_size}-point validation sets: tail KL "
      f"{np.mean(floor):.3f} +- {np.std(floor):.3f} (20 sets)")

# %%
# Differences between candidates smaller than this spread cannot be told apart by the
# search. ``doc/benchmarks.md`` ran into this: selecting by tail KL on 2,000 validation
# points picked a *one-component* Gaussian mixture on this very data set.
#
# Do the choices hold on a large test set?
# ----------------------------------------
# We refit every candidate on all the training points and score it on 20,000 fresh
# points, where the tail KL is much less noisy, then compare the two rankings.
test_kl = []
for params in results["params"]:
    model = clone(search.estimator).set_params(**params).fit(X_train)
    test_kl.append(-neg_tail_kl_scorer(model, X_test))
test_kl = np.array(test_kl)
cv_kl = -results["mean_test_neg_tail_kl"]
print(f"{'latent':<10}{'qubits':>7}{'tail w.':>8}{'CV tail KL':>12}{'test tail KL':>14}")
for i in np.argsort(test_kl):
    params = results["params"][i]
    print(f"{params['latent']:<10}{params['n_qubits']:>7}{params['tail_weight']:>8}"
          f"{cv_kl[i]:>12.3f}{test_kl[i]:>14.4f}")
truth_test = -neg_tail_kl_scorer(TrueMixture(), X_test)
print(f"true mixture on the {N_TEST}-point test set: {truth_test:.4f}")
print(f"refitted best_estimator_ on the test set: "
      f"{-neg_tail_kl_scorer(search.best_estimator_, X_test):.4f}")

# %%
# The same numbers as a picture: each candidate's cross-validated tail KL (with its
# standard deviation over the folds) against its tail KL on the test set. The shaded
# band is the true mixture's score on validation sets of the fold's size (mean +- one
# standard deviation), the dotted line its score on the test set.
fig, ax = plt.subplots(figsize=(9, 4.5))
for i, params in enumerate(results["params"]):
    color = "C0" if params["latent"] == "quantum" else "C1"
    ax.errorbar(cv_kl[i], test_kl[i], xerr=results["std_test_neg_tail_kl"][i],
                fmt="o" if params["n_qubits"] == 4 else "s", color=color, capsize=2,
                markerfacecolor=color if params["tail_weight"] else "white",
                label=f"{params['latent']}, {params['n_qubits']} qubits, "
                      f"tail w. {params['tail_weight']:g}")
ax.axvspan(np.mean(floor) - np.std(floor), np.mean(floor) + np.std(floor), color="0.85",
           label="true mixture, validation size")
ax.axhline(truth_test, color="0.3", linestyle=":", label="true mixture, test set")
ax.set_yscale("log")
ax.set_xlabel(f"cross-validated tail KL ({fold_size}-point folds)")
ax.set_ylabel(f"test tail KL ({N_TEST} points)")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
fig.tight_layout()
plt.show()

# %%
# On the full-size run the search picked the 2-qubit quantum latent without the tail
# loss, with a cross-validated tail KL of 0.116, but the true mixture itself scores
# 0.122 +- 0.027 on validation sets of that size: all eight candidates lie within about
# one standard deviation of the floor, and the ranking among them is noise. On 20,000
# test points the ranking is different. The 4-qubit quantum latent scores 0.0090 with
# the tail loss and 0.0134 without it, near the true mixture's score (0.0102); the
# selected candidate scores 0.0341. Each test score is still a single fit with a single
# seed, and the tail-mixture example (``plot_tail_mixture.py``) shows how much the twin
# varies from seed to seed.
#
# What to do about it:
#
# - validate on more points: a :class:`~sklearn.model_selection.PredefinedSplit` with a
#   large validation set, or more data per fold;
# - repeat the search over several splits and seeds and compare the spread with the
#   gaps;
# - ``make_tail_kl_scorer(n_draws=...)`` draws more *model* points per validation point,
#   which lowers the model side of the noise but not the data side measured above.
#
# The ``latent`` axis of this grid compares the quantum circuit with its classical twin
# under the same budget, which is the comparison that isolates the circuit; at the size
# of these folds the search cannot tell them apart.
