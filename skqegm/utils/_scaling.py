"""Column centres and scales that are safe for any finite input.

``values.std()`` squares the values, so a single finite ``1e155`` overflows to ``inf`` and
every standardised value, and what is computed from them, becomes 0 or NaN. Here each
column is divided by its largest magnitude before squaring; and data whose spread leaves
no room for a model's draws beyond it before float64 overflows is refused, with the
column and the value named. :func:`power_of_two_scale` gives the exact (power-of-two)
factor that brings values near 1 for computations that square them.
"""

import numpy as np

#: Exponent bound of :func:`power_of_two_scale`, so that the scale itself stays finite.
_MAX_EXPONENT = 1000
#: Spreads a model may reach beyond the data (draws far in a tail, extrapolation) before
#: float64 overflows: a column is refused when ``|centre| + HEADROOM * scale`` does not fit.
HEADROOM = 1e6


def center_scale(values, name="X", feature_names=None, variance=False):
    """Column means and standard deviations (``ddof=0``; 1 for a constant column).

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_columns)
        Finite values.
    name : str, default="X"
        The argument the values came from, for the error message.
    feature_names : sequence of str or None, default=None
        Column names for the error message.
    variance : bool, default=False
        Whether the caller stores variances (a covariance matrix): then the square of
        the scale, times ``HEADROOM``, must fit in float64 as well.

    Returns
    -------
    center, scale : ndarray of shape (n_columns,)

    Raises
    ------
    ValueError
        When a column's magnitude leaves less than ``HEADROOM`` standard deviations
        before float64 overflows (or, with ``variance``, when its variance overflows or
        underflows to 0).
    """
    values = np.asarray(values, dtype=np.float64)
    center, std, peak = _moments(values)
    with np.errstate(over="ignore"):
        room = np.abs(center) + HEADROOM * std
        if variance:  # and variances neither overflow nor underflow to 0
            room = room + HEADROOM * std**2
            room[(std > 0) & (std**2 < HEADROOM * np.finfo(np.float64).tiny)] = np.inf
    for column in np.flatnonzero(~np.isfinite(room)):
        label = f"column {column}" if feature_names is None else \
            f"column {feature_names[column]!r}"
        largest = values[np.argmax(np.abs(values[:, column])), column]
        raise ValueError(
            f"{name} {label} holds {largest:.3g}: values of this size leave no room in "
            f"float64 for a model's {'variances or ' * variance}draws. Rescale it (for "
            "example, divide it by its largest magnitude, "
            f"{peak[column]:.0e}) before fitting."
        )
    return center, np.where(std > 0, std, 1.0)


def mean_std(values):
    """Column means and standard deviations (``ddof=0``), without overflow for any finite
    values (a 1-D array is one column)."""
    center, std, _ = _moments(np.asarray(values, dtype=np.float64))
    return center, std


def _moments(values):
    """Column means, standard deviations and largest magnitudes (1 for an all-zero column)."""
    peak = np.abs(values).max(axis=0, initial=0.0)
    peak = np.where(peak > 0, peak, 1.0)
    scaled = values / peak  # within [-1, 1]: squaring cannot overflow
    return scaled.mean(axis=0) * peak, scaled.std(axis=0) * peak, peak


def power_of_two_scale(values, axis=None):
    """The power of two that brings the largest ``|values|`` (along ``axis``) near 1.

    Multiplying by a power of two is exact in floating point (barring overflow and
    underflow), so order, quantiles and linear interpolation commute with it; it keeps
    means, variances and bin edges finite for data near the float64 limits.

    Parameters
    ----------
    values : ndarray
        Finite values.
    axis : int or None, default=None
        Axis along which one scale is computed; ``None`` for a single scale.

    Returns
    -------
    scale : float or ndarray
        ``2 ** -e`` with ``e`` the binary exponent of the largest magnitude (1 for zeros).
    """
    peak = np.max(np.abs(values), axis=axis) if values.size else 0.0
    exponent = np.clip(np.frexp(peak)[1], -_MAX_EXPONENT, _MAX_EXPONENT)
    return np.ldexp(1.0, -exponent)
