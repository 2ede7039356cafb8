"""Nonparametric bootstrap of a statistic of a fitted estimator: clones refitted on
resamples of the training rows, and percentile intervals."""

import logging
import warnings
from collections import Counter

import numpy as np
from sklearn.base import clone

from ..utils._tails import tail_thresholds
from ..utils._validation import check_random_state
from ..utils._warnings import caller_stacklevel

logger = logging.getLogger("skqegm")
_MAX_SEED = 2**32 - 1


def _seeded_clone(estimator, seed):
    """An unfitted clone; a ``random_state=None`` parameter gets ``seed``, so that the
    refits (a mixture's initialisation, say) are reproducible."""
    model = clone(estimator)
    params = model.get_params(deep=False)
    if "random_state" in params and params["random_state"] is None:
        model.set_params(random_state=seed)
    return model


def training_data_mismatch(estimator, X):
    """Why ``X`` (shape ``(n, 1)``) cannot be the data ``estimator`` was fitted on, or
    ``None`` where its fitted attributes do not rule it out.

    Only what the estimator's public fitted attributes pin down is checked, so that its
    training data are never refused: a generalized Pareto tail model's counts beyond its
    thresholds (``n_exceedances_``) and the rows they imply (``n_exceedances_ /
    tail_fractions_``); the ``tail_fraction`` quantiles of the training data that
    :class:`~skqegm.QEGMSampler` and :class:`~skqegm.baselines.GPDTailSampler` keep
    (``tail_threshold_``); scikit-learn's ``n_samples_fit_``; the data a neighbours tree
    keeps (``tree_.data``, e.g. :class:`~sklearn.neighbors.KernelDensity`). Other
    samplers (a Gaussian mixture, say) keep nothing of their data, and a different ``X``
    goes undetected there.
    """
    x = X[:, 0]
    n_fit = getattr(estimator, "n_samples_fit_", None)
    if isinstance(n_fit, (int, np.integer)) and n_fit != len(x):
        return f"it has {len(x)} rows, where the fit had {n_fit} (n_samples_fit_)"
    data = getattr(getattr(estimator, "tree_", None), "data", None)
    if data is not None:
        data = np.asarray(data)
        # In any order: the refits draw rows independently, so order does not matter.
        if data.shape != X.shape or not np.array_equal(np.sort(data, axis=0),
                                                       np.sort(X, axis=0)):
            return (f"its {len(x)} values are not the {len(data)} values its tree holds "
                    "(tree_.data)")
    why = _pot_mismatch(estimator, x)
    return _threshold_mismatch(estimator, x) if why is None else why


def _threshold_mismatch(estimator, x):
    """Why ``x`` cannot be the data whose ``tail_fraction`` quantiles are the estimator's
    ``tail_threshold_`` (shape ``(2, 1)``), or None."""
    thresholds = getattr(estimator, "tail_threshold_", None)
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    fraction = params.get("tail_fraction")
    if (thresholds is None or np.shape(thresholds) != (2, 1)
            or not isinstance(fraction, (float, np.floating)) or not 0 < fraction < 0.5):
        return None
    ours = tail_thresholds(x[:, None], tail_fraction=fraction)[:, 0]  # as the fit
    if not np.allclose(ours, np.ravel(thresholds), rtol=1e-12, atol=0):
        return (f"its tail_fraction={fraction} quantiles are {ours[0]:.6g} and {ours[1]:.6g}, "
                f"where the training data's were {thresholds[0, 0]:.6g} and "
                f"{thresholds[1, 0]:.6g} (tail_threshold_)")
    return None


def _pot_mismatch(estimator, x):
    counts = getattr(estimator, "n_exceedances_", None)
    if counts is None or not hasattr(estimator, "tail_threshold_"):
        return None
    (low,), (high,) = np.asarray(estimator.tail_threshold_)
    beyond = (int(np.sum(x < low)), int(np.sum(x > high)))  # strictly, as counted in fit
    fitted = tuple(int(c) for c in np.asarray(counts)[:, 0])
    if beyond != fitted:
        return (f"{beyond[0]} and {beyond[1]} of its values lie below and above the "
                f"thresholds {low:.6g} and {high:.6g}, where the training data had "
                f"{fitted[0]} and {fitted[1]} (n_exceedances_)")
    for count, fraction in zip(fitted, np.asarray(estimator.tail_fractions_)[:, 0],
                               strict=True):
        if count and round(count / fraction) != len(x):
            return (f"it has {len(x)} rows, where the fit's tail fractions imply "
                    f"{round(count / fraction)} (n_exceedances_ / tail_fractions_)")
    return None


def bootstrap(estimator, X, statistic, *, n_bootstrap, random_state):
    """``statistic(refit, seed)`` for ``n_bootstrap`` clones of ``estimator``, each fitted
    on ``len(X)`` rows of ``X`` drawn with replacement; an array of shape
    ``(n_bootstrap, ...)``. Progress goes to the ``"skqegm"`` logger (INFO, every tenth);
    each distinct warning of the refits is raised once, with the number of refits that
    gave it."""
    rng = check_random_state(random_state)
    every = max(1, n_bootstrap // 10)
    replicates = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for b in range(n_bootstrap):
            rows = rng.randint(len(X), size=len(X))
            seed = int(rng.randint(_MAX_SEED))
            model = _seeded_clone(estimator, seed).fit(X[rows])
            replicates.append(statistic(model, seed))
            if (b + 1) % every == 0 or b + 1 == n_bootstrap:
                logger.info("bootstrap of %s: %d/%d refits", type(estimator).__name__, b + 1,
                            n_bootstrap)
    _warn_once(caught, n_bootstrap)
    return np.asarray(replicates, dtype=np.float64)


def _warn_once(caught, n_bootstrap):
    # A warning per refit would repeat the same message hundreds of times.
    counts = Counter((w.category, str(w.message)) for w in caught)
    for (category, message), count in counts.items():
        warnings.warn(f"{count} of {n_bootstrap} bootstrap refits: {message}", category,
                      stacklevel=caller_stacklevel())


def percentile_interval(replicates, confidence_level):
    """Lower and upper percentile bounds over the first axis of ``replicates``."""
    tail = (1 - confidence_level) / 2
    lower, upper = np.quantile(replicates, [tail, 1 - tail], axis=0)
    return lower, upper
