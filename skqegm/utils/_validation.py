"""Parameter validation with errors that name the parameter and its allowed values."""

import numbers

import numpy as np
from sklearn.utils import check_random_state


def check_option(value, name, options):
    """Return ``value`` if it is one of ``options``, else raise a ``ValueError``.

    Parameters
    ----------
    value : object
        The value given by the user.
    name : str
        The parameter's name, used in the error message.
    options : sequence
        The allowed values.
    """
    if not any(value is opt or (type(value) is type(opt) and value == opt) for opt in options):
        allowed = ", ".join(repr(opt) for opt in options)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
    return value


def check_int(value, name, *, min_value=None, max_value=None, allow_none=False):
    """Return ``value`` as an ``int`` after checking its type and range."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer; got {value!r}.")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}; got {value!r}.")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}; got {value!r}.")
    return int(value)


def check_shots(shots):
    """Validate a shot count: ``None`` (exact where possible) or a positive integer."""
    return check_int(shots, "shots", min_value=1, allow_none=True)


def seed_from_random_state(random_state):
    """Draw one 32-bit integer seed from ``random_state`` (for simulators and transpilers).

    An ``int`` random_state always gives the same seed, so a fitted estimator's
    simulator runs are reproducible; ``None`` gives a fresh seed.
    """
    rng = check_random_state(random_state)
    return int(rng.randint(np.iinfo(np.int32).max))


def check_real(value, name, *, low=None, high=None, low_open=False, high_open=False):
    """Return ``value`` as a ``float`` after checking that it is a finite real in a range.

    Parameters
    ----------
    value : object
        The value given by the user.
    name : str
        The parameter's name, used in the error message.
    low, high : float or None
        Bounds of the allowed range; ``None`` leaves that side unbounded.
    low_open, high_open : bool
        Whether the bound itself is excluded.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}.")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}; got {value!r}.")
    return float(value)
