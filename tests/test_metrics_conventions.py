"""Conventions shared by the metrics and scorers, checked against scikit-learn.

- ``zero_division`` of the rare-event recall and precision (and their scorers), against
  :func:`sklearn.metrics.recall_score` / :func:`~sklearn.metrics.precision_score`;
- ``sample_weight``: a weighted metric equals the unweighted one on rows repeated by
  integer weights, and scikit-learn's weighted recall / precision;
- one shape rule for forecasts: a number is a constant forecast, a one-element array
  beside a longer ``y`` is refused, naming the argument;
- a supervised scorer called without ``y`` raises one ``ValueError`` naming ``y``.
"""

import inspect
import re
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import get_scorer, precision_score, recall_score
from sklearn.model_selection import GridSearchCV, KFold

from skqegm.metrics import (
    acerbi_szekely_test,
    christoffersen_conditional_coverage_test,
    christoffersen_independence_test,
    coverage_error,
    diebold_mariano_test,
    fz0_loss,
    interval_coverage,
    kupiec_pof_test,
    make_coverage_scorer,
    make_fz0_scorer,
    make_pinball_scorer,
    make_rare_event_precision_scorer,
    make_rare_event_recall_scorer,
    make_tail_kl_scorer,
    neg_fz0_loss_scorer,
    neg_pinball_loss_scorer,
    rare_event_precision,
    rare_event_recall,
    rare_event_recall_scorer,
    tail_kl_divergence,
    var_exceedances,
    var_pinball_loss,
)

# --- zero_division ----------------------------------------------------------------------

# (y_true, y_pred): recall undefined, precision undefined, both defined, both undefined.
HAND_CASES = [
    ([0, 0, 0], [0, 1, 0]),
    ([0, 1, 0], [0, 0, 0]),
    ([0, 1, 1, 0, 1], [1, 1, 0, 0, 1]),
    ([0, 0], [0, 0]),
]
PAIRS = [(rare_event_recall, recall_score), (rare_event_precision, precision_score)]


def _call(function, *args, **kwargs):
    """``function(*args, **kwargs)`` and the UndefinedMetricWarnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = function(*args, **kwargs)
    return value, [w for w in caught if issubclass(w.category, UndefinedMetricWarning)]


@pytest.mark.parametrize("metric, reference", PAIRS)
@pytest.mark.parametrize("y_true, y_pred", HAND_CASES)
@pytest.mark.parametrize("zero_division", ["warn", 0.0, 1.0, 0, 1])
def test_zero_division_is_sklearns(metric, reference, y_true, y_pred, zero_division):
    value, warned = _call(metric, y_true, y_pred, zero_division=zero_division)
    expected, sklearn_warned = _call(reference, y_true, y_pred, zero_division=zero_division)
    assert value == expected
    assert bool(warned) == bool(sklearn_warned)


@pytest.mark.parametrize("metric, reference", PAIRS)
@pytest.mark.parametrize("y_true, y_pred", HAND_CASES)
def test_nan_zero_division_is_the_default_and_warns(metric, reference, y_true, y_pred):
    # The one difference from sklearn: its np.nan is silent, ours warns (and is the default).
    expected, sklearn_warned = _call(reference, y_true, y_pred, zero_division=np.nan)
    for kwargs in ({}, {"zero_division": np.nan}, {"zero_division": float("nan")}):
        value, warned = _call(metric, y_true, y_pred, **kwargs)
        assert value == pytest.approx(expected, nan_ok=True)
        assert bool(warned) == bool(np.isnan(expected))
        if warned:
            assert "Returning nan (zero_division=nan)" in str(warned[0].message)
    assert not sklearn_warned


def test_warn_says_what_it_returns():
    with pytest.warns(UndefinedMetricWarning, match=r"y_true has no rare event \(no 1\)\. "
                                                    r"Returning 0.0 \(zero_division='warn'\)"):
        assert rare_event_recall([0, 0], [1, 0], zero_division="warn") == 0.0


@pytest.mark.parametrize("zero_division", ["nan", "0", None, True, False, 0.5, -1, np.inf,
                                           [0.0]])
@pytest.mark.parametrize("build", [
    lambda zd: rare_event_recall([0, 1], [0, 1], zero_division=zd),
    lambda zd: rare_event_precision([0, 1], [0, 1], zero_division=zd),
    lambda zd: make_rare_event_recall_scorer(zero_division=zd),
    lambda zd: make_rare_event_precision_scorer(zero_division=zd),
])
def test_zero_division_refuses_other_values(build, zero_division):
    with pytest.raises(ValueError, match=r"zero_division must be one of 'warn', 0.0, 1.0 or "
                                         r"np.nan; got"):
        build(zero_division)


class FlatSampler:
    """A sampler of a constant: held-out zeros hold no rare event."""

    def sample(self, n_samples):
        return np.zeros((n_samples, 1))

    def score_samples(self, X):
        return np.zeros(len(X))


class FlagNothing:
    """A supervised tail estimator (no fit) whose predict_rare flags nothing."""

    def sample_y(self, X, n_draws):
        return np.zeros((len(X), n_draws))

    def rare_events(self, y):
        return (np.asarray(y) < -1).astype(int)

    def predict_rare(self, X):
        return np.zeros(len(X), dtype=int)

    def predict_interval(self, X, coverage):
        return np.tile([-1.0, 1.0], (len(X), 1))

    def predict_var(self, X, level):
        return np.full(len(X), 0.02)

    def predict_es(self, X, level):
        return np.full(len(X), 0.03)


@pytest.mark.parametrize("maker", [make_rare_event_recall_scorer,
                                   make_rare_event_precision_scorer])
@pytest.mark.parametrize("zero_division, expected, warns", [
    (None, np.nan, True), (np.nan, np.nan, True), ("warn", 0.0, True), (0.0, 0.0, False),
    (1.0, 1.0, False)])
def test_unsupervised_scorers_take_zero_division(maker, zero_division, expected, warns):
    kwargs = {} if zero_division is None else {"zero_division": zero_division}
    score, warned = _call(maker(**kwargs), FlatSampler(), np.zeros((6, 1)))
    assert score == pytest.approx(expected, nan_ok=True)
    assert bool(warned) == warns
    if warns:
        assert "the held-out data hold no rare event" in str(warned[0].message)


@pytest.mark.parametrize("zero_division, expected, warns", [
    (None, np.nan, True), ("warn", 0.0, True), (1.0, 1.0, False)])
def test_supervised_precision_scorer_takes_zero_division(zero_division, expected, warns):
    kwargs = {} if zero_division is None else {"zero_division": zero_division}
    y = np.array([-2.0, 0.0, 0.5, -3.0])
    score, warned = _call(make_rare_event_precision_scorer(**kwargs), FlagNothing(),
                          np.zeros((4, 1)), y)
    assert score == pytest.approx(expected, nan_ok=True)
    assert bool(warned) == warns
    if warns:
        assert "y_pred flags no rare event" in str(warned[0].message)
    # recall is defined (two true events, none flagged): 0 whatever zero_division
    recall = make_rare_event_recall_scorer(**kwargs)(FlagNothing(), np.zeros((4, 1)), y)
    assert recall == 0.0


class Alarm(BaseEstimator):
    """A supervised tail estimator that flags the rows with x > cut (nothing if cut=inf)."""

    def __init__(self, cut=0.0):
        self.cut = cut

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def sample_y(self, X, n_draws):
        return np.zeros((len(X), n_draws))

    def rare_events(self, y):
        return (np.asarray(y) > 0).astype(int)

    def predict_rare(self, X):
        return (np.asarray(X)[:, 0] > self.cut).astype(int)


def test_default_nan_ranks_the_candidate_last_and_sklearn_says_so():
    X = np.linspace(-1, 1, 40)[:, None]
    y = X[:, 0]
    search = GridSearchCV(Alarm(), {"cut": [np.inf, 0.0]},
                          cv=KFold(2, shuffle=True, random_state=0),
                          scoring=make_rare_event_precision_scorer())
    with pytest.warns(UserWarning, match="non-finite"):
        search.fit(X, y)
    assert np.isnan(search.cv_results_["mean_test_score"][0])
    assert list(search.cv_results_["rank_test_score"]) == [2, 1]
    assert search.best_params_ == {"cut": 0.0}


# --- sample_weight ----------------------------------------------------------------------

RNG = np.random.RandomState(0)
N = 12
Y = RNG.standard_normal(N) / 50
LOWER = -np.abs(RNG.standard_normal(N)) / 50
INTERVALS = np.c_[LOWER, LOWER + 0.03]
TRUE = (RNG.rand(N) < 0.4).astype(int)
PRED = (RNG.rand(N) < 0.5).astype(int)
VAR = 0.01 + RNG.rand(N) / 100
ES = VAR + RNG.rand(N) / 100

# Each metric as f(rows, **kwargs), rows the indices of the rows it scores.
WEIGHTED = {
    "interval_coverage": lambda r, **kw: interval_coverage(Y[r], INTERVALS[r], **kw),
    "coverage_error": lambda r, **kw: coverage_error(Y[r], INTERVALS[r], 0.9, **kw),
    "rare_event_recall": lambda r, **kw: rare_event_recall(TRUE[r], PRED[r], **kw),
    "rare_event_precision": lambda r, **kw: rare_event_precision(TRUE[r], PRED[r], **kw),
    "fz0_loss": lambda r, **kw: fz0_loss(Y[r], VAR[r], ES[r], 0.975, **kw),
    "var_pinball_loss": lambda r, **kw: var_pinball_loss(Y[r], VAR[r], 0.975, **kw),
}


@pytest.mark.parametrize("name", WEIGHTED)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_integer_weights_equal_repeated_rows(name, seed):
    weights = np.random.RandomState(seed).randint(0, 4, size=N)
    weights[[0, 1]] = [1, 2]  # at least one positive weight
    rows = np.arange(N)
    metric = WEIGHTED[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        weighted = metric(rows, sample_weight=weights)
        repeated = metric(np.repeat(rows, weights))
    assert weighted == pytest.approx(repeated, rel=1e-12, abs=1e-15, nan_ok=True)
    # ones are no weights; a number is every row's weight
    assert metric(rows, sample_weight=np.ones(N)) == pytest.approx(metric(rows), rel=1e-12)
    assert metric(rows, sample_weight=3.0) == pytest.approx(metric(rows), rel=1e-12)


@pytest.mark.parametrize("metric, reference", PAIRS)
@pytest.mark.parametrize("seed", range(5))
def test_weighted_recall_and_precision_are_sklearns(metric, reference, seed):
    rng = np.random.RandomState(seed)
    y_true, y_pred = rng.randint(0, 2, 30), rng.randint(0, 2, 30)
    weights = rng.exponential(size=30) * (rng.rand(30) < 0.8)
    assert metric(y_true, y_pred, sample_weight=weights) == pytest.approx(
        reference(y_true, y_pred, sample_weight=weights), rel=1e-12)


@pytest.mark.parametrize("metric, reference", PAIRS)
@pytest.mark.parametrize("zero_division", ["warn", 0.0, 1.0])
def test_rare_events_of_zero_weight_are_an_undefined_ratio_as_in_sklearn(
        metric, reference, zero_division):
    y_true, y_pred, weights = [1, 0, 0], [1, 0, 0], [0.0, 1.0, 1.0]
    value, warned = _call(metric, y_true, y_pred, sample_weight=weights,
                          zero_division=zero_division)
    expected, sklearn_warned = _call(reference, y_true, y_pred, sample_weight=weights,
                                     zero_division=zero_division)
    assert value == expected
    assert bool(warned) == bool(sklearn_warned)
    if warned:
        assert "of positive weight" in str(warned[0].message)


@pytest.mark.parametrize("name", WEIGHTED)
@pytest.mark.parametrize("weights, match", [
    (-np.ones(N), "sample_weight must be >= 0 with at least one weight > 0"),
    (np.zeros(N), "sample_weight must be >= 0 with at least one weight > 0"),
    (np.r_[np.nan, np.ones(N - 1)], "sample_weight contains NaN"),
    (np.r_[np.inf, np.ones(N - 1)], "sample_weight contains infinity"),
    (np.ones(N - 1), rf"sample_weight must be a number or have the shape of y(_true)? "
                     rf"\({N},\); got \({N - 1},\)"),
    (np.ones((N, 1)), r"sample_weight must be a number or have the shape"),
    (np.array(["1"] * N), "sample_weight must hold real numbers"),
])
def test_sample_weight_is_validated_as_in_sklearn(name, weights, match):
    with pytest.raises(ValueError, match=match):
        WEIGHTED[name](np.arange(N), sample_weight=weights)


@pytest.mark.parametrize("metric", [kupiec_pof_test, christoffersen_independence_test,
                                    christoffersen_conditional_coverage_test,
                                    acerbi_szekely_test, diebold_mariano_test,
                                    tail_kl_divergence])
def test_backtests_and_tail_kl_take_no_weights_and_say_why(metric):
    assert "sample_weight" not in inspect.signature(metric).parameters
    assert "No ``sample_weight``:" in metric.__doc__


# --- one shape rule for forecasts -------------------------------------------------------

Y4 = np.array([0.01, -0.03, -0.01, 0.04])
DRAWS = np.random.RandomState(0).standard_normal((4, 50)) / 50

# f(var, es) for every metric that takes VaR (and ES) forecasts beside y.
FORECAST_METRICS = {
    "var_exceedances": lambda var, es: var_exceedances(Y4, var),
    "fz0_loss": lambda var, es: fz0_loss(Y4, var, es, 0.975),
    "var_pinball_loss": lambda var, es: var_pinball_loss(Y4, var, 0.975),
    "acerbi_szekely_test": lambda var, es: acerbi_szekely_test(
        Y4, var, es, 0.975, DRAWS, n_simulations=20, random_state=0),
}


@pytest.mark.parametrize("name", FORECAST_METRICS)
@pytest.mark.parametrize("scalar", [0.02, np.float64(0.02), np.array(0.02), 2e-2])
def test_a_number_is_a_constant_forecast_everywhere(name, scalar):
    metric = FORECAST_METRICS[name]
    np.testing.assert_equal(metric(scalar, 0.03), metric(np.full(4, 0.02), np.full(4, 0.03)))


@pytest.mark.parametrize("name, argument", [(name, "var") for name in FORECAST_METRICS]
                         + [("fz0_loss", "es"), ("acerbi_szekely_test", "es")])
@pytest.mark.parametrize("one", [[0.02], np.array([[0.02]])])
def test_a_one_element_forecast_beside_a_longer_y_is_refused_everywhere(name, argument, one):
    value = np.asarray(one) * (1.5 if argument == "es" else 1.0)
    forecasts = {"var": 0.02, "es": 0.03, argument: value}
    # the message gives the shape passed: (1, 1) was reported as (1,)
    got = re.escape(str(value.shape))
    with pytest.raises(ValueError, match=rf"^{argument} must be a number or have the shape "
                                         rf"of y \(4,\) \(or \(4, 1\)\); got {got}\.$"):
        FORECAST_METRICS[name](forecasts["var"], forecasts["es"])


@pytest.mark.parametrize("name, argument", [(name, "var") for name in FORECAST_METRICS]
                         + [("fz0_loss", "es"), ("acerbi_szekely_test", "es")])
@pytest.mark.parametrize("flags", [True, np.True_, [True, False, True, True],
                                   np.ones(4, dtype=bool)])
def test_boolean_forecasts_are_refused_everywhere(name, argument, flags):
    # A flag array passed where a forecast goes was read as VaR (or ES) 1.0 and 0.0.
    forecasts = {"var": 0.02, "es": 0.03, argument: flags}
    with pytest.raises(ValueError, match=rf"^{argument} must hold forecasts \(real numbers\); "
                                         r"got booleans\.$"):
        FORECAST_METRICS[name](forecasts["var"], forecasts["es"])


def test_one_element_forecasts_are_fine_beside_one_observation():
    assert var_exceedances([-0.03], [0.02]).tolist() == [1]
    assert fz0_loss([-0.03], [0.02], [[0.03]], 0.975) == fz0_loss([-0.03], 0.02, 0.03, 0.975)


# --- a supervised scorer without y ------------------------------------------------------

SUPERVISED_SCORERS = [
    make_tail_kl_scorer(), make_rare_event_recall_scorer(), make_rare_event_precision_scorer(),
    rare_event_recall_scorer, make_coverage_scorer(0.9), make_fz0_scorer(),
    make_pinball_scorer(), neg_fz0_loss_scorer, neg_pinball_loss_scorer,
]


@pytest.mark.parametrize("scorer", SUPERVISED_SCORERS, ids=lambda s: s.__name__)
@pytest.mark.parametrize("pass_none", [True, False])
def test_every_supervised_scorer_refuses_a_missing_y_alike(scorer, pass_none):
    args = (FlagNothing(), np.zeros((4, 1))) + ((None,) if pass_none else ())
    with pytest.raises(ValueError, match=r"^\S+ needs the held-out y to score .*; got "
                                         r"y=None\.$") as caught:
        scorer(*args)
    assert type(caught.value) is ValueError


def test_sklearn_raises_a_value_error_too():
    # What is mirrored: sklearn's supervised scorers refuse y=None with a ValueError
    # (InvalidParameterError, a subclass).
    model = LinearRegression().fit(np.arange(4.0)[:, None], np.arange(4.0))
    with pytest.raises(ValueError, match="y_true"):
        get_scorer("neg_mean_absolute_error")(model, np.arange(4.0)[:, None], None)


@pytest.mark.parametrize("name", WEIGHTED)
@pytest.mark.parametrize("scale", [1e307, 1e-300, 1e-320])
def test_weights_of_any_magnitude_are_the_same_weights(name, scale):
    # Only the ratios of the weights matter: weights near the float range's limits
    # overflowed their sum (1e307: pinball loss 0.0, coverage NaN) or lost their
    # precision (1e-320, a subnormal number).
    weights = np.random.RandomState(0).randint(1, 4, size=N)
    rows = np.arange(N)
    metric = WEIGHTED[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        expected = metric(rows, sample_weight=weights)
        assert metric(rows, sample_weight=weights * scale) == pytest.approx(
            expected, rel=1e-12, nan_ok=True)
        assert metric(rows, sample_weight=scale) == pytest.approx(metric(rows), rel=1e-12,
                                                                  nan_ok=True)
