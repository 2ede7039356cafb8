"""Per-row mixtures of 1-D Gaussians: density, CDF, quantiles, tail means and draws.

A conditional model's predictive distribution for row ``i`` is
``sum_k w_k N(mean[i, k], scale[i, k]^2)`` with means and scales that follow the row's
features, and weights either shared by the rows (``log_weights`` of shape (K,)) or
the row's own (shape (B, K)). Everything here is exact up to float64 rounding;
quantiles are found by safeguarded Newton steps on the CDF.
"""

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri

# Rows per block, so that the (rows, quantiles, components) arrays stay small.
_BLOCK_ELEMENTS = 2**20
_MAX_STEPS = 100
_X_TOL = 1e-12


def _blocks(n_rows, per_row):
    step = max(1, _BLOCK_ELEMENTS // max(per_row, 1))
    return (slice(start, start + step) for start in range(0, n_rows, step))


def _rows_of(weights, rows):
    """The weights of ``rows``: shared weights (K,) as they are, per-row ones (B, K) sliced."""
    return weights[rows] if weights.ndim == 2 else weights


def _weigh(values, weights):
    """``sum_k values[b, ..., k] * w[b, k]`` (``weights`` (K,) or (B, K))."""
    if weights.ndim == 1:
        return values @ weights
    return np.einsum("b...k,bk->b...", values, weights)


def mixture_logpdf(y, log_weights, mean, scale):
    """``log p(y_i)`` for each row: ``y`` (B,), ``log_weights`` (K,) or (B, K), ``mean,
    scale`` (B, K)."""
    z = (y[:, None] - mean) / scale
    log_components = -0.5 * z * z - np.log(scale) - 0.5 * np.log(2 * np.pi)
    return logsumexp(log_weights + log_components, axis=1)


def mixture_cdf(y, log_weights, mean, scale, upper=False):
    """``P(Y_i <= y[i, j])`` (or ``P(Y_i > y[i, j])`` with ``upper``); ``y`` is (B, Q).

    Clipped to [0, 1]: the weights sum to 1 only up to rounding, and a row whose mass
    lies wholly on one side gave 1 + 2e-16 (which scikit-learn's probability metrics,
    such as ``brier_score_loss``, refuse).
    """
    weights = np.exp(log_weights)
    out = np.empty(y.shape)
    for rows in _blocks(len(y), y.shape[1] * weights.shape[-1]):
        z = (y[rows, :, None] - mean[rows, None, :]) / scale[rows, None, :]
        out[rows] = _weigh(ndtr(-z if upper else z), _rows_of(weights, rows))
    return np.clip(out, 0.0, 1.0, out=out)


def _cdf_and_pdf(x, weights, mean, scale, norm=None):
    """The mixtures' CDF and density at ``x`` (B, Q); ``norm`` is ``sqrt(2 pi) scale``
    (B, 1, K), computed once by a caller that evaluates many ``x``."""
    if norm is None:
        norm = np.sqrt(2 * np.pi) * scale[:, None, :]
    # The operations of exp(-0.5 z z) / norm and ndtr(z), in that order, written into
    # the arrays they read: the same numbers, without five temporaries of B x Q x K.
    z = np.subtract(x[:, :, None], mean[:, None, :])
    z /= scale[:, None, :]
    pdf = np.multiply(-0.5, z)
    pdf *= z
    np.exp(pdf, out=pdf)
    pdf /= norm
    return _weigh(ndtr(z, out=z), weights), _weigh(pdf, weights)


def mixture_quantiles(quantiles, log_weights, mean, scale):
    """The ``quantiles`` (Q,) of every row's mixture, shape (B, Q).

    Newton's method on the CDF, safeguarded by bisection: the quantile lies between the
    smallest and the largest of the components' own quantiles, a bracket that every step
    keeps shrinking, and a Newton step that leaves it, or is not half the last move, is
    replaced by bisection (the safeguard of Numerical Recipes' ``rtsafe``). Converges to
    float64 precision in a few steps. A quantile above 0.5
    is minus the ``1 - q`` quantile (exact in float64) of the mixture of ``-Y``: near 1
    the CDF resolves no better than 1e-16, near 0 it keeps its relative precision.
    """
    quantiles = np.asarray(quantiles, dtype=np.float64)
    upper = quantiles > 0.5
    if upper.any():
        out = np.empty((len(mean), len(quantiles)))
        out[:, ~upper] = mixture_quantiles(quantiles[~upper], log_weights, mean, scale)
        out[:, upper] = -mixture_quantiles(1 - quantiles[upper], log_weights, -mean, scale)
        return out
    weights = np.exp(log_weights)
    out = np.empty((len(mean), len(quantiles)))
    for rows in _blocks(len(mean), len(quantiles) * weights.shape[-1]):
        m, s, w = mean[rows], scale[rows], _rows_of(weights, rows)
        component_quantiles = m[:, None, :] + s[:, None, :] * ndtri(quantiles)[None, :, None]
        lo, hi = component_quantiles.min(axis=2), component_quantiles.max(axis=2)
        x = 0.5 * (lo + hi)
        last_move = hi - lo
        norm, s_min = np.sqrt(2 * np.pi) * s[:, None, :], s.min(axis=1, keepdims=True)
        for _ in range(_MAX_STEPS):
            cdf, pdf = _cdf_and_pdf(x, w, m, s, norm)
            below = cdf < quantiles
            lo, hi = np.where(below, x, lo), np.where(below, hi, x)
            # A density that underflows to 0 far out makes the step inf or NaN: bisection.
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                delta = (cdf - quantiles) / pdf
            newton, move = x - delta, np.abs(delta)
            tol = _X_TOL * (np.abs(x) + s_min)
            # Newton's step, inside the bracket and at most half the last move (or within
            # tolerance); else bisection. Without the second rule Newton could bounce
            # between the ends of the bracket across a jump of the CDF (a narrow
            # component), never shrinking it: a quantile whose CDF was 0.344, not 0.3.
            newton_ok = (newton >= lo) & (newton <= hi) & ((move <= 0.5 * last_move)
                                                           | (move <= tol))
            step = np.where(newton_ok, newton, 0.5 * (lo + hi))
            last_move = np.abs(step - x)
            if np.all(last_move <= tol):
                x = step
                break
            x = step
        out[rows] = x
    return out


def mixture_tail_mean(threshold, log_weights, mean, scale, upper=False):
    """``E[Y_i 1{Y_i <= t_i}]`` (or ``E[Y_i 1{Y_i > t_i}]`` with ``upper``), shape (B,).

    For one Gaussian ``E[Y 1{Y <= t}] = m Phi(a) - s phi(a)`` with ``a = (t - m) / s``.
    """
    a = (threshold[:, None] - mean) / scale
    density = np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi)
    if upper:
        partial = mean * ndtr(-a) + scale * density
    else:
        partial = mean * ndtr(a) - scale * density
    return _weigh(partial, np.exp(log_weights))


def sample_mixture(n_draws, log_weights, mean, scale, rng):
    """``n_draws`` draws from every row's mixture, shape (B, n_draws)."""
    weights = np.exp(log_weights)
    if weights.ndim == 1:
        component = rng.choice(len(weights), size=(len(mean), n_draws),
                               p=weights / weights.sum())
    else:  # each row's own weights: inverse CDF of one uniform per draw
        cdf = np.cumsum(weights, axis=1)
        u = rng.uniform(size=(len(mean), n_draws)) * cdf[:, -1:]
        component = np.stack([np.searchsorted(c, v, side="right") for c, v in zip(cdf, u)])
        component = np.minimum(component, weights.shape[1] - 1)
    rows = np.arange(len(mean))[:, None]
    return mean[rows, component] + scale[rows, component] * rng.standard_normal(component.shape)
