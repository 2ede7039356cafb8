"""Nonparametric bootstrap of a statistic of a fitted estimator: clones refitted on
resamples of the training rows, and percentile intervals."""

import logging
import warnings
from collections import Counter

import numpy as np
from sklearn.base import clone

from ..utils._validation import check_random_state

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
                      stacklevel=5)  # at the caller of return_level or return_period


def percentile_interval(replicates, confidence_level):
    """Lower and upper percentile bounds over the first axis of ``replicates``."""
    tail = (1 - confidence_level) / 2
    lower, upper = np.quantile(replicates, [tail, 1 - tail], axis=0)
    return lower, upper
