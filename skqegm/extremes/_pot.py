"""Peaks over threshold in closed form: the tail quantile and exceedance probability of a
fitted generalized Pareto tail, and their delta-method intervals (Coles 2001, 4.4.1).

A *POT model* is any fitted estimator of one feature with the attributes of
:class:`~skqegm.baselines.GPDTailSampler`: ``tail_threshold_``, ``tail_fractions_``,
``gpd_shape_``, ``gpd_scale_`` (each of shape ``(2, 1)``, row 0 the lower tail, row 1 the
upper) and ``tail_cov_`` (shape ``(2, 1, 3, 3)``, the covariance of ``(fraction, shape,
scale)``). Nothing here knows a model class: the attributes are the protocol.

Beyond the threshold ``u`` of a tail of probability ``zeta`` the excess over ``u`` follows
the generalized Pareto law, so the level exceeded with probability ``p < zeta`` per
observation is ``u + scale / shape * ((zeta / p) ** shape - 1)`` (``u - ...`` for the lower
tail), and the exceedance probability of a level ``x`` beyond ``u`` is
``zeta * (1 + shape * |x - u| / scale) ** (-1 / shape)``.
"""

import numpy as np
from scipy.stats import norm

POT_ATTRIBUTES = ("tail_threshold_", "tail_fractions_", "gpd_shape_", "gpd_scale_", "tail_cov_")
_ROW = {"lower": 0, "upper": 1}


def is_pot_model(estimator):
    """Whether ``estimator`` has the fitted attributes of a generalized Pareto tail model."""
    return all(hasattr(estimator, name) for name in POT_ATTRIBUTES)


def pot_tail(estimator, side):
    """``(threshold, fraction, shape, scale, cov)`` of the ``side`` tail of the one feature."""
    row = _ROW[side]
    return (float(estimator.tail_threshold_[row, 0]), float(estimator.tail_fractions_[row, 0]),
            float(estimator.gpd_shape_[row, 0]), float(estimator.gpd_scale_[row, 0]),
            np.asarray(estimator.tail_cov_[row, 0], dtype=np.float64))


def _expm1_over(v, shape, r):
    """``expm1(v) / shape`` with ``v = shape * r``: ``r`` itself for the exponential tail."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shape == 0, r, np.expm1(v) / np.where(shape == 0, 1.0, shape))


def _shape_derivative_factor(v):
    """``(v e^v - expm1(v)) / v**2``, with its series where the two terms cancel."""
    v = np.asarray(v, dtype=np.float64)
    small = np.abs(v) < 1e-3
    safe = np.where(small, 1.0, v)
    exact = (safe * np.exp(safe) - np.expm1(safe)) / safe**2
    series = 0.5 + v / 3 + v**2 / 8 + v**3 / 30  # sum of (j - 1) / j! v**(j - 2), j >= 2
    return np.where(small, series, exact)


def pot_level(tail, probability, sign):
    """Tail quantile exceeded with ``probability`` (< the tail's fraction), and its gradient in
    ``(fraction, shape, scale)`` (shape ``(..., 3)``); ``sign`` is +1 upper, -1 lower."""
    threshold, fraction, shape, scale, _ = tail
    r = np.log(fraction / np.asarray(probability, dtype=np.float64))  # > 0 in the tail
    v = shape * r
    excess = scale * _expm1_over(v, shape, r)
    gradient = np.stack([scale * np.exp(v) / fraction,
                         scale * r**2 * _shape_derivative_factor(v),
                         _expm1_over(v, shape, r)], axis=-1)
    return threshold + sign * excess, sign * gradient


# Taylor coefficients of (log1p(u) - u/(1+u)) / u**2 at u = 0: (-1)**k (k-1)/k, k >= 2.
_LOG_SERIES = [(-1) ** k * (k - 1) / k for k in range(2, 10)]


def _log1p_remainder(u):
    """``(log1p(u) - u / (1 + u)) / u**2``, exact near 0."""
    u = np.asarray(u, dtype=np.float64)
    small = np.abs(u) < 1e-2
    safe = np.where(small, 1.0, u)
    exact = (np.log1p(safe) - safe / (1 + safe)) / safe**2
    series = sum(c * u**i for i, c in enumerate(_LOG_SERIES))
    return np.where(small, series, exact)


def pot_log_probability(tail, level, sign):
    """Log exceedance probability of ``level`` (beyond the threshold) and its gradient in
    ``(fraction, shape, scale)``; ``-inf`` beyond the end point of a bounded tail."""
    threshold, fraction, shape, scale, _ = tail
    t = sign * (np.asarray(level, dtype=np.float64) - threshold) / scale  # > 0 in the tail
    u = shape * t
    with np.errstate(invalid="ignore", divide="ignore"):
        beyond_end = 1 + u <= 0
        log1p_u = np.log1p(np.where(beyond_end, 0.0, u))
        log_sf = np.where(shape == 0, -t, -log1p_u / np.where(shape == 0, 1.0, shape))
        log_p = np.where(beyond_end, -np.inf, np.log(fraction) + log_sf)
        z = np.where(beyond_end, np.nan, 1 + u)
        gradient = np.stack([np.full_like(t, 1 / fraction),
                             t**2 * _log1p_remainder(u),
                             t / (scale * z)], axis=-1)
    return log_p, gradient


def delta_se(gradient, cov):
    """Standard error ``sqrt(g' V g)`` of a function of ``(fraction, shape, scale)``."""
    return np.sqrt(np.einsum("...i,ij,...j->...", gradient, cov, gradient))


def normal_quantile(confidence_level):
    """The two-sided standard normal quantile of ``confidence_level``."""
    return float(norm.ppf(0.5 + confidence_level / 2))
