"""Rarity of points: the tail region and the rare events of multivariate data.

A rarity score is higher for rarer points (minus a log-density). The default is a Gaussian
KDE (Scott's bandwidth, full covariance, as :class:`scipy.stats.gaussian_kde`) fitted on
at most :data:`MAX_KDE_POINTS` of the reference points and evaluated in blocks through a
matrix product, so that scoring costs ``O(n_rows * MAX_KDE_POINTS)`` whatever the size
of the reference. Shared by :func:`~skqegm.metrics.tail_kl_divergence`, the rare-event
scorers and the highest-density-region coverage scorer.
"""

import numpy as np
from scipy import linalg
from threadpoolctl import threadpool_limits

from skqegm.metrics._arrays import bounded_rows, power_of_two_scale

#: Most reference points behind a KDE rarity; more are subsampled (seeded, so repeatable).
MAX_KDE_POINTS = 2_000

_RARITY_HINT = " Pass a rarity callable instead."


def _check_fittable(points, name, hint):
    n_points, n_features = points.shape
    if n_points <= n_features:
        raise ValueError(
            f"No Gaussian KDE can score rarity on {name} of shape {points.shape}: too few "
            f"points (a KDE in {n_features} dimension(s) needs more than {n_features}).{hint}"
        )
    # A column without spread makes the covariance singular; floating-point noise can hide
    # that from a Cholesky factorisation, which would then give a meaningless density.
    flat = np.flatnonzero(np.ptp(points, axis=0) == 0)
    if flat.size:
        raise ValueError(
            f"No Gaussian KDE can score rarity on {name} of shape {points.shape}: column(s) "
            f"{flat[:10].tolist()} hold a single value (a singular covariance).{hint}"
        )


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
    """Gaussian KDE with Scott's bandwidth, evaluated as a log-density in whitened space."""

    def __init__(self, points, name, hint):
        n_points, n_features = points.shape
        self.mean = points.mean(axis=0)
        factor = n_points ** (-1.0 / (n_features + 4))  # Scott's rule, as gaussian_kde
        covariance = np.atleast_2d(np.cov(points, rowvar=False)) * factor**2
        # Collinear columns can leave a factorisable covariance after rounding, and then a
        # meaningless density: judge singularity on the scale-free correlation matrix.
        spread = np.sqrt(np.diag(covariance))
        if np.linalg.eigvalsh(covariance / np.outer(spread, spread))[0] < 1e-10:
            raise ValueError(
                f"No Gaussian KDE can score rarity on {name} of shape {points.shape} "
                f"(a singular covariance: collinear columns).{hint}"
            )
        self.cholesky = linalg.cholesky(covariance, lower=True)
        self.kernels = self._whiten(points)
        self.kernel_norms = np.sum(self.kernels**2, axis=1)
        log_det = 2.0 * np.sum(np.log(np.diag(self.cholesky)))
        self.log_norm = (np.log(n_points) + 0.5 * log_det
                         + 0.5 * n_features * np.log(2.0 * np.pi))

    def _whiten(self, X):
        return linalg.solve_triangular(self.cholesky, (X - self.mean).T, lower=True).T

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
            z = self._whiten(X[start:start + step])
            # |z - k|^2 through one matrix product; rounding can leave it a hair below 0.
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
            out[start:start + step] = np.log(half.sum(axis=1)) - nearest - self.log_norm
        return out


def kde_rarity(points, name="x_true", hint=_RARITY_HINT):
    """``rarity(X) -> -log kde(X)`` for a Gaussian KDE fitted on ``points``.

    The KDE is fitted on at most :data:`MAX_KDE_POINTS` of ``points`` (a seeded
    subsample), rescaled column by column by a power of two; the log-density is corrected
    by the log-Jacobian, so data near the float64 limits still get the exact rarity of the
    original units.

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
