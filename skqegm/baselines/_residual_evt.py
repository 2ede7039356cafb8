"""The innovation law of conditional EVT (McNeil and Frey, 2000): the standardised residuals
of a volatility filter as they are, with a generalized Pareto law beyond a high loss.

The ``k = floor(tail_fraction * n)`` largest losses ``-z`` of the ``n`` residuals are
exceedances of the threshold ``u``, the next largest loss; their excesses over ``u`` are
fitted by maximum likelihood. The law is then exact and discrete-plus-continuous: each of
the other ``n - k`` residuals has probability ``1 / n``, and the loss exceeds ``u`` by a
generalized Pareto amount with probability ``k / n``. Quantiles and tail means are those
of this law, in closed form, and so are its draws.
"""

import math
from typing import NamedTuple

import numpy as np

from ..utils._tails import fit_gpd
from .gpd import MIN_EXCEEDANCES


class LossTail(NamedTuple):
    """A fitted law: the threshold (a loss), its exceedance probability, the generalized
    Pareto shape and scale of the excesses, the losses at or below the threshold (in
    descending order) and the number of residuals it was fitted on."""

    threshold: float
    probability: float
    shape: float
    scale: float
    body: np.ndarray
    n_rows: int


def fit_loss_tail(residuals, tail_fraction):
    """The law of conditional EVT fitted to standardised ``residuals``.

    Raises a ValueError naming ``tail_fraction`` when fewer than ``MIN_EXCEEDANCES``
    residuals fall in the tail, or when the tail's losses all tie with the threshold.
    """
    losses = np.sort(-np.asarray(residuals, dtype=np.float64))[::-1]
    # floor(tail_fraction * n), robust to the product's rounding: 0.29 * 100 is
    # 28.999999999999996 in float64, and int() kept 28 exceedances for 29.
    n_tail = math.floor(tail_fraction * losses.shape[0] + 1e-9)
    if n_tail < MIN_EXCEEDANCES:
        raise ValueError(
            f"method='evt' puts tail_fraction={tail_fraction} of the {losses.shape[0]} "
            f"standardised residuals in the generalized Pareto tail: {n_tail}, fewer than "
            f"the {MIN_EXCEEDANCES} its fit needs; raise tail_fraction or fit on at least "
            f"{math.ceil(MIN_EXCEEDANCES / tail_fraction)} returns.")
    threshold = float(losses[n_tail])
    if losses[0] == threshold:
        # Every excess 0: no generalized Pareto law fits them (scipy failed with "The
        # data contains non-finite values").
        raise ValueError(
            f"method='evt': the {n_tail} largest standardised-residual losses all equal the "
            f"threshold {threshold:.6g}, the next largest (the residuals tie, e.g. returns "
            f"on a tick grid with a near-constant volatility), so every excess over it is 0 "
            f"and no generalized Pareto tail can be fitted; raise tail_fraction (now "
            f"{tail_fraction}) so that the tail reaches past the tie, or use "
            f"method='parametric'.")
    shape, scale = fit_gpd(losses[:n_tail] - threshold)
    n_rows = losses.shape[0]
    return LossTail(threshold, n_tail / n_rows, shape, scale, losses[n_tail:].copy(), n_rows)


def _excess_quantile(tail, ratio):
    """The excess over the threshold exceeded with probability ``ratio`` given an exceedance."""
    log_ratio = np.log(ratio)
    if tail.shape == 0:
        return -tail.scale * log_ratio
    return tail.scale * np.expm1(-tail.shape * log_ratio) / tail.shape


def _mean_excess(tail, loss):
    """``E[L - loss | L > loss]`` for a loss at or beyond the threshold."""
    if tail.shape >= 1:
        return math.inf
    return (tail.scale + tail.shape * (loss - tail.threshold)) / (1 - tail.shape)


def loss_tail_figures(tail, probability):
    """Quantile ``q`` and tail mean ``E[z | z <= q]`` of the residual ``z = -L`` at
    ``probability`` (in (0, 0.5)); the tail mean is ``-inf`` when the shape is >= 1."""
    if probability < tail.probability:
        var = tail.threshold + float(_excess_quantile(tail, probability / tail.probability))
        return -var, -(var + _mean_excess(tail, var))
    n_rows = tail.n_rows
    # The smallest loss exceeded with probability at most ``probability``: a body atom.
    var = float(tail.body[int((probability - tail.probability) * n_rows + 1e-9)])
    above = tail.body[tail.body > var]
    tail_sum = tail.probability * (tail.threshold + _mean_excess(tail, tail.threshold))
    # Acerbi and Tasche's tail mean, exact with atoms: E[L 1{L > VaR}] + VaR (p - P(L > VaR)).
    exceedance = tail.probability + above.shape[0] / n_rows
    shortfall = (tail_sum + above.sum() / n_rows + var * (probability - exceedance)) / probability
    return -var, -shortfall


def draw_residuals(tail, size, rng):
    """Draws of the residual law: a body residual with probability ``1 - k / n``, else
    minus the threshold and a generalized Pareto excess (by inverse transform)."""
    uniforms = rng.uniform(size=size)
    in_tail = uniforms < tail.probability
    # Divided by the tail probability, a tail draw's uniform is uniform in (0, 1).
    ratio = np.clip(uniforms[in_tail] / tail.probability, 1e-300, 1.0)
    draws = -rng.choice(tail.body, size=size)
    draws[in_tail] = -(tail.threshold + _excess_quantile(tail, ratio))
    return draws
