"""Return levels and return periods of any fitted sampler of one series, with intervals."""

import warnings
from typing import NamedTuple

import numpy as np
from scipy.stats import binom
from sklearn.utils.validation import check_array, check_is_fitted

from ..exceptions import ExtrapolationWarning
from ..utils._fit_params import fit_param
from ..utils._validation import check_int, check_option, check_random_state, check_real
from ..utils._warnings import caller_stacklevel
from ._bootstrap import bootstrap, percentile_interval, training_data_mismatch
from ._draws import (
    DRAWS_BEYOND,
    PERIOD_DRAWS,
    check_one_feature,
    draw,
    draws_needed,
    draws_probability,
    draws_quantile,
)
from ._pot import (
    delta_se,
    exponential_counts,
    exponential_level_interval,
    exponential_pivot_level_interval,
    exponential_pivot_probability_interval,
    exponential_probability_interval,
    is_exponential_tail,
    is_pot_model,
    normal_quantile,
    pot_level,
    pot_log_probability,
    pot_tail,
    threshold_weight,
)

SIDES = ("upper", "lower")
METHODS = ("auto", "delta", "bootstrap")
#: The interval of an exponential tail (a generalized Pareto model's 1-4 exceedances).
EXPONENTIAL = "exponential-profile"
#: The exact interval of an exponential tail whose threshold is a GPDTailSampler's quantile.
PIVOT = "exponential-pivot"
_SIGN = {"upper": 1.0, "lower": -1.0}
_MAX_SEED = 2**32 - 1


class ReturnLevelResult(NamedTuple):
    """Return levels, with the bounds of their confidence interval.

    A named tuple, returned by :func:`return_level`; it unpacks as
    ``level, lower, upper, method``.

    Parameters
    ----------
    level : float or ndarray
        The level exceeded on average once per return period (a float for one period,
        else an array of the shape of ``return_period``; also the attribute ``level``).
    lower, upper : float or ndarray
        Bounds of the confidence interval, of the same shape; NaN where none was
        computed.
    method : str
        How the interval was computed, and for which model: ``"delta"`` (the delta
        method on a generalized Pareto fit), ``"exponential-profile"`` (the profile
        likelihood of the exponential tail, shape fixed at 0, that a generalized Pareto
        model keeps with 1 to 4 exceedances), ``"exponential-pivot"`` (the exact interval
        of that tail when its threshold is the model's ``tail_fraction`` quantile, as
        :class:`~skqegm.baselines.GPDTailSampler`'s), ``"bootstrap"`` (percentile
        bootstrap of refits) or ``"none"``.

    Examples
    --------
    >>> from skqegm.extremes import ReturnLevelResult
    >>> ReturnLevelResult(10.0, 8.0, 12.5, "delta").upper
    12.5
    """

    level: object
    lower: object
    upper: object
    method: str


class ReturnPeriodResult(NamedTuple):
    """Return periods, with the bounds of their confidence interval.

    A named tuple, returned by :func:`return_period`; it unpacks as
    ``period, lower, upper, method``.

    Parameters
    ----------
    period : float or ndarray
        The mean time, in years, between exceedances of each level (a float for one
        level, else an array of the shape of ``level``); ``inf`` for a level the model
        never exceeds.
    lower, upper : float or ndarray
        Bounds of the confidence interval, of the same shape; NaN where none was
        computed.
    method : str
        ``"delta"``, ``"exponential-profile"``, ``"exponential-pivot"``, ``"bootstrap"``
        or ``"none"``, as in :class:`ReturnLevelResult`.

    Examples
    --------
    >>> from skqegm.extremes import ReturnPeriodResult
    >>> ReturnPeriodResult(100.0, 40.0, 400.0, "delta").period
    100.0
    """

    period: object
    lower: object
    upper: object
    method: str


# -- checks ---------------------------------------------------------------------------------
def _real_array(values, name):
    # Numbers only: a float64 conversion would parse strings ("100", also inside an
    # object array) and take True for 1.
    raw = values
    try:
        values = np.asarray(values)
        if values.dtype.kind not in "iufO" or (
                values.dtype.kind == "O"
                and any(isinstance(v, (str, bytes, bool, np.bool_)) for v in values.flat)):
            raise TypeError
        values = values.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or an array of them; got "
                         f"{raw!r}.") from None
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite real numbers (at least one); got {values!r}.")
    return values


def _check_periods(return_period, observations_per_year):
    periods = _real_array(return_period, "return_period")
    if np.any(periods <= 0):
        raise ValueError(f"return_period must be positive (in years); got "
                         f"{periods.min()!r}.")
    if np.any(periods * observations_per_year <= 1):
        raise ValueError(
            f"return_period must be longer than one observation, 1 / observations_per_year "
            f"= {1 / observations_per_year:.3g} years (no level is exceeded less than once "
            f"per observation); got {periods.min()!r}."
        )
    return periods


def _check_options(observations_per_year, side, confidence_level, method, n_bootstrap,
                   n_draws):
    check_option(side, "side", SIDES)
    check_option(method, "method", METHODS)
    check_int(n_bootstrap, "n_bootstrap", min_value=2)
    check_int(n_draws, "n_draws", min_value=1, allow_none=True)
    if confidence_level is not None:
        check_real(confidence_level, "confidence_level", low=0, high=1, low_open=True,
                   high_open=True)
    return check_real(observations_per_year, "observations_per_year", low=0, low_open=True)


def _check_estimator(estimator):
    if hasattr(estimator, "fit"):
        check_is_fitted(estimator)
    if not (hasattr(estimator, "sample") or is_pot_model(estimator)):
        raise TypeError(f"estimator must be a fitted sampler with sample(n_samples); "
                        f"{type(estimator).__name__} has no sample method.")
    check_one_feature(estimator)


def _check_X(X, estimator):
    if X is None:
        return None
    X = check_array(X, ensure_2d=False, dtype=np.float64, input_name="X")
    X = X.reshape(-1, 1) if X.ndim == 1 else X
    if X.shape[1] != 1:
        raise ValueError(f"X must be the estimator's training data, one feature; got an "
                         f"array of shape {X.shape}.")
    # The refits resample X and the record length is len(X): other data would give an
    # interval (and a warning) about a model that was never fitted.
    why = training_data_mismatch(estimator, X)
    if why is not None:
        raise ValueError(f"X must be the data {type(estimator).__name__} was fitted on, and "
                         f"cannot be: {why}. Pass the training data as X.")
    return X


def _interval_method(estimator, method, confidence_level, X):
    if confidence_level is None:
        return "none"
    if method == "auto":
        method = "delta" if is_pot_model(estimator) else "bootstrap"
    name = type(estimator).__name__
    if method == "delta" and not is_pot_model(estimator):
        raise ValueError(f"method='delta' needs a generalized Pareto tail model (the fitted "
                         f"attributes of GPDTailSampler); {name} has none: use "
                         "method='bootstrap' with X.")
    if method == "bootstrap" and X is None:
        raise ValueError(f"X is required for bootstrap confidence intervals of {name}: pass "
                         "its training data as X, or confidence_level=None for the point "
                         "estimate alone.")
    return method


# -- point estimates --------------------------------------------------------------------------
def _tail_holding(model, side, probability):
    """The POT tail of ``model`` (None for another sampler) and which probabilities lie
    in it."""
    if not is_pot_model(model):
        return None, np.zeros(np.shape(probability), dtype=bool)
    tail = pot_tail(model, side)
    return tail, probability < tail[1]


def _tail_beyond(model, side, levels):
    """The POT tail of ``model`` (None for another sampler) and which levels lie strictly
    beyond its threshold."""
    if not is_pot_model(model):
        return None, np.zeros(np.shape(levels), dtype=bool)
    tail = pot_tail(model, side)
    return tail, _SIGN[side] * (levels - tail[0]) > 0


def _draws_for_levels(probability, n_draws):
    needed = draws_needed(float(np.min(probability)))
    if n_draws is not None and n_draws < needed:
        raise ValueError(
            f"n_draws={n_draws} resolves no return level this rare: the rarest, exceeded "
            f"with probability {np.min(probability):.3g} per observation, needs at least "
            f"{needed} draws ({DRAWS_BEYOND} expected beyond it). Pass n_draws=None."
        )
    return needed if n_draws is None else n_draws


# Each value in a POT model's tail is answered in closed form, and only the others from
# draws: a period in the body beside it would otherwise put it on draws too.
def _levels(model, probability, side, n_draws, seed):
    """Closed form for the probabilities in a POT model's tail, the others from draws."""
    tail, closed = _tail_holding(model, side, probability)
    levels = np.empty(probability.shape)
    if closed.any():
        levels[closed] = pot_level(tail, probability[closed], _SIGN[side])[0]
    if not closed.all():
        rest = probability[~closed]
        n = _draws_for_levels(rest, n_draws)
        what = f"return_level(return_period of probability {np.min(rest):.3g})"
        levels[~closed] = draws_quantile(draw(model, n, seed, what), rest, side)
    return levels


def _probabilities(model, levels, side, n_draws, seed):
    """Exceedance probabilities: closed form beyond a POT threshold, the others from draws."""
    tail, closed = _tail_beyond(model, side, levels)
    probability = np.empty(levels.shape)
    if closed.any():
        probability[closed] = np.exp(pot_log_probability(tail, levels[closed],
                                                          _SIGN[side])[0])
    if not closed.all():
        draws = draw(model, n_draws or PERIOD_DRAWS, seed, "return_period")
        probability[~closed] = draws_probability(draws, levels[~closed], side)
    return probability


def _warn_beyond_record(estimator, X, years, observations_per_year):
    if X is None or not years > len(X) / observations_per_year:
        return
    warnings.warn(
        f"a return period of {years:.3g} years lies beyond the "
        f"{len(X) / observations_per_year:.3g}-year record of X: "
        f"{type(estimator).__name__} answers from its own tail, and a sampler that only "
        "resamples or smooths the data (empirical or kernel density) does not reach beyond "
        "the largest observations. A generalized Pareto tail model (GPDTailSampler) "
        "extrapolates by extreme-value theory.",
        ExtrapolationWarning, stacklevel=caller_stacklevel(),
    )


def _warn_few_draws(probability, n_draws):
    n_draws = n_draws or PERIOD_DRAWS
    if np.any(probability * n_draws < DRAWS_BEYOND):
        warnings.warn(
            f"fewer than {DRAWS_BEYOND} of the {n_draws} draws lie beyond some level, so its "
            "return period is poorly resolved (inf where no draw does); pass a larger "
            "n_draws.", UserWarning, stacklevel=caller_stacklevel(),
        )


# -- intervals --------------------------------------------------------------------------------
def _delta_tail(estimator, side, holds, message):
    tail = pot_tail(estimator, side)
    if not holds(tail):
        raise ValueError(message(tail) + " Use method='bootstrap' (with X) there.")
    block = tail[4][1:, 1:]
    if not (np.all(np.isfinite(block)) or is_exponential_tail(tail)):
        if np.any(np.isinf(block)) or not tail[3] > 1e-150:
            why = (f"its scale's variance {'over' if tail[3] > 1 else 'under'}flows float64: "
                   f"a scale {'beyond about 1e154' if tail[3] > 1 else 'below about 1e-154'}; "
                   "divide the data by their largest magnitude")
        else:
            why = "its shape is fixed with no exceedance, or at most -0.5"
        warnings.warn(
            f"the {side} tail of {type(estimator).__name__} has no standard errors ({why}), "
            "so the delta-method interval is NaN; use method='bootstrap' (with X).",
            UserWarning, stacklevel=caller_stacklevel(),
        )
    return tail


def _warn_near_threshold(estimator, side, tail, probability, confidence_level):
    """Warn where an exponential tail's interval cannot cover: its lower bound is the
    threshold, a quantile of the data, which lies above the true level exceeded with
    probability ``p`` when more than ``k`` of the ``n`` rows exceed that level."""
    k, n = exponential_counts(tail)
    above = binom.sf(k, n, np.max(probability))  # the largest p is the nearest level
    if above > (1 - confidence_level) / 4:
        warnings.warn(
            f"the {side} tail of {type(estimator).__name__} is exponential ({k} of {n} rows "
            f"beyond its threshold), and the level exceeded with probability "
            f"{np.max(probability):.3g} per observation lies so close to the threshold, a "
            f"quantile of the data, that the threshold lies beyond the true level with "
            f"probability {above:.2g} (when more than {k} rows exceed that level): the "
            "interval, bounded by the threshold, misses it then. Coverage of 95% intervals "
            "measured on Laplace data (1-4 exceedances): 0.79-0.83 for levels exceeded with "
            "0.67 times the tail's probability, 0.90-0.96 at 0.3 times, 0.93-0.96 at 0.1 "
            "times or less. Ask for longer return periods (rarer levels).",
            UserWarning, stacklevel=caller_stacklevel(),
        )


def _threshold_weight(estimator, side, tail):
    """Where an exponential tail's threshold lies between the data's order statistics (see
    :func:`threshold_weight`), for its exact interval; None where that is not known: another
    tail, or a model without a ``tail_fraction`` whose quantile leaves its exceedances."""
    if not is_exponential_tail(tail):
        return None
    if not hasattr(estimator, "tail_fraction"):
        return None
    fraction = fit_param(estimator, "tail_fraction")  # not one set since the fit
    if not isinstance(fraction, (float, np.floating)) or not 0 < fraction < 0.5:
        return None
    return threshold_weight(*exponential_counts(tail), float(fraction), _SIGN[side])


def _half_width(gradient, tail, confidence_level):
    """Half the delta-method interval; NaN, not inf, where the covariance overflowed."""
    with np.errstate(invalid="ignore"):
        half = normal_quantile(confidence_level) * delta_se(gradient, tail[4])
    return np.where(np.isfinite(half), half, np.nan)


def _delta_levels(estimator, probability, side, observations_per_year, confidence_level):
    def message(tail):
        return (f"return_period must be above {1 / (tail[1] * observations_per_year):.3g} "
                f"years for the closed form of {type(estimator).__name__}: shorter periods "
                f"have levels inside the body, not beyond the {side} threshold "
                f"{tail[0]:.4g}.")

    tail = _delta_tail(estimator, side, lambda t: np.all(probability < t[1]), message)
    level, gradient = pot_level(tail, probability, _SIGN[side])
    weight = _threshold_weight(estimator, side, tail)
    if weight is not None:
        return (level, *exponential_pivot_level_interval(tail, probability, _SIGN[side],
                                                         confidence_level, weight), PIVOT)
    if is_exponential_tail(tail):
        _warn_near_threshold(estimator, side, tail, probability, confidence_level)
        return (level, *exponential_level_interval(tail, probability, _SIGN[side],
                                                   confidence_level), EXPONENTIAL)
    half = _half_width(gradient, tail, confidence_level)
    return level, level - half, level + half, "delta"


def _delta_periods(estimator, levels, side, observations_per_year, confidence_level):
    def message(tail):
        return (f"level must lie beyond the {side} threshold {tail[0]:.4g} of "
                f"{type(estimator).__name__} for its closed form.")

    sign = _SIGN[side]
    tail = _delta_tail(estimator, side, lambda t: np.all(sign * (levels - t[0]) > 0), message)
    log_p, gradient = pot_log_probability(tail, levels, sign)
    weight = _threshold_weight(estimator, side, tail)
    if weight is not None:
        p_low, p_high = exponential_pivot_probability_interval(tail, levels, sign,
                                                               confidence_level, weight)
        with np.errstate(over="ignore", divide="ignore"):  # inf: beyond float64's periods
            return (np.exp(-log_p) / observations_per_year,
                    1 / (p_high * observations_per_year), 1 / (p_low * observations_per_year),
                    PIVOT)
    if is_exponential_tail(tail):
        _warn_near_threshold(estimator, side, tail, np.exp(log_p), confidence_level)
        p_low, p_high = exponential_probability_interval(tail, levels, sign, confidence_level)
        with np.errstate(over="ignore", divide="ignore"):  # inf: beyond float64's periods
            return (np.exp(-log_p) / observations_per_year,
                    1 / (p_high * observations_per_year), 1 / (p_low * observations_per_year),
                    EXPONENTIAL)
    half = _half_width(gradient, tail, confidence_level)
    with np.errstate(over="ignore"):
        return (*(np.exp(-x) / observations_per_year
                  for x in (log_p, log_p + half, log_p - half)), "delta")


def _with_bootstrap(estimator, statistic, X, interval, confidence_level, n_bootstrap,
                    random_state):
    """``statistic(estimator, seed)`` and its percentile bootstrap bounds (NaN without)."""
    rng = check_random_state(random_state)
    value = statistic(estimator, int(rng.randint(_MAX_SEED)))
    if interval != "bootstrap":
        return value, np.full(np.shape(value), np.nan), np.full(np.shape(value), np.nan)
    replicates = bootstrap(estimator, X, statistic, n_bootstrap=n_bootstrap, random_state=rng)
    return (value, *percentile_interval(replicates, confidence_level))


def _shaped(values, like):
    values = np.asarray(values, dtype=np.float64).reshape(like.shape)
    return float(values) if values.ndim == 0 else values


# -- public functions -------------------------------------------------------------------------
def return_level(estimator, return_period, *, observations_per_year=365.25, side="upper",
                 X=None, confidence_level=0.95, method="auto", n_bootstrap=200, n_draws=None,
                 random_state=0):
    """The level exceeded on average once every ``return_period`` years, with an interval.

    The ``T``-year return level is the level exceeded with probability
    ``p = 1 / (T * observations_per_year)`` per observation: the ``1 - p`` quantile of the
    fitted distribution (``side="upper"``; the ``p`` quantile, undercut that rarely, for
    ``side="lower"``).

    - A generalized Pareto tail model (an estimator with the fitted attributes of
      :class:`~skqegm.baselines.GPDTailSampler`: ``tail_threshold_``,
      ``tail_fractions_``, ``gpd_shape_``, ``gpd_scale_`` and ``tail_cov_``) answers in
      closed form, ``u + scale / shape * ((T * observations_per_year * zeta) ** shape -
      1)`` with ``u`` the threshold and ``zeta`` the tail's probability (a period shorter
      than ``1 / (zeta * observations_per_year)``, whose level lies in the body, is
      answered from its draws, as below), and its interval is the delta method on
      ``(zeta, shape, scale)`` (section 4.4.1 of Coles, 2001; ``zeta`` binomial).
      Symmetric, it is known to understate the upper bound of long periods, where the
      likelihood is skewed. A tail with 1 to 4 exceedances is exponential (shape fixed
      at 0; see :class:`~skqegm.baselines.GPDTailSampler`), and its interval is the
      profile likelihood of that model (``method`` ``"exponential-profile"``): the
      levels whose profile deviance, over the tail's probability (binomial) and scale,
      stays within the chi-squared quantile of one degree of freedom. Its lower bound
      is the threshold where the data do not rule out a level there. On Laplace data
      (exponential tails; 2,000 samples of 200 and of 2,000 rows each, 1 to 4
      exceedances) it covered 93-96% at 95% for levels exceeded with probability up to
      0.1 times the tail's, whatever the exceedances (the delta method with the shape
      left out, 68-87%); nearer the threshold less: 90-96% at 0.3 times, 79-83% at
      0.67 times. The threshold is a quantile of the data, and lies beyond the true
      level exceeded with probability ``p`` when more than ``k`` of the ``n`` rows
      exceed it (``scipy.stats.binom.sf(k, n, p)``), where the interval does not reach:
      a ``UserWarning`` says so where that chance exceeds a quarter of ``1 -
      confidence_level``. A model whose threshold is its ``tail_fraction`` quantile
      of the data (numpy's linear interpolation, as
      :class:`~skqegm.baselines.GPDTailSampler`'s; its parameter as at fit) gets an
      exact interval instead (``method`` ``"exponential-pivot"``): the tail's
      probability beyond the order statistic below the threshold is ``Beta(k + 1, n -
      k)`` and the excesses over it independent exponentials, so ``(level - u) / S``
      (``S`` the sum of the excesses) has a known law, whose quantiles (by quadrature)
      bound the level, below the threshold too. It covered 0.94-0.96 at 95% on 2,000
      Laplace samples each (200 and 250 rows, 1-3 exceedances, thresholds 0.005 to
      0.51 of the way to the next value, levels exceeded with 0.67 to 0.01 times the
      tail's probability), where the profile covered 0.72-0.79 at 0.67 times and
      0.90-0.93 at 0.3 times. It is exact for an exponential tail only, as
      the profile, and is not centred on the point estimate (the maximum-likelihood
      level is not the pivot's median): at a ``confidence_level`` far below 0.5 it
      need not contain it (at 1e-6 it did not, 3 exceedances of 30 rows). A tail
      without exceedances has no interval (NaN, with a warning).
    - Any other sampler of one feature answers from its draws (``sample``, given
      ``random_state`` when it accepts one), and its interval is a percentile bootstrap:
      ``n_bootstrap`` clones (:func:`sklearn.base.clone`) refitted on resamples of the
      training data ``X`` (rows drawn with replacement, independently: the serial
      dependence of a series is ignored, which narrows the interval), each answering from
      its own draws. A clone whose ``random_state`` parameter is None gets a seed from
      ``random_state``, so the interval is reproducible. Progress is logged at INFO level
      on the ``"skqegm"`` logger.

    Draws resolve a return level only if some of them lie beyond it: ``n_draws=None``
    takes 100 expected draws beyond the rarest level (``100 / p``, at least 10,000), and
    a period too long for the memory available is refused before drawing. Beyond the
    record, a sampler that resamples or smooths the data (an empirical distribution, a
    kernel density) cannot reach much past the largest observation: when ``X`` is given
    and the longest period exceeds its record (``len(X) / observations_per_year``
    years), an :class:`~skqegm.exceptions.ExtrapolationWarning` says so. It is not
    detected without ``X``.

    Parameters
    ----------
    estimator : fitted estimator
        A sampler of one feature with ``sample(n_samples)`` (returning ``X`` or
        ``(X, labels)``), or a generalized Pareto tail model.
    return_period : float or array-like of float
        Return periods in years, each longer than one observation
        (``> 1 / observations_per_year``).
    observations_per_year : float, default=365.25
        Observations per year (365.25 for daily data, about 252 for trading days).
    side : {"upper", "lower"}, default="upper"
        ``"upper"``: levels exceeded (floods, gains); ``"lower"``: levels undercut
        (droughts, losses as negative returns).
    X : array-like of shape (n_samples,) or (n_samples, 1), default=None
        The training data of ``estimator``: needed for bootstrap intervals (else a
        ``ValueError``), and gives the record length for the extrapolation warning.
        Other data are refused where the estimator's fitted attributes show it (a
        generalized Pareto model's counts beyond its thresholds and the rows they imply,
        the ``tail_fraction`` quantiles of the training data kept in ``tail_threshold_``
        by :class:`~skqegm.QEGMSampler` and
        :class:`~skqegm.baselines.GPDTailSampler`, scikit-learn's ``n_samples_fit_``, a
        kernel density's ``tree_.data``). A sampler that keeps nothing of its data (a
        Gaussian mixture, :class:`~skqegm.baselines.VAESampler`,
        :class:`~skqegm.baselines.GANSampler`,
        :class:`~skqegm.baselines.DiffusionSampler`) cannot tell: there the refits are
        of whatever ``X`` is given, and so is the interval, unchecked.
    confidence_level : float or None, default=0.95
        Coverage of the interval, in (0, 1); ``None`` for the point estimate alone (then
        ``lower`` and ``upper`` are NaN and ``X`` is not needed).
    method : {"auto", "delta", "bootstrap"}, default="auto"
        The interval: ``"auto"`` is the delta method for a generalized Pareto tail
        model (the exact pivot or the profile likelihood for its exponential tails; also
        with ``"delta"``)
        and the bootstrap for any other; ``"bootstrap"`` also refits a generalized
        Pareto model (each refit answering in closed form), for periods whose levels lie
        in its body or for an interval without the normal approximation.
    n_bootstrap : int, default=200
        Refits behind a bootstrap interval, >= 2.
    n_draws : int or None, default=None
        Draws behind each estimate from draws (the point estimate and every refit's).
        ``None`` takes enough; a number too small to resolve the rarest level is refused.
    random_state : int, RandomState instance or None, default=0
        Seeds the draws and the bootstrap resamples; an int gives the same result every
        time.

    Returns
    -------
    result : ReturnLevelResult
        Named tuple ``(level, lower, upper, method)``: floats for a scalar
        ``return_period``, else arrays of its shape; ``method`` is ``"delta"``,
        ``"exponential-profile"``, ``"exponential-pivot"``, ``"bootstrap"`` or
        ``"none"``.

    Raises
    ------
    ValueError
        A ``return_period`` not above one observation, an option out of range, an
        estimator of several features, a bootstrap interval without ``X``, an ``X``
        that cannot be the estimator's training data, a delta
        interval for a period whose level lies in a generalized Pareto model's body, or
        an ``n_draws`` too small; :class:`~skqegm.exceptions.MemoryLimitError` (a
        ``ValueError``) when the draws needed do not fit in memory.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    TypeError
        If ``estimator`` has no ``sample`` method and is no generalized Pareto model.

    See Also
    --------
    return_period : The inverse: the return period of a level.
    skqegm.plotting.plot_return_levels : Return level plot, with the data and intervals.

    References
    ----------
    Coles, S. (2001). An Introduction to Statistical Modeling of Extreme Values.
    Springer, section 4.4.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.extremes import return_level
    >>> X = np.random.default_rng(0).standard_t(4, size=(36525, 1))  # 100 years, daily
    >>> gpd = GPDTailSampler(tail_fraction=0.01).fit(X)
    >>> result = return_level(gpd, [10, 100])
    >>> result.method
    'delta'
    >>> np.round(np.stack([result.lower, result.level, result.upper]), 1)
    array([[ 8.5, 12. ],
           [ 9.6, 16.4],
           [10.8, 20.9]])
    >>> from scipy import stats  # the true levels, 10.1 and 18.1, lie in the intervals
    >>> np.round(stats.t.isf(1 / (np.array([10, 100]) * 365.25), 4), 1)
    array([10.1, 18.1])
    """
    observations_per_year = _check_options(observations_per_year, side, confidence_level,
                                           method, n_bootstrap, n_draws)
    _check_estimator(estimator)
    periods = _check_periods(return_period, observations_per_year)
    X = _check_X(X, estimator)
    interval = _interval_method(estimator, method, confidence_level, X)
    probability = 1.0 / (periods * observations_per_year)
    if interval == "delta":
        level, lower, upper, interval = _delta_levels(estimator, probability, side,
                                                      observations_per_year, confidence_level)
        return ReturnLevelResult(*(_shaped(v, periods) for v in (level, lower, upper)),
                                 interval)
    level, lower, upper = _with_bootstrap(
        estimator, lambda model, seed: _levels(model, probability, side, n_draws, seed), X,
        interval, confidence_level, n_bootstrap, random_state)
    _, closed = _tail_holding(estimator, side, probability)
    if not closed.all():
        _warn_beyond_record(estimator, X, float(periods[~closed].max()), observations_per_year)
    return ReturnLevelResult(*(_shaped(v, periods) for v in (level, lower, upper)), interval)


def return_period(estimator, level, *, observations_per_year=365.25, side="upper", X=None,
                  confidence_level=0.95, method="auto", n_bootstrap=200, n_draws=None,
                  random_state=0):
    """The mean time in years between exceedances of ``level``: ``1 / (p *
    observations_per_year)``, with ``p`` its exceedance probability per observation.

    The inverse of :func:`return_level`, with the same options. A generalized Pareto
    tail model answers in closed form for levels beyond its threshold, ``p = zeta * (1 +
    shape * (level - u) / scale) ** (-1 / shape)``, with a delta-method interval on
    ``log p`` (so that it stays positive; the exact pivot or the profile likelihood for an
    exponential tail of 1 to 4 exceedances, as in :func:`return_level`), and levels
    inside its body from its draws; any other sampler answers from the share of its
    draws beyond the level, with a percentile bootstrap interval of refits on ``X``.
    A level that no draw exceeds has an infinite period; fewer than 100 draws beyond
    a level give a ``UserWarning``.

    Parameters
    ----------
    estimator : fitted estimator
        A sampler of one feature, or a generalized Pareto tail model (see
        :func:`return_level`).
    level : float or array-like of float
        Levels, in the units of the data.
    observations_per_year : float, default=365.25
        Observations per year.
    side : {"upper", "lower"}, default="upper"
        ``"upper"``: exceedances above ``level``; ``"lower"``: values below it.
    X : array-like of shape (n_samples,) or (n_samples, 1), default=None
        The training data of ``estimator``, needed for bootstrap intervals; other data
        are refused where the estimator shows it (see :func:`return_level`).
    confidence_level : float or None, default=0.95
        Coverage of the interval, in (0, 1); ``None`` for the point estimate alone.
    method : {"auto", "delta", "bootstrap"}, default="auto"
        As in :func:`return_level`.
    n_bootstrap : int, default=200
        Refits behind a bootstrap interval, >= 2.
    n_draws : int or None, default=None
        Draws behind each estimate from draws; ``None`` takes 1,000,000.
    random_state : int, RandomState instance or None, default=0
        Seeds the draws and the bootstrap resamples.

    Returns
    -------
    result : ReturnPeriodResult
        Named tuple ``(period, lower, upper, method)``: floats for a scalar ``level``,
        else arrays of its shape.

    Raises
    ------
    ValueError
        A non-finite ``level``, an option out of range, an estimator of several
        features, a bootstrap interval without ``X``, an ``X`` that cannot be the
        estimator's training data, or a delta interval for a level
        inside a generalized Pareto model's body.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    TypeError
        If ``estimator`` has no ``sample`` method and is no generalized Pareto model.

    See Also
    --------
    return_level : The level of a return period.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.extremes import return_level, return_period
    >>> X = np.random.default_rng(0).standard_t(4, size=(36525, 1))
    >>> gpd = GPDTailSampler(tail_fraction=0.01).fit(X)
    >>> level = return_level(gpd, 50).level
    >>> round(return_period(gpd, level).period, 6)
    50.0
    """
    observations_per_year = _check_options(observations_per_year, side, confidence_level,
                                           method, n_bootstrap, n_draws)
    _check_estimator(estimator)
    levels = _real_array(level, "level")
    X = _check_X(X, estimator)
    interval = _interval_method(estimator, method, confidence_level, X)
    if interval == "delta":
        period, lower, upper, interval = _delta_periods(estimator, levels, side,
                                                        observations_per_year,
                                                        confidence_level)
        return ReturnPeriodResult(*(_shaped(v, levels) for v in (period, lower, upper)),
                                  interval)
    probability, p_low, p_high = _with_bootstrap(
        estimator, lambda model, seed: _probabilities(model, levels, side, n_draws, seed), X,
        interval, confidence_level, n_bootstrap, random_state)
    with np.errstate(divide="ignore"):  # a level never exceeded has an infinite period
        period, lower, upper = (1.0 / (p * observations_per_year)
                                for p in (probability, p_high, p_low))
    _, closed = _tail_beyond(estimator, side, levels)
    if not closed.all():
        _warn_few_draws(probability[~closed], n_draws)
        _warn_beyond_record(estimator, X, float(np.max(period[~closed])),
                            observations_per_year)
    return ReturnPeriodResult(*(_shaped(v, levels) for v in (period, lower, upper)), interval)
