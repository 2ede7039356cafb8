import math

import numpy as np
import pytest
from scipy.stats import chi2

from skqegm.metrics import (
    BacktestResult,
    christoffersen_conditional_coverage_test,
    christoffersen_independence_test,
    kupiec_pof_test,
    var_exceedances,
)


def _kupiec_by_hand(n, x, p):
    phat = x / n
    null = (n - x) * math.log(1 - p) + x * math.log(p)
    alt = (n - x) * math.log(1 - phat) + x * math.log(phat)
    return -2 * (null - alt)


# --- exceedances ------------------------------------------------------------------------


def test_var_exceedances_sign_convention():
    y = np.array([-0.05, -0.02, -0.01, 0.0, 0.03])
    assert var_exceedances(y, 0.015).tolist() == [1, 1, 0, 0, 0]
    assert var_exceedances(y, 0.02).tolist() == [1, 0, 0, 0, 0]  # strict: y == -var is no breach
    assert var_exceedances(y, 0.02, side="upper").tolist() == [0, 0, 0, 0, 1]
    per_day = np.array([0.06, 0.01, 0.001, 0.01, 0.01])
    assert var_exceedances(y, per_day).tolist() == [0, 1, 1, 0, 0]
    assert var_exceedances(y, 0.015).dtype.kind == "i"


@pytest.mark.parametrize("side, rule", [("lower", "y < -var"), ("upper", "y > var")])
def test_var_exceedances_warns_on_a_quantile_passed_as_var(side, rule):
    with pytest.warns(UserWarning, match=rf"side='{side}': exceedance when {rule}\). Did you "
                                         "pass a return quantile"):
        var_exceedances([0.01, -0.02], -0.015, side=side)


@pytest.mark.parametrize(
    "y, var, kwargs, match",
    [
        ([0.0, 1.0], [0.1, 0.2, 0.3], {}, "var must be a number or have the shape of y"),
        ([0.0, np.nan], 0.1, {}, "y contains NaN"),
        ([0.0, 1.0], np.nan, {}, "var contains NaN"),
        ([0.0, 1.0], np.inf, {}, "var contains infinity"),
        ([[0.0, 1.0]], 0.1, {}, r"y must be 1-D or a single column of "
                                r"shape \(n_samples, 1\); got shape \(1, 2\)"),
        ([], 0.1, {}, r"y must be a non-empty 1-D array; got shape \(0,\)"),
        (["0.01", "0.02"], 0.1, {}, "y must hold real numbers"),
        ([0.0, 1.0], "0.1", {}, "var must hold real numbers"),
        ([0.0, 1.0], [[0.1, 0.2]], {}, r"var must be a number or have the shape of y \(2,\)"),
        ([0.0, 1.0], 0.1, dict(side="both"), "side must be one of 'lower', 'upper'"),
    ],
)
def test_var_exceedances_errors(y, var, kwargs, match):
    with pytest.raises(ValueError, match=match):
        var_exceedances(y, var, **kwargs)


# --- Kupiec -----------------------------------------------------------------------------


@pytest.mark.parametrize("n, x, level", [(250, 7, 0.99), (1000, 38, 0.95), (500, 1, 0.99)])
def test_kupiec_matches_hand_computation(n, x, level):
    e = np.zeros(n, dtype=int)
    e[:x] = 1
    stat, p_value = kupiec_pof_test(e, level)
    assert stat == pytest.approx(_kupiec_by_hand(n, x, 1 - level))
    assert p_value == pytest.approx(chi2.sf(stat, 1))


def test_kupiec_250_days_7_exceedances_at_99():
    # 7 breaches in 250 days of a 99% VaR (2.5 expected), worked out on paper:
    # -2 [243 ln 0.99 + 7 ln 0.01 - 243 ln 0.972 - 7 ln 0.028] = 5.4970.
    stat, p_value = kupiec_pof_test([1] * 7 + [0] * 243, 0.99)
    assert stat == pytest.approx(5.4970, abs=1e-4)
    assert p_value == pytest.approx(0.01905, abs=1e-5)


def test_kupiec_edge_cases_have_no_nan():
    n, p = 100, 0.05
    stat, p_value = kupiec_pof_test(np.zeros(n), 0.95)
    assert stat == pytest.approx(-2 * n * math.log(1 - p))
    assert p_value == pytest.approx(chi2.sf(stat, 1))
    stat, _ = kupiec_pof_test(np.ones(n), 0.95)
    assert stat == pytest.approx(-2 * n * math.log(p))
    assert kupiec_pof_test([0] * 95 + [1] * 5, 0.95) == (0.0, 1.0)


def test_kupiec_rarely_rejects_a_correct_var():
    rng = np.random.RandomState(0)
    p_values = [kupiec_pof_test(rng.rand(1000) < 0.01, 0.99).p_value for _ in range(200)]
    assert 0.02 < np.mean(np.array(p_values) < 0.05) < 0.1
    assert kupiec_pof_test(rng.rand(1000) < 0.03, 0.99).p_value < 1e-4


# --- Christoffersen ---------------------------------------------------------------------


def _independence_by_hand(n00, n01, n10, n11):
    pi01, pi11 = n01 / (n00 + n01), n11 / (n10 + n11)
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    null = (n00 + n10) * math.log(1 - pi) + (n01 + n11) * math.log(pi)
    alt = (n00 * math.log(1 - pi01) + n01 * math.log(pi01)
           + n10 * math.log(1 - pi11) + n11 * math.log(pi11))
    return -2 * (null - alt)


def test_independence_matches_hand_computation():
    e = [0, 0, 0, 0, 1, 1, 1, 0, 0, 0]  # n00=5, n01=1, n10=1, n11=2
    stat, p_value = christoffersen_independence_test(e)
    assert stat == pytest.approx(_independence_by_hand(5, 1, 1, 2))
    assert stat == pytest.approx(2.2314, abs=1e-4)  # worked out on paper
    assert p_value == pytest.approx(chi2.sf(stat, 1))


def test_independence_is_zero_when_transitions_match_the_rate():
    e = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0]  # pi01 = pi11 = pi = 1/3
    stat, p_value = christoffersen_independence_test(e)
    assert stat == 0.0 and p_value == 1.0


def test_independence_without_11_transitions():
    e = [1, 0, 0, 0, 1, 0, 0, 0]  # n00=4, n01=1, n10=2, n11=0
    pi01, pi = 1 / 5, 1 / 7
    null = 6 * math.log(1 - pi) + 1 * math.log(pi)
    alt = 4 * math.log(1 - pi01) + 1 * math.log(pi01) + 2 * math.log(1.0)
    stat, _ = christoffersen_independence_test(e)
    assert stat == pytest.approx(-2 * (null - alt))
    assert stat == pytest.approx(0.7376, abs=1e-4)  # worked out on paper


@pytest.mark.parametrize("e", [[0] * 10, [1] * 10, [0, 0, 0, 1], [1, 0]])
def test_independence_edge_cases_are_finite(e):
    stat, p_value = christoffersen_independence_test(e)
    assert np.isfinite(stat) and np.isfinite(p_value)
    assert stat == pytest.approx(0.0, abs=1e-12) and p_value == pytest.approx(1.0)


def test_independence_detects_clustering():
    e = np.zeros(1000, dtype=int)
    e[500:510] = 1
    assert christoffersen_independence_test(e).p_value < 1e-6


def test_conditional_coverage_is_the_sum_with_two_dof():
    e = np.zeros(300, dtype=int)
    e[[10, 11, 12, 150, 220, 221]] = 1
    pof = kupiec_pof_test(e, 0.99).statistic
    ind = christoffersen_independence_test(e).statistic
    stat, p_value = christoffersen_conditional_coverage_test(e, 0.99)
    assert stat == pytest.approx(pof + ind)
    assert p_value == pytest.approx(chi2.sf(pof + ind, 2))
    assert christoffersen_conditional_coverage_test(np.zeros(20), 0.95).statistic == (
        pytest.approx(-2 * 20 * math.log(0.95)))


def test_results_are_named_tuples_of_floats():
    result = christoffersen_conditional_coverage_test([0, 1, 0, 0], 0.9)
    assert isinstance(result, BacktestResult)
    stat, p_value = result
    assert (stat, p_value) == (result.statistic, result.p_value)
    assert type(stat) is float and type(p_value) is float


@pytest.mark.parametrize(
    "func, args, match",
    [
        (kupiec_pof_test, ([0, 1], 1.0), r"level is the VaR confidence level, in \(0.5, 1\)"),
        (kupiec_pof_test, ([0, 1], 99), "A percentage of 99.0 is a confidence level of 0.99"),
        (kupiec_pof_test, ([0, 1], -0.5), r"in \(0.5, 1\).*got -0.5\.$"),
        (kupiec_pof_test, ([0, 1], "0.99"), "level must be a finite real number"),
        (kupiec_pof_test, ([0, 1], np.nan), "level must be a finite real number"),
        (kupiec_pof_test, ([], 0.99), "exceedances must be a non-empty 1-D array"),
        (kupiec_pof_test, ([0, 2], 0.99), "only 0 and 1"),
        (kupiec_pof_test, (["0", "1"], 0.99), "exceedances must hold real numbers"),
        (kupiec_pof_test, ([0, 0.5], 0.99), r"1 = VaR exceeded\); got values \[0.0, 0.5\]"),
        (christoffersen_independence_test, ([1],),
         r"^exceedances must be a 1-D array of at least 2 values; got shape \(1,\)\.$"),
        (christoffersen_independence_test, ([[0, 1]],), "1-D"),
        (christoffersen_conditional_coverage_test, ([0, np.nan], 0.99), "NaN"),
        (christoffersen_conditional_coverage_test, ([0, 1], 0.05),
         "A tail probability of 0.05 is a confidence level of 0.95"),
    ],
)
def test_backtest_errors(func, args, match):
    with pytest.raises(ValueError, match=match):
        func(*args)


@pytest.mark.parametrize("level", [0.01, 0.05, 0.1, 0.5])
@pytest.mark.parametrize("func", [kupiec_pof_test, christoffersen_conditional_coverage_test])
def test_tail_probabilities_are_refused_as_levels(func, level):
    # level=0.5 was accepted: a "50% VaR" is the median, almost surely a tail probability.
    with pytest.raises(ValueError, match=r"level is the VaR confidence level, in \(0.5, 1\)"
                                         ".* tail probability 1 - level"):
        func([0, 1, 0, 0], level)


def test_boolean_and_float_flags_are_the_same_as_integers():
    e = np.zeros(300, dtype=int)
    e[[10, 11, 12, 150]] = 1
    for flags in (e.astype(bool), e.astype(float), e.astype(np.float32)):
        assert kupiec_pof_test(flags, 0.99) == kupiec_pof_test(e, 0.99)
        assert christoffersen_independence_test(flags) == christoffersen_independence_test(e)
    assert kupiec_pof_test([1], 0.99).statistic == pytest.approx(-2 * math.log(0.01))


def test_var_exceedances_of_single_values_and_integer_inputs():
    assert var_exceedances([-3], 2).tolist() == [1]
    assert var_exceedances(np.array([-3, 1], dtype=np.int8), np.array([2, 2])).tolist() == [1, 0]
    assert var_exceedances([0.0], [0.01]).tolist() == [0]
