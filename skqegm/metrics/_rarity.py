"""Rarity of points under a Gaussian KDE: the tail region of multivariate data.

Shared by :func:`~skqegm.metrics.tail_kl_divergence` (its default ``rarity``) and the
rare-event recall scorer (the true rare points of held-out data with several features,
and the ranking of a sampler without a density).
"""

import numpy as np
from scipy.stats import gaussian_kde

from skqegm.metrics._arrays import bounded_rows, power_of_two_scale

_RARITY_HINT = " Pass a rarity callable instead."


def _check_fittable(points, name, hint):
    n_points, n_features = points.shape
    if n_points <= n_features:
        raise ValueError(
            f"No Gaussian KDE can score rarity on {name} of shape {points.shape}: too few "
            f"points (a KDE in {n_features} dimension(s) needs more than {n_features}).{hint}"
        )
    # A column without spread makes the covariance singular; floating-point noise can hide
    # that from gaussian_kde, which would then return a meaningless density.
    flat = np.flatnonzero(np.ptp(points, axis=0) == 0)
    if flat.size:
        raise ValueError(
            f"No Gaussian KDE can score rarity on {name} of shape {points.shape}: column(s) "
            f"{flat[:10].tolist()} hold a single value (a singular covariance).{hint}"
        )


def kde_rarity(points, name="x_true", hint=_RARITY_HINT):
    """``rarity(X) -> -log kde(X)`` for a Gaussian KDE fitted on ``points``.

    The KDE is fitted on ``points`` rescaled column by column by a power of two, and the
    log-density is corrected by the log-Jacobian, so data near the float64 limits still
    get the exact rarity of the original units.

    Parameters
    ----------
    points : ndarray of shape (n_points, n_features)
        Finite points the KDE is fitted on.
    name : str, default="x_true"
        What ``points`` are, for error messages.
    hint : str, default=" Pass a rarity callable instead."
        Appended to the error message.

    Returns
    -------
    rarity : callable
        ``rarity(X)`` for ``X`` of shape (n_rows, n_features): ``-log kde(X)``, higher
        meaning rarer (``+inf`` where the density underflows).

    Raises
    ------
    ValueError
        When no KDE can be fitted on ``points`` (a column holds a single value, too few
        points, or a singular covariance).
    """
    _check_fittable(points, name, hint)
    scale = power_of_two_scale(points, axis=0)
    try:
        kde = gaussian_kde(np.ascontiguousarray((points * scale).T))
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ValueError(
            f"No Gaussian KDE can score rarity on {name} of shape {points.shape} (too few "
            f"points, or a singular covariance).{hint}"
        ) from exc
    log_jacobian = float(np.sum(np.log(scale)))

    def rarity(X):
        with np.errstate(over="ignore", under="ignore"):
            scaled = bounded_rows(X * scale)
        return -kde.logpdf(scaled.T) - log_jacobian

    return rarity
