"""Rarity of points: the tail region and the rare events of multivariate data.

A rarity score is higher for rarer points (minus a log-density). The default is a Gaussian
KDE (Scott's bandwidth, full covariance, as :class:`scipy.stats.gaussian_kde`) fitted on
at most :data:`MAX_KDE_POINTS` of the reference points and evaluated in blocks through a
matrix product, so that scoring costs ``O(n_rows * MAX_KDE_POINTS)`` whatever the size
of the reference. Shared by :func:`~skqegm.metrics.tail_kl_divergence`, the rare-event
scorers and the highest-density-region coverage scorer.
"""

import numpy as np
from threadpoolctl import threadpool_limits

from ..utils._scaling import power_of_two_scale
from ._arrays import bounded_rows

#: Most reference points behind a KDE rarity; more are subsampled (seeded, so repeatable).
MAX_KDE_POINTS = 2_000

_RARITY_HINT = " Pass a rarity callable instead."

#: Relative spread below which a column counts as constant (rounding noise).
_NOISE = 1e-12


def _check_fittable(points, name, hint):
    n_points, n_features = points.shape
    if n_points < 2:
        raise ValueError(f"No Gaussian KDE can score rarity on {name} of shape {points.shape}: "
                         f"too few points (at least 2 are needed).{hint}")
    if np.all(np.ptp(points, axis=0) == 0):
        raise ValueError(f"No Gaussian KDE can score rarity on {name} of shape {points.shape}: "
                         f"every column holds a single value, so every point is as rare as "
                         f"every other.{hint}")


def _kde_subsample(points):
    """At most :data:`MAX_KDE_POINTS` rows of ``points``, the same ones on every call.

    A KDE's ranking of points needs far fewer kernels than a large sample offers, while
    its cost grows with every one of them (16 s for 20,000 x 2 points with all of them).
    """
    if points.shape[0] <= MAX_KDE_POINTS:
        return points
    keep = np.random.RandomState(0).choice(points.shape[0], MAX_KDE_POINTS, replace=False)
    return points[np.sort(keep)]


class _GaussianKDE:
    """Gaussian KDE with Scott's bandwidth on the span of its points, as a log-density.

    Columns are standardised, and the kernels live on the principal axes along which the
    points vary: constant columns and exact linear dependences (one-hot groups that sum
    to 1) are null directions, where the full covariance would be singular. With
    ``k`` axes the log-density is that of :class:`scipy.stats.gaussian_kde` on the
    ``k``-dimensional span (identical to it when ``k`` is the number of columns). A point
    off the span pays ``|residual|**2 / 2`` in bandwidth units on top, as if each null
    direction were a unit-variance one: the points themselves pay nothing, while model
    draws where the data never are rank as rarer.
    """

    def __init__(self, points, name, hint):
        n_points = points.shape[0]
        self.mean = points.mean(axis=0)
        spread = points.std(axis=0)
        # A column whose spread is rounding noise (a constant that an upstream scaler left
        # 1e-17 apart) is constant: standardised, its noise would become a direction.
        varying = spread > _NOISE * np.max(np.abs(points), axis=0)
        # A constant column is measured in its own units (a power of two brought it to 1).
        self.spread = np.where(varying, spread, 1.0)
        standardised = np.where(varying, (points - self.mean) / self.spread, 0.0)
        variances, axes = np.linalg.eigh(np.atleast_2d(np.cov(standardised, rowvar=False)))
        kept = variances > 1e-10 * variances.max()
        n_dims = int(kept.sum())
        if n_points <= n_dims:
            raise ValueError(
                f"No Gaussian KDE can score rarity on {name} of shape {points.shape}: too few "
                f"points (a KDE on the {n_dims} dimension(s) they span needs more than "
                f"{n_dims}).{hint}"
            )
        self.factor = n_points ** (-1.0 / (n_dims + 4))  # Scott's rule, as gaussian_kde
        self.axes = axes[:, kept]
        self.whitening = self.axes / (np.sqrt(variances[kept]) * self.factor)
        self.kernels = self._whiten(points)[0]
        self.kernel_norms = np.sum(self.kernels**2, axis=1)
        self.log_norm = (np.log(n_points) + n_dims * np.log(self.factor)
                         + 0.5 * np.sum(np.log(variances[kept]))
                         + np.sum(np.log(self.spread[varying]))
                         + 0.5 * n_dims * np.log(2.0 * np.pi))

    def _whiten(self, X):
        """Whitened coordinates on the span, and half the squared distance off it."""
        standardised = (X - self.mean) / self.spread
        residual = standardised - (standardised @ self.axes) @ self.axes.T
        off_span = 0.5 * np.sum(residual**2, axis=1) / self.factor**2
        return standardised @ self.whitening, off_span

    def logpdf(self, X):
        # Small blocks in one BLAS thread: several threads on blocks this size cost more in
        # hand-offs than they gain (measured 6x slower with 2 threads on 2 busy cores).
        with threadpool_limits(limits=1, user_api="blas"):
            return self._logpdf(X)

    def _logpdf(self, X):
        out = np.empty(X.shape[0])
        # Blocks of about 2**18 distances stay in cache: larger ones are memory-bound.
        step = max(1, min(X.shape[0], 2**18 // self.kernels.shape[0]))
        for start in range(0, X.shape[0], step):
            z, off_span = self._whiten(X[start:start + step])
            # |z - k|^2 / 2 through one matrix product; rounding can leave it a hair below 0.
            half = z @ self.kernels.T
            half *= -1.0
            half += 0.5 * (np.sum(z**2, axis=1)[:, None] + self.kernel_norms)
            np.maximum(half, 0.0, out=half)
            nearest = half.min(axis=1)
            half -= nearest[:, None]
            # Kernels beyond e**-700 of the nearest add nothing; capping keeps exp's results
            # out of the subnormal range, which is many times slower on x86.
            np.minimum(half, 700.0, out=half)
            np.exp(-half, out=half)
            out[start:start + step] = (np.log(half.sum(axis=1)) - nearest - off_span
                                       - self.log_norm)
        return out


def kde_rarity(points, name="x_true", hint=_RARITY_HINT):
    """``rarity(X) -> -log kde(X)`` for a Gaussian KDE fitted on ``points``.

    The KDE is fitted on at most :data:`MAX_KDE_POINTS` of ``points`` (a seeded
    subsample), rescaled column by column by a power of two; the log-density is corrected
    by the log-Jacobian, so data near the float64 limits still get the exact rarity of the
    original units. It lives on the span of the points (constant columns and exact linear
    dependences are left out, and a point off the span pays its distance to it), so
    one-hot encoded data, whose full covariance is singular, get a rarity too.

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
        When no KDE can be fitted on ``points``: every column holds a single value, or
        there are no more points than the dimensions they span.
    """
    _check_fittable(points, name, hint)
    scale = power_of_two_scale(points, axis=0)
    kde = _GaussianKDE(_kde_subsample(points * scale), name, hint)
    log_jacobian = float(np.sum(np.log(scale)))

    def rarity(X):
        with np.errstate(over="ignore", under="ignore"):
            scaled = bounded_rows(X * scale)
            return -kde.logpdf(scaled) - log_jacobian

    return rarity


def rarity_scores(rarity, x, name, allow_inf):
    """``rarity(x)`` checked: one score per row, never NaN (nor infinite unless allowed)."""
    kind = "non-NaN" if allow_inf else "finite"
    try:
        scores = np.asarray(rarity(x), dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"rarity must return one {kind} score per row of {name}; it "
                         f"returned something that is not an array of numbers: {exc}") from exc
    if scores.shape[0] != x.shape[0]:
        raise ValueError(f"rarity must return one {kind} score per row of {name}; got "
                         f"{scores.shape[0]} scores for {x.shape[0]} rows.")
    invalid = np.isnan(scores) if allow_inf else ~np.isfinite(scores)
    if np.any(invalid):
        raise ValueError(f"rarity must return one {kind} score per row of {name}; "
                         f"{int(invalid.sum())} of its scores are not.")
    return scores


def resolve_rarity(rarity, points, name="x_true", hint=_RARITY_HINT):
    """The rarity callable itself, or a KDE rarity fitted on ``points`` when it is None."""
    if rarity is None:
        return kde_rarity(points, name=name, hint=hint)
    if not callable(rarity):
        raise ValueError(f"rarity must be None or a callable; got {rarity!r}.")
    return rarity
