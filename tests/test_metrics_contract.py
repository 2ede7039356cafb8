"""Property-based contract of the public metrics: fail loudly, or be right.

Every public metric is fed awkward inputs (empty and tiny arrays, ties, constant columns,
magnitudes from 1e-300 to 1e300, NaN and infinity, int / bool / float32 / object / str
dtypes) and parameters at and beyond their bounds. Each call must either

- raise ``ValueError`` or ``TypeError`` whose message names the offending argument, or
- return a finite value (``inf`` only where documented: the tail KL with ``smoothing=0``)
  that agrees with an independent computation: numpy histograms and
  :func:`scipy.stats.entropy` for the tail KL, :mod:`sklearn.metrics` for recall and
  precision, scipy's binomial likelihoods for Kupiec and its G-test
  (:func:`scipy.stats.chi2_contingency`) for Christoffersen's independence test.

numpy's RuntimeWarnings (overflow, invalid values) are errors here: a metric that
overflows silently is not trusted to be right.

The ranking properties of the tail KL that are asserted, and why they hold exactly:

1. *Missing the tail is the worst.* A model with no draw in the tail region ``T`` scores
   the largest value any model can get on the same ``x_true``: the KL is convex in
   ``Q_T``, so its maximum is at a (smoothed) point mass, and that is the value returned.
2. *Moving draws far out never helps.* Let the model be ``r`` copies of ``x_true`` plus
   ``k`` draws at a point beyond every true point (1e308). All ``k`` land in one cell,
   so ``Q_T = (1 - lam) P_T + lam e`` with ``lam`` increasing in ``k``; smoothing is
   affine, and ``lam -> KL(p || (1 - lam) p + lam e)`` is convex, 0 at ``lam = 0`` and
   never negative, hence non-decreasing. The score never decreases as ``k`` grows.
3. *Beyond the data, distance no longer matters, and is never perfect.* In 1-D, shifting
   every model draw by any amount past the most extreme true point gives one and the
   same score (the open-ended outermost cell), strictly above the 0 of a perfect model.

Plain monotonicity in the shift ``x_model + delta`` is *not* asserted: with finite bins a
shift can move draws out of a cell the data leave empty and so lower the score for a while.
"""

import warnings

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import binom, chi2, chi2_contingency, entropy
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import precision_score, recall_score

from skqegm.metrics import (
    christoffersen_conditional_coverage_test,
    christoffersen_independence_test,
    coverage_error,
    interval_coverage,
    kupiec_pof_test,
    make_coverage_scorer,
    make_tail_kl_scorer,
    rare_event_precision,
    rare_event_recall,
    tail_kl_divergence,
    var_exceedances,
)

SETTINGS = dict(deadline=None, derandomize=True)
FAR = np.finfo(np.float64).max  # beyond every true point
MAGNITUDES = [1e-300, 1e-8, 1.0, 1e8, 1e150, 1e300]
DTYPES = ["float64", "float32", "int64", "bool", "object", "str"]


# --- strategies -------------------------------------------------------------------------


@st.composite
def values(draw, min_size=0, max_size=40, shape=None):
    """Float64 arrays that are continuous, tied or constant, at one of MAGNITUDES."""
    n = draw(st.integers(min_size, max_size)) if shape is None else shape
    kind = draw(st.sampled_from(["continuous", "ties", "constant"]))
    unit = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)
    if kind == "continuous":
        base = draw(arrays(np.float64, n, elements=unit, fill=st.nothing()))
    elif kind == "ties":
        pool = draw(st.lists(unit, min_size=1, max_size=3))
        base = draw(arrays(np.float64, n, elements=st.sampled_from(pool)))
    else:
        base = np.full(n, draw(unit))
    return base * draw(st.sampled_from(MAGNITUDES))


@st.composite
def spread_values(draw, min_size=20, max_size=80):
    """Float64 arrays with some spread (a quarter of them tied at one value, sometimes), at
    one of MAGNITUDES: data sets that a tail metric should mostly accept."""
    unit = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)
    # fill=nothing: every element drawn, not one fill value repeated (numpy arrays' default).
    x = draw(arrays(np.float64, st.integers(min_size, max_size), elements=unit,
                    fill=st.nothing()))
    if draw(st.booleans()):
        x[: x.size // 4] = x[-1]
    return x * draw(st.sampled_from(MAGNITUDES))


def _cast(x, dtype):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # float32 overflow, int cast of 1e300: intended
        if dtype == "str":
            return x.astype(str)
        if dtype == "object":
            return x.astype(object)
        return x.astype(dtype)


@st.composite
def awkward(draw, min_size=0, max_size=40, shape=None):
    """``values`` cast to a random dtype (float64 half the time), sometimes poisoned with
    NaN or infinity (one time in four)."""
    x = draw(values(min_size, max_size, shape))
    poison = draw(st.sampled_from([None] * 9 + [np.nan, np.inf, -np.inf]))
    if poison is not None and x.size:
        x = x.copy()
        x.flat[draw(st.integers(0, x.size - 1))] = poison
    return _cast(x, draw(st.sampled_from(["float64"] * len(DTYPES) + DTYPES)))


def mostly(valid, awkward_values):
    """``valid`` three times in four, else one of ``awkward_values`` (bounds and beyond)."""
    return st.one_of(valid, valid, valid, st.sampled_from(awkward_values))


TAIL_FRACTION = mostly(st.floats(0.05, 0.45), [0.0, 1e-300, 0.01, 0.5, 0.999, 1.0, -0.1,
                                                np.nan, np.inf, "0.1", True])
BINS = mostly(st.integers(2, 12), [0, 1, 2, 2.0, -3, None, "5", 10**4])
SMOOTHING = mostly(st.sampled_from([1e-4, 1e-2]), [0.0, 1.0, 1.5, -1e-9, np.nan, np.inf])
SIDE = mostly(st.sampled_from(["both", "lower", "upper"]), ["left", None, "BOTH"])
LEVEL = mostly(st.floats(0.5, 1.0, exclude_min=True, exclude_max=True),
               [0.0, 0.01, 0.05, 0.5, 1.0, 99.0, -0.99, np.nan, np.inf, "0.99", True, None])


# --- the contract -----------------------------------------------------------------------


def outcome(call, names):
    """``call()``'s result, or ``None`` when it raised a clear error naming one of ``names``.

    UserWarnings (a model missing the tail, undefined recall) are part of the contract;
    numpy's RuntimeWarnings are not, and fail the test.
    """
    try:
        # Underflow to zero is benign (a density far out in a tail); the rest is not.
        with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise",
                                                    divide="raise"):
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", RuntimeWarning)
            result = call()
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert any(name in message for name in names), message
        event(f"refused: {' '.join(message.split()[:4])}")
        return None
    event("value")
    return result


def _floats(x):
    return np.asarray(x, dtype=np.float64)


def _smooth(counts, smoothing):
    p = counts / counts.sum() if counts.sum() else counts.astype(float)
    return (p + smoothing) / (p.sum() + smoothing * p.size)


def reference_tail_kl_1d(x_true, x_model, tail_fraction, side, bins, smoothing):
    """The documented 1-D tail KL from numpy histograms and scipy.stats.entropy."""
    p, q = [], []
    for one_side in (("lower", "upper") if side == "both" else (side,)):
        if one_side == "lower":
            thr = np.quantile(x_true, tail_fraction)
            edges = np.linspace(x_true.min(), thr, bins + 1)
            true_tail, model_tail = x_true[x_true <= thr], x_model[x_model <= thr]
            model_tail = np.clip(model_tail, edges[0], None)  # open-ended outermost bin
        else:
            thr = np.quantile(x_true, 1 - tail_fraction)
            edges = np.linspace(thr, x_true.max(), bins + 1)
            true_tail, model_tail = x_true[x_true >= thr], x_model[x_model >= thr]
            model_tail = np.clip(model_tail, None, edges[-1])
        p.append(np.histogram(true_tail, edges)[0])
        q.append(np.histogram(model_tail, edges)[0])
    p_s = _smooth(np.concatenate(p), smoothing)
    q_counts = np.concatenate(q)
    if q_counts.sum() == 0:  # documented: the worst model, a point mass on p's thinnest cell
        q_counts = np.eye(p_s.size)[np.argmin(p_s)]
    return entropy(p_s, _smooth(q_counts, smoothing))


TAIL_KL_NAMES = ["x_true", "x_model", "tail_fraction", "bins", "smoothing", "side"]


@settings(max_examples=200, **SETTINGS)
@given(x_true=st.one_of(awkward(min_size=20, max_size=80), awkward()),
       x_model=st.one_of(awkward(min_size=1, max_size=80), awkward()),
       tail_fraction=TAIL_FRACTION, bins=BINS, smoothing=SMOOTHING, side=SIDE)
def test_tail_kl_one_dimensional_contract(x_true, x_model, tail_fraction, bins, smoothing,
                                          side):
    params = dict(tail_fraction=tail_fraction, bins=bins, smoothing=smoothing, side=side)
    kl = outcome(lambda: tail_kl_divergence(x_true, x_model, **params), TAIL_KL_NAMES)
    if kl is not None:
        assert isinstance(kl, float) and kl >= 0
        assert np.isfinite(kl) or smoothing == 0


REAL_DTYPES = st.sampled_from(["float64", "float64", "float32", "int64", "bool", "object"])


@settings(max_examples=200, **SETTINGS)
@given(x_true=st.one_of(spread_values(), spread_values(), values(min_size=1)),
       x_model=st.one_of(spread_values(min_size=1), values(min_size=1)),
       dtypes=st.tuples(REAL_DTYPES, REAL_DTYPES), tail_fraction=st.floats(0.08, 0.45),
       bins=st.integers(2, 12), smoothing=st.sampled_from([0.0, 1e-4, 1e-2, 1.0]),
       side=st.sampled_from(["both", "lower", "upper"]))
def test_tail_kl_one_dimensional_matches_numpy_and_scipy(x_true, x_model, dtypes,
                                                         tail_fraction, bins, smoothing,
                                                         side):
    x_true, x_model = _cast(x_true, dtypes[0]), _cast(x_model, dtypes[1])
    params = dict(tail_fraction=tail_fraction, bins=bins, smoothing=smoothing, side=side)
    kl = outcome(lambda: tail_kl_divergence(x_true, x_model, **params), TAIL_KL_NAMES)
    if kl is None:
        return
    true, model = _floats(x_true), _floats(x_model)
    with np.errstate(all="ignore"):
        span_is_finite = np.isfinite(np.ptp(true)) and np.isfinite(np.ptp(model))
    if span_is_finite:  # else the reference itself overflows
        expected = reference_tail_kl_1d(true, model, tail_fraction, side, bins, smoothing)
        assert kl == pytest.approx(expected, rel=1e-9, abs=1e-12)
        event("value checked against the reference")


@st.composite
def points(draw):
    """Multivariate (or 1-D, for a rarity callable) data sets, awkward ones included."""
    n_features = draw(st.integers(1, 3))
    x = draw(values(min_size=0, max_size=60 // n_features * n_features))
    x = x[: x.size // n_features * n_features].reshape(-1, n_features)
    continuous = draw(arrays(np.float64, (draw(st.integers(20, 60)), n_features),
                             elements=st.floats(-10, 10, allow_subnormal=False),
                             fill=st.nothing()))
    continuous = continuous * draw(st.sampled_from(MAGNITUDES))
    return draw(st.sampled_from([continuous] * 6 + [x, np.zeros((6, 2)),
                                 np.column_stack([np.arange(30.0), np.ones(30)])]))


def _sum_of_squares(X):
    with np.errstate(over="ignore"):  # +inf for far draws: allowed, the rarest
        return np.sum(X ** 2, axis=1)


RARITY = {"sum_of_squares": _sum_of_squares,
          "constant": lambda X: np.zeros(len(X)),
          "nan": lambda X: np.full(len(X), np.nan), None: None}


@settings(max_examples=20, **SETTINGS)
@given(x_true=points(), shifted=st.booleans(), tail_fraction=TAIL_FRACTION,
       rarity=st.sampled_from([None, None, "sum_of_squares", "sum_of_squares", "constant",
                               "nan"]))
def test_tail_kl_multivariate_and_rarity_contract(x_true, shifted, tail_fraction, rarity):
    # Far: 50 times the data's largest magnitude away (infinite if that overflows).
    with np.errstate(over="ignore"):
        shift = 50 * np.maximum(np.abs(x_true).max(axis=0, initial=0), 1) if shifted else 0
        x_model = x_true + shift
    names = TAIL_KL_NAMES + ["rarity", "KDE"]
    kl = outcome(lambda: tail_kl_divergence(x_true, x_model, tail_fraction=tail_fraction,
                                            bins=5, rarity=RARITY[rarity]), names)
    if kl is not None:
        assert isinstance(kl, float) and np.isfinite(kl) and kl >= 0
        assert (kl > 0) == shifted  # far models are never scored as perfect


# --- ranking properties of the tail KL ------------------------------------------------------


@st.composite
def valid_reference(draw):
    """A 1-D x_true and parameters that the tail KL accepts."""
    unit = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)
    x_true = draw(arrays(np.float64, st.integers(30, 80), elements=unit, unique=True))
    if draw(st.booleans()):  # some ties
        x_true[: len(x_true) // 4] = x_true[0]
    x_true = x_true * draw(st.sampled_from(MAGNITUDES))
    side = draw(st.sampled_from(["both", "lower", "upper"]))
    params = dict(tail_fraction=draw(st.floats(0.1, 0.45)), side=side,
                  bins=draw(st.integers(2, 8)), smoothing=draw(st.sampled_from([1e-4, 1e-2])))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            tail_kl_divergence(x_true, x_true, **params)
    except ValueError:
        assume(False)  # degenerate tails are refused; the properties are about the rest
    return x_true, params


def _kl_quiet(x_true, x_model, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return tail_kl_divergence(x_true, x_model, **params)


def _missing_model(x_true, side, tail_fraction):
    """One draw outside T: below the upper tail, above the lower one, or between them."""
    if side == "upper":
        return x_true[[np.argmin(x_true)]]
    if side == "lower":
        return x_true[[np.argmax(x_true)]]
    low, high = np.quantile(x_true, [tail_fraction, 1 - tail_fraction])
    return np.array([low / 2 + high / 2])


@settings(max_examples=60, **SETTINGS)
@given(reference=valid_reference(), model=values(min_size=1, max_size=60),
       shift=st.sampled_from([0.0, 0.5, 3.0, -3.0]))
def test_missing_the_tail_is_the_worst_score(reference, model, shift):
    x_true, params = reference
    tail_fraction = params["tail_fraction"]
    missing = _missing_model(x_true, params["side"], tail_fraction)
    low, high = np.quantile(x_true, [tail_fraction, 1 - tail_fraction])
    assume(params["side"] != "both" or low < missing[0] < high)
    worst = _kl_quiet(x_true, missing, **params)
    for candidate in (model, x_true * (1 + shift), x_true + shift * np.abs(x_true).max()):
        assert _kl_quiet(x_true, candidate, **params) <= worst * (1 + 1e-12) + 1e-12


@settings(max_examples=40, **SETTINGS)
@given(reference=valid_reference(), copies=st.integers(1, 3))
def test_moving_more_draws_far_out_never_improves_the_score(reference, copies):
    x_true, params = reference
    far = FAR if params["side"] != "lower" else -FAR
    scores = [_kl_quiet(x_true, np.concatenate([np.tile(x_true, copies), np.full(k, far)]),
                        **params) for k in (0, 1, 2, 5, 20, 100, 1000)]
    assert scores[0] == 0.0
    assert all(b >= a * (1 - 1e-12) - 1e-12 for a, b in zip(scores, scores[1:])), scores
    assert scores[-1] > 0


@settings(max_examples=6, **SETTINGS)
@given(seed=st.integers(0, 2**16), copies=st.integers(1, 2),
       rarity=st.sampled_from([None, RARITY["sum_of_squares"]]))
def test_moving_more_draws_far_out_never_improves_the_multivariate_score(seed, copies, rarity):
    # k-means cells: the k far draws share one cell, so property 2 holds here as well.
    x_true = np.random.RandomState(seed).standard_t(4, size=(60, 2))
    scores = [_kl_quiet(x_true, np.vstack([np.tile(x_true, (copies, 1)), np.full((k, 2), FAR)]),
                        tail_fraction=0.2, bins=4, rarity=rarity) for k in (0, 1, 50)]
    assert scores[0] == 0.0 < scores[-1]
    assert all(b >= a * (1 - 1e-12) - 1e-12 for a, b in zip(scores, scores[1:])), scores


@settings(max_examples=60, **SETTINGS)
@given(reference=valid_reference(), model=values(min_size=1, max_size=40),
       extra=st.sampled_from([0.0, 1.0, 1e10, 1e300]))
def test_beyond_the_data_distance_no_longer_matters_and_is_never_perfect(reference, model,
                                                                        extra):
    x_true, params = reference
    assume(params["smoothing"] < 0.1)
    # Shift the model so that its lowest draw sits on the largest true point (upper side),
    # then further by `extra`; mirrored for the lower side.
    sign = -1.0 if params["side"] == "lower" else 1.0
    with np.errstate(over="ignore"):
        past = model - model.min() + x_true.max() if sign > 0 else (
            model - model.max() + x_true.min())
        further = past + sign * extra
    assume(np.all(np.isfinite(past)) and np.all(np.isfinite(further)))
    assume(np.all(past >= x_true.max()) if sign > 0 else np.all(past <= x_true.min()))
    kl_past, kl_further = _kl_quiet(x_true, past, **params), _kl_quiet(x_true, further, **params)
    assert kl_further == kl_past > 0


# --- the other metrics --------------------------------------------------------------------


def _flags(length):
    return st.one_of(arrays(np.int64, length, elements=st.integers(0, 1)).map(
        lambda x: _cast(x.astype(float), "int64")), awkward(shape=length))


@settings(max_examples=120, **SETTINGS)
@given(data=st.data(), length=st.integers(0, 12))
def test_rare_event_recall_and_precision_contract(data, length):
    y_true = data.draw(_flags(length))
    y_pred = data.draw(st.one_of(_flags(length), _flags(data.draw(st.integers(0, 12)))))
    for metric, reference in ((rare_event_recall, recall_score),
                              (rare_event_precision, precision_score)):
        value = outcome(lambda metric=metric: metric(y_true, y_pred), ["y_true", "y_pred"])
        if value is None:
            continue
        assert isinstance(value, float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            expected = reference(_floats(y_true).astype(int), _floats(y_pred).astype(int),
                                 zero_division=np.nan)
        assert value == pytest.approx(expected, nan_ok=True)


@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), n=st.integers(0, 10),
       coverage=st.one_of(st.floats(0.01, 0.99),
                          st.sampled_from([0.0, 1.0, 90.0, np.nan, "0.9", True])))
def test_interval_coverage_contract(data, n, coverage):
    y = data.draw(awkward(shape=n))
    lower = data.draw(values(shape=data.draw(st.sampled_from([n, n, n + 1]))))
    width = data.draw(st.sampled_from([0.0, 1.0, np.inf, -1.0]))
    with np.errstate(all="ignore"):
        intervals = np.column_stack([lower, lower + width])
    if data.draw(st.booleans()):
        intervals = _cast(intervals, data.draw(st.sampled_from(DTYPES)))
    names = ["y_true", "intervals"]
    covered = outcome(lambda: interval_coverage(y, intervals), names)
    error = outcome(lambda: coverage_error(y, intervals, coverage), names + ["coverage"])
    if covered is not None:
        bounds, y_float = _floats(intervals), _floats(y)
        expected = np.mean((bounds[:, 0] <= y_float) & (y_float <= bounds[:, 1]))
        assert covered == expected and 0 <= covered <= 1
        assert np.all(bounds[:, 0] <= bounds[:, 1]) and np.all(np.isfinite(y_float))
    if error is not None:
        assert error == pytest.approx(abs(covered - coverage))


@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), n=st.integers(0, 10), side=st.sampled_from(["lower", "upper", "both"]))
def test_var_exceedances_contract(data, n, side):
    y = data.draw(awkward(shape=n))
    var = data.draw(st.one_of(awkward(shape=data.draw(st.sampled_from([1, n, n + 2]))),
                              st.floats(allow_nan=True), st.sampled_from(["0.02", None])))
    hits = outcome(lambda: var_exceedances(y, var, side=side), ["y", "var", "side"])
    if hits is not None:
        y_float, var_float = _floats(y), _floats(var)
        expected = y_float < -var_float if side == "lower" else y_float > var_float
        assert hits.dtype.kind == "i" and hits.tolist() == expected.astype(int).tolist()


@settings(max_examples=200, **SETTINGS)
@given(exceedances=st.one_of(st.integers(0, 30).flatmap(_flags), arrays(
    np.int64, st.integers(0, 300), elements=st.integers(0, 1))), level=LEVEL)
def test_backtests_contract(exceedances, level):
    names = ["exceedances", "level"]
    pof = outcome(lambda: kupiec_pof_test(exceedances, level), names)
    ind = outcome(lambda: christoffersen_independence_test(exceedances), names)
    cc = outcome(lambda: christoffersen_conditional_coverage_test(exceedances, level), names)
    for result in (pof, ind, cc):
        if result is not None:
            assert np.isfinite(result.statistic) and result.statistic >= 0
            assert 0 <= result.p_value <= 1
    if pof is not None:
        assert 0.5 < level < 1
        e = _floats(exceedances)
        n, x, p = e.size, int(e.sum()), 1 - level
        # scipy's binomial log-likelihoods; the binomial coefficient cancels in the ratio.
        expected = -2 * (binom.logpmf(x, n, p) - binom.logpmf(x, n, x / n))
        assert pof.statistic == pytest.approx(max(expected, 0), rel=1e-9, abs=1e-9)
        assert pof.p_value == pytest.approx(chi2.sf(pof.statistic, 1), rel=1e-9)
    if ind is not None:
        e = _floats(exceedances).astype(int)
        table = np.zeros((2, 2))
        np.add.at(table, (e[:-1], e[1:]), 1)  # transitions previous -> current state
        if np.all(table.sum(axis=0) > 0) and np.all(table.sum(axis=1) > 0):
            # LR_ind is the G-test (log-likelihood ratio) of independence on that table.
            g = chi2_contingency(table, correction=False, lambda_="log-likelihood")
            assert ind.statistic == pytest.approx(g.statistic, rel=1e-9, abs=1e-9)
            assert ind.p_value == pytest.approx(g.pvalue, rel=1e-9, abs=1e-12)
    if cc is not None:
        assert cc.statistic == pytest.approx(pof.statistic + ind.statistic, abs=1e-9)


# --- scorers -----------------------------------------------------------------------------


class PresetSampler:
    """A duck-typed sampler (no fit) whose draws are preset, awkward ones included."""

    def __init__(self, draws):
        self.draws = draws

    def sample(self, n_samples):
        return np.resize(self.draws, (n_samples, 1))


@settings(max_examples=40, **SETTINGS)
@given(held_out=st.one_of(spread_values(min_size=40), values(max_size=60)),
       draws=st.one_of(spread_values(min_size=1), awkward(min_size=1, max_size=30)))
def test_scorers_contract(held_out, draws):
    for scorer in (make_tail_kl_scorer(n_draws=2), make_coverage_scorer(0.9, n_draws=2)):
        score = outcome(lambda scorer=scorer: scorer(PresetSampler(draws), held_out),
                        ["PresetSampler", "X", "held-out"])
        if score is not None:
            assert np.isfinite(score) and score <= 0
