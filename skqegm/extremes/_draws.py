"""Tail quantiles and exceedance probabilities of any sampler of one feature, from its draws.

The sampler protocol of :mod:`skqegm.metrics.scorers`: ``sample(n)`` returns ``X`` or a
tuple ``(X, labels)``, and gets a ``random_state`` when its signature accepts one.
"""

import math

import numpy as np

from ..utils._memory import check_memory
from ..utils._sampling import call_with_random_state

#: Expected draws beyond the rarest level asked for: the exceedance count then has a
#: relative standard error of about 10% (1 / sqrt(100)).
DRAWS_BEYOND = 100
#: Fewest draws behind any estimate from draws.
MIN_DRAWS = 10_000
#: Draws behind a return period (the level's probability is not known beforehand).
PERIOD_DRAWS = 1_000_000
# Bytes per draw: the sampler's output, its float64 copy, and the sort behind a quantile.
_BYTES_PER_DRAW = 32


def draws_needed(probability):
    """Draws that put :data:`DRAWS_BEYOND` expected draws beyond ``probability``."""
    return max(MIN_DRAWS, math.ceil(DRAWS_BEYOND / probability))


def check_one_feature(estimator):
    """Refuse an estimator fitted on several features: return levels are of one series."""
    n_features = getattr(estimator, "n_features_in_", 1)
    if n_features != 1:
        raise ValueError(
            f"estimator must model one feature (return levels are of one series); "
            f"{type(estimator).__name__} was fitted on n_features_in_={n_features}. Fit it "
            "on the one column of interest."
        )


def draw(estimator, n_draws, random_state, what):
    """``n_draws`` draws of the sampler as a 1-D float64 array, after a memory check."""
    check_memory(_BYTES_PER_DRAW * float(n_draws), f"{what} with n_draws={n_draws:.3g}",
                 "ask for shorter return periods, pass a smaller n_draws, or use a "
                 "generalized Pareto tail model (GPDTailSampler), whose tail has a closed form.")
    draws = call_with_random_state(estimator.sample, n_draws, random_state=random_state)
    if isinstance(draws, tuple):  # GaussianMixture returns (X, component labels)
        draws = draws[0]
    draws = np.asarray(draws, dtype=np.float64)
    if draws.size != n_draws:
        raise ValueError(f"estimator must sample one feature; {type(estimator).__name__}."
                         f"sample({n_draws}) returned an array of shape {draws.shape}.")
    if not np.all(np.isfinite(draws)):
        raise ValueError(f"{type(estimator).__name__}.sample({n_draws}) returned NaN or "
                         "infinite draws.")
    return draws.ravel()


def draws_quantile(draws, probability, side):
    """The level exceeded (``side="upper"``) or undercut (``"lower"``) with ``probability``."""
    q = 1 - probability if side == "upper" else probability
    return np.quantile(draws, q)


def draws_probability(draws, level, side):
    """Share of draws strictly beyond ``level`` on ``side``."""
    ordered = np.sort(draws)
    if side == "upper":
        count = len(ordered) - np.searchsorted(ordered, level, side="right")
    else:
        count = np.searchsorted(ordered, level, side="left")
    return count / len(ordered)
