"""FZ0 and pinball losses, the Acerbi-Szekely and Diebold-Mariano tests, and their scorers,
checked against hand computations, scipy, statsmodels and arch."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.exceptions import NotFittedError
from sklearn.metrics import mean_pinball_loss
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_validate
from statsmodels.stats.sandwich_covariance import weights_uniform

from skqegm import TailRiskEstimator
from skqegm.baselines import EWMARiskEstimator, HistoricalSimulation
from skqegm.metrics import (
    RISK_SCORERS,
    AcerbiSzekelyResult,
    DieboldMarianoResult,
    acerbi_szekely_test,
    diebold_mariano_test,
    fz0_loss,
    make_fz0_scorer,
    make_pinball_scorer,
    neg_fz0_loss_scorer,
    neg_pinball_loss_scorer,
    var_pinball_loss,
)
from skqegm.metrics.forecast_comparison import long_run_variance
from skqegm.models import FilteredRiskEstimator
from skqegm.pipeline import make_pipeline


def _normal_var_es(level, scale=1.0):
    alpha = 1 - level
    q = stats.norm.ppf(alpha)
    return -scale * q, scale * stats.norm.pdf(q) / alpha


# --- FZ0 ----------------------------------------------------------------------------------


def _fz0_by_hand(y, v, e, alpha):
    """Patton, Ziegel and Chen (2019), eq. (11), for return quantile v and tail mean e."""
    return [(-1 / (alpha * ei)) * (yi <= vi) * (vi - yi) + vi / ei + np.log(-ei) - 1
            for yi, vi, ei in zip(y, v, e)]


def test_fz0_matches_the_formula_of_patton_ziegel_chen():
    y = np.array([0.01, -0.025, -0.05, 0.0, -0.02])
    var = np.array([0.02, 0.02, 0.03, 0.01, 0.02])
    es = np.array([0.03, 0.025, 0.04, 0.015, 0.02])
    expected = _fz0_by_hand(y, -var, -es, 0.025)
    np.testing.assert_allclose(fz0_loss(y, var, es, 0.975, reduce=False), expected, rtol=1e-13)
    assert fz0_loss(y, var, es, 0.975) == pytest.approx(np.mean(expected), rel=1e-13)
    # y == -var is a hit, with a zero shortfall: the loss is continuous there
    assert fz0_loss([-0.02], 0.02, 0.03, 0.975) == pytest.approx(
        fz0_loss([-0.02 + 1e-15], 0.02, 0.03, 0.975))


def test_fz0_weights_side_and_broadcasting():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(50)
    var, es = _normal_var_es(0.975)
    weights = rng.uniform(0.5, 2, 50)
    per_row = fz0_loss(y, var, es, 0.975, reduce=False)
    assert fz0_loss(y, var, es, 0.975, sample_weight=weights) == pytest.approx(
        np.average(per_row, weights=weights))
    np.testing.assert_array_equal(per_row, fz0_loss(y, np.full(50, var), np.full(50, es),
                                                    0.975, reduce=False))
    # side="upper" is the lower tail of -y
    np.testing.assert_allclose(fz0_loss(-y, var, es, 0.975, side="upper", reduce=False),
                               per_row)


def test_fz0_is_minimised_in_expectation_by_the_true_var_and_es():
    """Strict consistency: perturbing the true pair (t_5, 97.5%) raises the mean loss."""
    level, df = 0.975, 5
    y = stats.t.rvs(df, size=400_000, random_state=np.random.default_rng(1))
    q = stats.t.ppf(1 - level, df)
    true_var = -q
    true_es = stats.t.pdf(q, df) * (df + q * q) / ((df - 1) * (1 - level))
    best = fz0_loss(y, true_var, true_es, level)
    for dv in (0.85, 1.0, 1.15):
        for de in (0.85, 1.0, 1.15):
            if dv == de == 1.0 or de * true_es < dv * true_var:
                continue
            assert fz0_loss(y, dv * true_var, de * true_es, level) > best + 1e-3, (dv, de)


def test_fz0_loss_differences_do_not_depend_on_units():
    rng = np.random.default_rng(2)
    y = rng.standard_normal(200)
    a = fz0_loss(y, 2.0, 2.4, 0.975, reduce=False) - fz0_loss(y, 1.8, 2.5, 0.975, reduce=False)
    b = (fz0_loss(100 * y, 200.0, 240.0, 0.975, reduce=False)
         - fz0_loss(100 * y, 180.0, 250.0, 0.975, reduce=False))
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(es=0.01), "es must be beyond the VaR"),
    (dict(es=-0.03), "es must be > 0"),
    (dict(es=[0.03, np.nan]), "es contains NaN"),
    (dict(var=[0.02, 0.02, 0.02]), r"var must be a number or have the shape of y \(2,\)"),
    (dict(level=0.025), "tail probability of 0.025 is a confidence level of 0.975"),
    (dict(side="both"), "side must be one of"),
    (dict(reduce=False, sample_weight=[1, 1]), "sample_weight weights the mean"),
    (dict(reduce="none"), "reduce must be True or False"),
    (dict(sample_weight=[1, 2, 3]), "sample_weight must be a number or have the shape"),
    # np.average raised ZeroDivisionError; negative weights gave a "mean" of nothing
    (dict(sample_weight=[0, 0]), "sample_weight must be >= 0 with at least one"),
    (dict(sample_weight=[-1, 2]), "sample_weight must be >= 0 with at least one"),
])
def test_fz0_errors(kwargs, match):
    args = dict(y=[0.01, -0.03], var=0.02, es=0.03, level=0.975) | kwargs
    with pytest.raises(ValueError, match=match):
        fz0_loss(**args)


@pytest.mark.parametrize("weights", [[0, 0], [-1, 2], [1, -1]])
def test_pinball_refuses_weights_that_do_not_make_a_mean(weights):
    with pytest.raises(ValueError, match="sample_weight must be >= 0 with at least one"):
        var_pinball_loss([0.01, -0.03], 0.02, 0.975, sample_weight=weights)


def test_fz0_refuses_several_columns_and_takes_one():
    y = np.array([0.01, -0.05])
    with pytest.raises(ValueError, match=r"y must be 1-D or a single column .* got shape "
                                         r"\(2, 2\). It has 2 columns"):
        fz0_loss(np.column_stack([y, y]), 0.02, 0.03, 0.975)
    assert fz0_loss(y[:, None], 0.02, 0.03, 0.975) == fz0_loss(y, 0.02, 0.03, 0.975)


def test_sample_weight_stays_1d_as_in_sklearn():
    # scikit-learn reads a one-column y as 1-D but refuses a one-column sample_weight.
    with pytest.raises(ValueError, match=r"sample_weight must be a number or have the shape "
                                         r"of y \(2,\); got \(2, 1\)"):
        var_pinball_loss([0.01, -0.05], 0.02, 0.975, sample_weight=[[1.0], [2.0]])


# --- pinball ------------------------------------------------------------------------------


def test_pinball_is_sklearns_loss_of_the_quantile_the_var_stands_for():
    rng = np.random.default_rng(3)
    y, var = rng.standard_normal(100), rng.uniform(1.5, 2.5, 100)
    assert var_pinball_loss(y, var, 0.99) == pytest.approx(
        mean_pinball_loss(y, -var, alpha=0.01), rel=1e-14)
    assert var_pinball_loss(y, var, 0.99, side="upper") == pytest.approx(
        mean_pinball_loss(y, var, alpha=0.99), rel=1e-14)
    rows = var_pinball_loss(y, var, 0.99, reduce=False)
    by_hand = np.maximum(0.01 * (y + var), -0.99 * (y + var))
    np.testing.assert_allclose(rows, by_hand, rtol=1e-12)
    assert rows.mean() == pytest.approx(var_pinball_loss(y, var, 0.99))
    weights = rng.uniform(0, 1, 100)
    assert var_pinball_loss(y, var, 0.99, sample_weight=weights) == pytest.approx(
        np.average(rows, weights=weights))


def test_pinball_errors():
    with pytest.raises(ValueError, match="var contains NaN"):
        var_pinball_loss([0.0, 1.0], [np.nan, 1.0], 0.99)
    with pytest.raises(ValueError, match="sample_weight weights the mean"):
        var_pinball_loss([0.0, 1.0], 1.0, 0.99, reduce=False, sample_weight=[1, 1])
    with pytest.raises(ValueError, match="level is the VaR confidence level"):
        var_pinball_loss([0.0, 1.0], 1.0, 1.5)


# --- Acerbi-Szekely -----------------------------------------------------------------------


def test_acerbi_szekely_z2_by_hand():
    y = np.array([-3.0, 1.0, -1.0, 0.5])
    # one exceedance (y < -2): Z2 = -3 / 2.5 / (4 * 0.25) + 1 = -0.2
    zeros = np.zeros((4, 10))  # draws at 0: every simulated Z2 is 1 > -0.2
    result = acerbi_szekely_test(y, 2.0, 2.5, 0.75, zeros, n_simulations=99, random_state=0)
    assert isinstance(result, AcerbiSzekelyResult)
    assert result.statistic == pytest.approx(-0.2)
    assert result.p_value == pytest.approx(1 / 100)
    # y == -var is no exceedance (strict, as in var_exceedances)
    assert acerbi_szekely_test([-2.0, 1.0], 2.0, 2.5, 0.75, np.zeros((2, 2)),
                               random_state=0).statistic == 1.0
    stat_upper = acerbi_szekely_test(-y, 2.0, 2.5, 0.75, -zeros, side="upper",
                                     n_simulations=99, random_state=0)
    assert stat_upper == result


def test_acerbi_szekely_draws_and_callable_agree_and_are_seeded():
    rng = np.random.default_rng(4)
    y = rng.standard_normal(300)
    var, es = _normal_var_es(0.975)

    def predictive(n, seed):
        return np.random.default_rng(seed).standard_normal((300, n))

    first = acerbi_szekely_test(y, var, es, 0.975, predictive, random_state=7)
    assert first == acerbi_szekely_test(y, var, es, 0.975, predictive, random_state=7)
    draws = acerbi_szekely_test(y, var, es, 0.975, rng.standard_normal((300, 500)),
                                random_state=7)
    assert draws.statistic == first.statistic
    assert abs(draws.p_value - first.p_value) < 0.08


def test_acerbi_szekely_reproduces_the_published_5_percent_threshold():
    # Acerbi and Szekely (2014), Table 2: with T = 250 days and alpha = 2.5%, Z2 = -0.70 is
    # the 5% significance threshold of a normal model (-0.82 for Student's t(3)). Ten
    # exceedances summing to -10.625 ES give Z2 = -10.625 / (250 * 0.025) + 1 = -0.70.
    var, es = _normal_var_es(0.975)
    y = np.full(250, 0.5)
    y[::25] = -10.625 * es / 10
    assert y[0] < -var
    result = acerbi_szekely_test(
        y, var, es, 0.975, lambda n, seed: np.random.default_rng(seed).standard_normal((250, n)),
        n_simulations=20_000, random_state=0)
    assert result.statistic == pytest.approx(-0.70)
    assert result.p_value == pytest.approx(0.05, abs=0.005)


@pytest.mark.slow
def test_acerbi_szekely_size_and_power():
    """Under the right model the p-values are uniform; a too-narrow model is rejected."""
    level, df, n_days = 0.975, 4, 250
    scale = np.sqrt((df - 2) / df)
    q = stats.t.ppf(1 - level, df)
    var = -scale * q
    es = scale * stats.t.pdf(q, df) * (df + q * q) / ((df - 1) * (1 - level))

    def model(factor):
        def predictive(n, seed):
            return factor * scale * np.random.default_rng(seed).standard_t(df, (n_days, n))
        return predictive

    rng = np.random.default_rng(5)
    null, narrow = [], []
    for i in range(300):
        y = scale * rng.standard_t(df, n_days)
        null.append(acerbi_szekely_test(y, var, es, level, model(1.0), n_simulations=400,
                                        random_state=i).p_value)
        if i < 100:
            narrow.append(acerbi_szekely_test(y, 0.7 * var, 0.7 * es, level, model(0.7),
                                              n_simulations=400, random_state=i).p_value)
    null = np.array(null)
    # 300 p-values: 5% rejections within binomial noise, and a uniform law
    assert 0.02 <= np.mean(null < 0.05) <= 0.09
    assert stats.kstest(null, "uniform").pvalue > 0.001
    assert np.mean(np.array(narrow) < 0.05) > 0.8


@pytest.mark.parametrize("predictive, match", [
    (np.zeros((3, 10)), r"predictive must be a callable or an array of draws of shape"),
    (np.zeros((4, 1)), r"n_draws >= 2"),
    (np.full((4, 5), np.nan), "predictive contains NaN"),
    (lambda n, seed: np.zeros((n, 4)), r"must return an array of shape \(n_days, "),
])
def test_acerbi_szekely_errors(predictive, match):
    with pytest.raises(ValueError, match=match):
        acerbi_szekely_test([0.0, 1.0, -3.0, 0.5], 2.0, 2.5, 0.75, predictive,
                            n_simulations=5, random_state=0)


def test_acerbi_szekely_parameter_errors():
    draws = np.zeros((2, 3))
    with pytest.raises(ValueError, match="n_simulations must be >= 1"):
        acerbi_szekely_test([0.0, 1.0], 2.0, 2.5, 0.75, draws, n_simulations=0)
    with pytest.raises(ValueError, match="es must be beyond the VaR"):
        acerbi_szekely_test([0.0, 1.0], 2.0, 1.5, 0.75, draws)


# --- Diebold-Mariano ----------------------------------------------------------------------


def _ma1_differential(n, seed, mean=0.0):
    e = np.random.default_rng(seed).standard_normal(n + 1)
    return e[1:] + 0.6 * e[:-1] + mean


def test_dm_one_step_is_the_one_sample_t_test():
    """h = 1 with the HLN correction: DM * sqrt((T - 1) / T) is the t statistic of d."""
    d = _ma1_differential(60, 0, mean=0.3)
    result = diebold_mariano_test(d, np.zeros(60))
    assert isinstance(result, DieboldMarianoResult)
    reference = stats.ttest_1samp(d, 0.0)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    for alternative in ("less", "greater"):
        ours = diebold_mariano_test(d + 1, np.ones(60), alternative=alternative)
        theirs = stats.ttest_1samp(d, 0.0, alternative=alternative)
        assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-10)


@pytest.mark.parametrize("lag", [1, 2, 4])
@pytest.mark.parametrize("kernel, weights", [("bartlett", None), ("truncated", weights_uniform)])
def test_dm_matches_statsmodels_hac(lag, kernel, weights):
    """Without the correction, DM is the HAC t-value of a regression of d on a constant."""
    d = _ma1_differential(120, 1, mean=0.1)
    cov = {"maxlags": lag, "use_correction": False}
    if weights is not None:
        cov["kernel"] = weights
    reference = sm.OLS(d, np.ones_like(d)).fit(cov_type="HAC", cov_kwds=cov)
    ours = diebold_mariano_test(d, np.zeros_like(d), lag=lag, kernel=kernel,
                                small_sample=False)
    assert ours.statistic == pytest.approx(reference.tvalues[0], rel=1e-10)
    assert ours.p_value == pytest.approx(reference.pvalues[0], rel=1e-8)


def test_dm_long_run_variance_matches_arch():
    from arch.covariance.kernel import Bartlett

    d = _ma1_differential(200, 2)
    for lag in (1, 3, 7):
        reference = Bartlett(d, bandwidth=lag).cov.long_run[0, 0]
        assert long_run_variance(d, lag, "bartlett") == pytest.approx(reference, rel=1e-10)


def test_dm_hln_correction_by_hand():
    d = _ma1_differential(40, 3, mean=0.2)
    n, h = 40, 2
    centred = d - d.mean()
    gamma0, gamma1 = centred @ centred / n, centred[1:] @ centred[:-1] / n
    dm = d.mean() / np.sqrt((gamma0 + 2 * gamma1) / n)
    corrected = dm * np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    result = diebold_mariano_test(d, np.zeros(n), h=h)
    assert result.statistic == pytest.approx(corrected, rel=1e-12)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(corrected), n - 1), rel=1e-10)
    plain = diebold_mariano_test(d, np.zeros(n), h=h, small_sample=False)
    assert plain.statistic == pytest.approx(dm, rel=1e-12)
    assert plain.p_value == pytest.approx(2 * stats.norm.sf(abs(dm)), rel=1e-10)


def test_dm_hln_correction_brings_the_size_closer_to_nominal():
    """Equal accuracy, MA(1) differentials (h = 2), T = 32: the original test over-rejects
    (measured 8.3% at 5% over 2,000 samples), the corrected one much less (6.5%)."""
    rng = np.random.default_rng(0)
    rejections = {True: 0, False: 0}
    for _ in range(1000):
        e = rng.standard_normal(33)
        d = e[1:] + e[:-1]
        for small_sample in (True, False):
            p = diebold_mariano_test(d, np.zeros(32), h=2, small_sample=small_sample).p_value
            rejections[small_sample] += p < 0.05
    assert rejections[True] < rejections[False]
    assert 30 <= rejections[True] <= 90


def test_dm_on_fz0_losses_prefers_the_true_model():
    rng = np.random.default_rng(6)
    sigma = np.exp(0.5 * np.sin(np.arange(1000) / 40))
    y = sigma * rng.standard_normal(1000)
    var, es = _normal_var_es(0.975)
    true = fz0_loss(y, var * sigma, es * sigma, 0.975, reduce=False)
    flat = fz0_loss(y, var * sigma.mean(), es * sigma.mean(), 0.975, reduce=False)
    result = diebold_mariano_test(true, flat, alternative="less")
    assert result.statistic < 0 and result.p_value < 0.05


@pytest.mark.parametrize("kwargs, match", [
    (dict(loss_b=np.zeros(5)), "same length"),
    (dict(loss_a=np.ones(6), loss_b=np.zeros(6)), "constant"),
    (dict(h=0), "h must be >= 1"),
    (dict(h=6), "h must be <= 5"),
    (dict(lag=-1), "lag must be >= 0"),
    (dict(kernel="parzen"), "kernel must be one of"),
    (dict(alternative="two_sided"), "alternative must be one of"),
    (dict(small_sample="yes"), "small_sample must be True or False"),
    (dict(loss_a=[np.inf] * 6), "loss_a contains infinity"),
])
def test_dm_errors(kwargs, match):
    args = dict(loss_a=[1.0, 2.0, 0.5, 1.5, 3.0, 0.2], loss_b=np.zeros(6)) | kwargs
    with pytest.raises(ValueError, match=match):
        diebold_mariano_test(**args)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
@pytest.mark.parametrize("h, kernel", [(1, "truncated"), (3, "bartlett")])
def test_dm_does_not_depend_on_the_units_of_the_losses(scale, h, kernel):
    # The variance of d overflowed for losses of 1e200 (DM = 0, p = 1, silently) and
    # underflowed for losses of 1e-200 (refused, suggesting the Bartlett kernel).
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(40) + 0.4, rng.standard_normal(40)
    expected = diebold_mariano_test(a, b, h=h, kernel=kernel)
    result = diebold_mariano_test(a * scale, b * scale, h=h, kernel=kernel)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.p_value, rel=1e-12)
    assert abs(expected.statistic) > 1


def test_dm_negative_truncated_variance_names_the_fix():
    d = np.array([1.0, -1.0] * 10)  # strongly negative first autocovariance
    with pytest.raises(ValueError, match="use kernel='bartlett'"):
        diebold_mariano_test(d, np.zeros(20), h=2)
    assert np.isfinite(diebold_mariano_test(d, np.zeros(20), h=2, kernel="bartlett").statistic)


@pytest.mark.parametrize("n", [5, 47, 200])
def test_dm_truncated_variance_at_the_last_lag_is_refused(n):
    # At lag = T - 1 the truncated estimate is (sum of the centred d)^2 / T = 0: its
    # rounding noise (1e-16 of gamma_0) gave DM = 5.5e8, p = 7e-35 at T = 5, or a refusal,
    # by the noise's sign.
    d = np.random.default_rng(n).standard_normal(n)
    with pytest.raises(ValueError, match="not above 0 beyond rounding.*use kernel='bartlett'"):
        diebold_mariano_test(d, np.zeros(n), lag=n - 1)
    assert np.isfinite(diebold_mariano_test(d, np.zeros(n), lag=n - 1,
                                            kernel="bartlett").statistic)


# --- scorers ------------------------------------------------------------------------------


def _returns(n, seed=0):
    y = np.random.default_rng(seed).standard_t(4, size=n) / 100
    return np.r_[0.0, y[:-1]][:, None], y


def test_scorers_are_minus_the_losses():
    X, y = _returns(700)
    model = HistoricalSimulation(window=250).fit(X[:500], y[:500])
    var, es = model.predict_var(X[500:], 0.99), model.predict_es(X[500:], 0.99)
    assert make_fz0_scorer(0.99)(model, X[500:], y[500:]) == -fz0_loss(y[500:], var, es, 0.99)
    assert make_pinball_scorer(0.99)(model, X[500:], y[500:]) == -var_pinball_loss(
        y[500:], var, 0.99)
    assert RISK_SCORERS == {"neg_fz0_loss": neg_fz0_loss_scorer,
                            "neg_pinball_loss": neg_pinball_loss_scorer}
    assert neg_fz0_loss_scorer(model, X[500:], y[500:]) == make_fz0_scorer(0.975)(
        model, X[500:], y[500:])


def test_scorers_in_a_grid_search():
    X, y = _returns(1200)
    search = GridSearchCV(HistoricalSimulation(), {"window": [50, 250]}, scoring=RISK_SCORERS,
                          refit="neg_fz0_loss", cv=TimeSeriesSplit(3), error_score="raise")
    search.fit(X, y)
    scores = search.cv_results_["mean_test_neg_fz0_loss"]
    assert np.all(np.isfinite(scores)) and scores[0] != scores[1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning")
def test_scorers_score_a_one_column_y_as_the_series():
    # The estimators fit on y[["ret"]]; the scorers refused it, so cross_validate scored
    # every fold NaN (with error_score="raise": "y must be a non-empty 1-D array").
    pd = pytest.importorskip("pandas")
    X, y = _returns(1200)
    expected = cross_validate(HistoricalSimulation(), X, y, scoring=RISK_SCORERS,
                              cv=TimeSeriesSplit(3), error_score="raise")
    for column in (y[:, None], pd.DataFrame({"ret": y})):
        got = cross_validate(HistoricalSimulation(), X, column, scoring=RISK_SCORERS,
                             cv=TimeSeriesSplit(3), error_score="raise")
        for name in RISK_SCORERS:
            np.testing.assert_array_equal(got[f"test_{name}"], expected[f"test_{name}"])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scorers_follow_the_estimators_side():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 1))
    y = (1 + X[:, 0] ** 2) * rng.standard_t(5, size=400)
    upper = TailRiskEstimator(side="upper", latent="gaussian", max_epochs=2,
                              hidden_layer_sizes=(8,), random_state=0).fit(X, y)
    var, es = upper.predict_var(X, 0.975), upper.predict_es(X, 0.975)
    assert neg_fz0_loss_scorer(upper, X, y) == -fz0_loss(y, var, es, 0.975, side="upper")
    assert make_pinball_scorer(side="upper")(upper, X, y) == -var_pinball_loss(
        y, var, 0.975, side="upper")
    with pytest.raises(ValueError, match="built with side='lower' but TailRiskEstimator"):
        make_fz0_scorer(side="lower")(upper, X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scorers_follow_the_side_of_a_filtered_model():
    # FilteredRiskEstimator has no side of its own: its forecasts are those of the model
    # it wraps, here of the upper tail, which the scorers once scored as the lower one.
    X, y = _returns(400)
    model = FilteredRiskEstimator(
        TailRiskEstimator(side="upper", latent="gaussian", max_epochs=2,
                          hidden_layer_sizes=(8,), random_state=0),
        EWMARiskEstimator()).fit(X[:300], y[:300])
    var, es = model.predict_var(X[300:], 0.975), model.predict_es(X[300:], 0.975)
    assert neg_fz0_loss_scorer(model, X[300:], y[300:]) == -fz0_loss(
        y[300:], var, es, 0.975, side="upper")
    assert neg_pinball_loss_scorer(model, X[300:], y[300:]) == -var_pinball_loss(
        y[300:], var, 0.975, side="upper")
    with pytest.raises(ValueError, match="built with side='lower' but TailRiskEstimator"):
        make_fz0_scorer(side="lower")(make_pipeline(model), X[300:], y[300:])


def test_scorer_errors():
    X, y = _returns(300)
    with pytest.raises(NotFittedError):
        neg_fz0_loss_scorer(HistoricalSimulation(), X, y)

    class VaROnly:
        def predict_var(self, X, level):
            return np.ones(len(X))

    with pytest.raises(TypeError, match="needs an estimator with predict_es"):
        neg_fz0_loss_scorer(VaROnly(), X, y)
    assert neg_pinball_loss_scorer(VaROnly(), X, y) < 0
    with pytest.raises(ValueError, match="level is the VaR confidence level"):
        make_fz0_scorer(0.01)
    with pytest.raises(ValueError, match="side must be one of"):
        make_pinball_scorer(side="both")


class _Forecasts:
    """A duck-typed model whose forecasts are given."""

    def __init__(self, var, es):
        self.var, self.es = var, es

    def predict_var(self, X, level):
        return self.var

    def predict_es(self, X, level):
        return self.es


@pytest.mark.parametrize("scorer", [neg_fz0_loss_scorer, neg_pinball_loss_scorer])
def test_scorers_blame_x_and_y_of_different_lengths_on_them(scorer):
    # The mismatch was blamed on the model: "var must be a number or have the shape of y
    # (10,); got (100,)".
    X, y = _returns(700)
    model = HistoricalSimulation(window=250).fit(X[:500], y[:500])
    with pytest.raises(ValueError, match="Found input variables with inconsistent numbers "
                                         r"of samples: \[200, 10\]"):
        scorer(model, X[500:], y[500:510])


@pytest.mark.parametrize("var, es, match", [
    (np.full(10, np.nan), np.full(10, 0.03),
     r"the output of _Forecasts.predict_var\(X, 0.975\) contains NaN"),
    (np.full(10, 0.02), np.full(10, np.inf),
     r"the output of _Forecasts.predict_es\(X, 0.975\) contains infinity"),
    (np.full(9, 0.02), np.full(10, 0.03),
     r"_Forecasts.predict_var\(X, 0.975\) returned an array of shape \(9,\) for 10 held-out "
     r"rows; expected \(10,\)"),
    (np.full(10, 0.02), np.full((10, 2), 0.03),
     r"_Forecasts.predict_es\(X, 0.975\) returned an array of shape \(10, 2\)"),
    # One number for every row was scored as that forecast repeated.
    (np.float64(0.02), np.full(10, 0.03),
     r"_Forecasts.predict_var\(X, 0.975\) returned an array of shape \(\) for 10 held-out "
     r"rows; expected \(10,\), one forecast per row"),
    (np.full(10, 0.02), 0.03,
     r"_Forecasts.predict_es\(X, 0.975\) returned an array of shape \(\) for 10 held-out "
     r"rows; expected \(10,\)"),
    (np.full(1, 0.02), np.full(10, 0.03),
     r"_Forecasts.predict_var\(X, 0.975\) returned an array of shape \(1,\) for 10 held-out"),
    (np.full(10, 0.02), np.full((1, 1), 0.03),
     r"_Forecasts.predict_es\(X, 0.975\) returned an array of shape \(1, 1\) for 10 "
     r"held-out"),
])
def test_scorers_name_the_model_whose_forecasts_are_bad(var, es, match):
    # "var contains NaN." did not say whose var: the model's, not the user's input.
    X, y = _returns(10)
    with pytest.raises(ValueError, match=match):
        neg_fz0_loss_scorer(_Forecasts(var, es), X, y)


def test_pinball_scorer_refuses_a_single_number_for_many_rows():
    X, y = _returns(10)
    with pytest.raises(ValueError, match=r"predict_var\(X, 0.975\) returned an array of "
                                         r"shape \(\) for 10 held-out rows"):
        neg_pinball_loss_scorer(_Forecasts(0.02, None), X, y)
    # A column, one forecast per row, is still a forecast per row.
    column = np.linspace(0.01, 0.03, 10)
    assert neg_pinball_loss_scorer(_Forecasts(column[:, None], None), X, y) == \
        -var_pinball_loss(y, column, 0.975)
    # The metrics keep their documented reading of a number: the same forecast every row.
    assert var_pinball_loss(y, 0.02, 0.975) == var_pinball_loss(y, np.full(10, 0.02), 0.975)
    assert fz0_loss(y, 0.02, 0.03, 0.975) == fz0_loss(y, np.full(10, 0.02),
                                                      np.full(10, 0.03), 0.975)


@pytest.mark.parametrize("var, es, match", [
    (np.full(10, -0.01), np.full(10, -0.005),
     r"_Forecasts.predict_es\(X, 0.975\) returned an ES <= 0 \(-0.005 at row 0\)"),
    (np.full(10, 0.03), np.full(10, 0.02),
     r"_Forecasts.predict_es\(X, 0.975\) returned an ES below the VaR of "
     r"_Forecasts.predict_var\(X, 0.975\) \(0.02 < 0.03 at row 0\)"),
])
def test_fz0_scorer_blames_forecasts_it_cannot_score_on_the_model(var, es, match):
    # A model forecasting a gain beyond its VaR (ES < 0) was told "Did you pass a tail mean
    # of returns (negative) instead of a loss?", as if the user had passed the ES.
    X, y = _returns(10)
    with pytest.raises(ValueError, match=match):
        neg_fz0_loss_scorer(_Forecasts(var, es), X, y)


def test_scorers_take_one_column_of_forecasts():
    # A column is one forecast per row; a single number is refused (see above).
    X, y = _returns(10)
    expected = neg_fz0_loss_scorer(_Forecasts(np.full(10, 0.02), np.full(10, 0.03)), X, y)
    assert neg_fz0_loss_scorer(_Forecasts(np.full((10, 1), 0.02), np.full((10, 1), 0.03)),
                               X, y) == expected
