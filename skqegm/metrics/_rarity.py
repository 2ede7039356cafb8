"""Rarity of points under a Gaussian KDE: the tail region of multivariate data.

Shared by :func:`~skqegm.metrics.tail_kl_divergence` (its default ``rarity``) and the
rare-event recall scorer (the true rare points of held-out data with several features,
and the ranking of a sampler without a density).
"""

import numpy as np
from scipy.stats import gaussian_kde


def kde_rarity(points):
    """``rarity(X) -> -log kde(X)`` for a Gaussian KDE fitted on ``points`` (n, n_features).

    Higher means rarer. Raises ``ValueError`` (pointing to a ``rarity`` callable) when no
    KDE can be fitted on ``points``.
    """
    try:
        kde = gaussian_kde(points.T)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ValueError(
            f"No Gaussian KDE can score rarity on x_true of shape {points.shape} (too few "
            "points, or a singular covariance); pass a rarity callable instead."
        ) from exc
    return lambda X: -kde.logpdf(X.T)
