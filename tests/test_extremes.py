"""Return levels and periods (skqegm.extremes) and the GPD fit's standard errors, checked
against scipy, the closed forms of Coles (2001, section 4.4) and pyextremes."""

import importlib.util
import logging
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

from skqegm.baselines import GPDTailSampler
from skqegm.datasets import load_daily_rainfall
from skqegm.exceptions import ExtrapolationWarning, MemoryLimitError
from skqegm.extremes import ReturnLevelResult, ReturnPeriodResult, return_level, return_period

# 152 days above 30 mm: the threshold of Coles (2001, section 4.4.1) for this series.
RAIN_TAIL_FRACTION = 0.0087
PERIODS = np.array([10.0, 50.0, 100.0])


@pytest.fixture(scope="module")
def rain():
    x = load_daily_rainfall()
    assert x.shape == (17531,)
    return x


@pytest.fixture(scope="module")
def gpd_rain(rain):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the dry days leave no lower tail
        model = GPDTailSampler(tail_fraction=RAIN_TAIL_FRACTION).fit(rain.reshape(-1, 1))
    assert model.tail_threshold_[1, 0] == 30.0 and model.n_exceedances_[1, 0] == 152
    return model


@pytest.fixture(scope="module")
def kde_rain(rain):
    return KernelDensity(bandwidth=1.0).fit(rain.reshape(-1, 1))


def _gpd_nll(excess, scale):
    """Negative log-likelihood of (shape, s), the scale ``s * scale``: one step size fits
    both parameters. Vectorised over trailing axes, as scipy.differentiate calls it."""
    def nll(params):
        y = excess.reshape((-1,) + (1,) * (np.ndim(params) - 1))
        return -stats.genpareto.logpdf(y, params[0], scale=params[1] * scale).sum(axis=0)
    return nll


def _numerical_cov(excess, shape, scale):
    """Inverse of scipy's numerical Hessian of the negative log-likelihood at the fit, in
    (shape, scale). Its error estimates rarely meet scipy's strict default tolerance, but
    its values agree with finite differences of several step sizes to about 1e-4."""
    differentiate = pytest.importorskip("scipy.differentiate")
    hessian = differentiate.hessian(_gpd_nll(excess, scale), np.array([shape, 1.0]),
                                    initial_step=0.01).ddf
    assert np.all(np.isfinite(hessian))
    units = np.array([1.0, scale])
    return np.linalg.inv(hessian) * np.outer(units, units)


# --- (a) the GPD return level against scipy and the closed form -----------------------------
def test_gpd_return_levels_match_scipy_fit_and_closed_form(rain, gpd_rain):
    u, n_y = 30.0, 365.0
    excess = rain[rain > u] - u
    xi, _, sigma = stats.genpareto.fit(excess, floc=0)
    zeta = len(excess) / len(rain)
    closed_form = u + sigma / xi * ((PERIODS * n_y * zeta) ** xi - 1)  # Coles (4.13)
    scipy_quantile = stats.genpareto.isf(1 / (PERIODS * n_y * zeta), xi, loc=u, scale=sigma)
    result = return_level(gpd_rain, PERIODS, observations_per_year=n_y)
    assert isinstance(result, ReturnLevelResult) and result.method == "delta"
    np.testing.assert_allclose(result.level, closed_form, rtol=1e-10)
    np.testing.assert_allclose(result.level, scipy_quantile, rtol=1e-10)
    # Coles (2001), p. 86, with 365 days a year: the 100-year level is 106.3 mm.
    assert result.level[2] == pytest.approx(106.3, abs=0.05)


def test_gpd_delta_interval_matches_numerical_derivatives(rain, gpd_rain):
    """The interval from numerical derivatives throughout: scipy's Hessian of the
    likelihood for the (shape, scale) covariance and scipy's Jacobian of the closed form."""
    differentiate = pytest.importorskip("scipy.differentiate")
    u, n_y = 30.0, 365.25
    excess = rain[rain > u] - u
    zeta, xi, sigma = gpd_rain.tail_fractions_[1, 0], gpd_rain.gpd_shape_[1, 0], \
        gpd_rain.gpd_scale_[1, 0]
    cov = np.zeros((3, 3))
    cov[0, 0] = zeta * (1 - zeta) / len(rain)  # binomial, independent of the fit
    cov[1:, 1:] = _numerical_cov(excess, xi, sigma)
    m = PERIODS * n_y

    def level(params):  # (zeta, xi, sigma) relative to the fit -> the levels (3, ...)
        z, c, s = params[0] * zeta, params[1], params[2] * sigma
        obs = m.reshape((-1,) + (1,) * z.ndim)
        return u + s / c * ((obs * z) ** c - 1)

    jac = differentiate.jacobian(level, np.array([1.0, xi, 1.0]), initial_step=0.01).df
    jac = jac / np.array([zeta, 1.0, sigma])  # (periods, parameters), in absolute units
    se = np.sqrt(np.einsum("pi,ij,pj->p", jac, cov, jac))
    result = return_level(gpd_rain, PERIODS, observations_per_year=n_y)
    half = (result.upper - result.lower) / 2
    np.testing.assert_allclose(half, stats.norm.ppf(0.975) * se, rtol=2e-3)
    np.testing.assert_allclose((result.upper + result.lower) / 2, result.level, rtol=1e-12)


def test_gpd_standard_errors_on_the_rainfall_are_coles(gpd_rain):
    # Coles (2001), p. 85: sigma 7.44 (se 0.958), xi 0.184 (se 0.101), cov -0.0655.
    assert gpd_rain.gpd_scale_[1, 0] == pytest.approx(7.44, abs=5e-3)
    assert gpd_rain.gpd_shape_[1, 0] == pytest.approx(0.184, abs=5e-4)
    assert gpd_rain.gpd_scale_se_[1, 0] == pytest.approx(0.958, abs=1e-3)
    assert gpd_rain.gpd_shape_se_[1, 0] == pytest.approx(0.101, abs=5e-4)
    assert gpd_rain.tail_cov_[1, 0, 1, 2] == pytest.approx(-0.0655, abs=5e-5)
    assert gpd_rain.tail_cov_[1, 0, 0, 0] == pytest.approx(152 / 17531 * (1 - 152 / 17531)
                                                          / 17531)
    # No exceedance below the dry days' threshold: nothing estimated, no standard errors.
    assert np.isnan(gpd_rain.gpd_shape_se_[0, 0]) and np.isnan(gpd_rain.gpd_scale_se_[0, 0])


# --- (b) against pyextremes -----------------------------------------------------------------
def test_gpd_return_levels_agree_with_pyextremes(rain, gpd_rain):
    """Same threshold, every exceedance (no declustering), MLE. pyextremes' rate is the
    exceedances per year of the span from the first to the last day, (n - 1) days: with
    365.2425 n / (n - 1) observations a year the two rates coincide. Its interval is a
    percentile bootstrap of the exceedances with the rate held fixed; ours is the delta
    method, with the rate binomial: symmetric where the bootstrap is skewed to the right."""
    pd = pytest.importorskip("pandas")
    pyextremes = pytest.importorskip("pyextremes")
    n = len(rain)
    series = pd.Series(rain, index=pd.date_range("1914-01-01", periods=n, freq="D"))
    eva = pyextremes.EVA(series)
    eva.get_extremes(method="POT", extremes_type="high", threshold=30.0, r="1h")
    assert len(eva.extremes) == 152
    eva.fit_model(model="MLE", distribution="genpareto")
    # pyextremes seeds its bootstrap from numpy's legacy global stream: seed it, then restore.
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(0)  # noqa: NPY002
        for n_samples in (50, 100, 150, 200):  # 50 at a time: no process pool
            theirs = eva.get_return_value(return_period=PERIODS, return_period_size="365.2425D",
                                          alpha=0.95, n_samples=n_samples)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    level, lower, upper = (np.asarray(v) for v in theirs)
    ours = return_level(gpd_rain, PERIODS, observations_per_year=365.2425 * n / (n - 1))
    np.testing.assert_allclose(ours.level, level, rtol=1e-6)  # the same scipy fit
    # Measured: upper bounds 0.0%, 3.3%, 7.1% apart; lower bounds 5.6%, 14%, 20%.
    np.testing.assert_allclose(ours.upper, upper, rtol=0.10)
    np.testing.assert_allclose(ours.lower[0], lower[0], rtol=0.07)
    assert np.all(ours.lower <= lower) and np.all(ours.lower >= 0.75 * lower)
    assert np.all(upper - level > level - lower)  # the bootstrap's right skew


# --- (c) standard errors and coverage on simulated data -------------------------------------
@pytest.mark.parametrize("shape", [-0.3, 0.0, 0.3])
def test_gpd_standard_errors_are_the_inverse_numerical_hessian(shape):
    X = stats.genpareto.rvs(shape, scale=2.0, size=(4000, 1), random_state=1)
    model = GPDTailSampler(tail_fraction=0.1, body="empirical").fit(X)
    x = X.ravel()
    excess = x[x > model.tail_threshold_[1, 0]] - model.tail_threshold_[1, 0]
    cov = _numerical_cov(excess, model.gpd_shape_[1, 0], model.gpd_scale_[1, 0])
    np.testing.assert_allclose(model.tail_cov_[1, 0, 1:, 1:], cov, rtol=2e-3)
    np.testing.assert_allclose([model.gpd_shape_se_[1, 0], model.gpd_scale_se_[1, 0]],
                               np.sqrt(np.diag(cov)), rtol=1e-3)


def test_gpd_standard_errors_are_nan_where_undefined():
    x = np.random.default_rng(0).uniform(size=(4000, 1))  # bounded tails, shape near -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = GPDTailSampler(tail_fraction=0.05).fit(x)
        few = GPDTailSampler(tail_fraction=0.1).fit(np.arange(30.0).reshape(-1, 1))
    assert np.all(model.gpd_shape_ < -0.5) and np.all(np.isnan(model.gpd_shape_se_))
    assert np.all(np.isfinite(model.tail_cov_[:, :, 0, 0]))  # the fractions still have one
    # 3 exceedances: exponential, the shape fixed, the scale's se its mean excess / sqrt(3).
    assert np.all(few.n_exceedances_ == 3) and np.all(np.isnan(few.gpd_shape_se_))
    np.testing.assert_allclose(few.gpd_scale_se_, few.gpd_scale_ / np.sqrt(3))


def _brute_deviance(excess, p, k, n):
    """Profile deviance of the exponential tail of k of n rows (mean excess 1) at the level
    ``excess`` beyond the threshold exceeded with probability ``p``: its likelihood
    maximised over a grid of 400,001 tail fractions, each with the scale that puts the
    level there."""
    zeta = np.exp(np.linspace(np.log(p), 0.0, 400_003)[1:-1])
    scale = excess / np.log(zeta / p)
    loglik = k * np.log(zeta) + (n - k) * np.log1p(-zeta) - k * np.log(scale) - k / scale
    best = k * np.log(k / n) + (n - k) * np.log1p(-k / n) - k
    return 2 * (best - loglik.max())


def test_exponential_tails_get_profile_likelihood_intervals():
    # 1-4 exceedances: exponential, the shape fixed; the delta interval was NaN. The
    # delta method with the shape left out covered 68-87% at 95% in simulations.
    x = np.arange(30.0).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer than 5 exceedances
        # The fitted attributes alone (no tail_fraction: the profile, not the pivot).
        three, mirrored, one = (_attributes(GPDTailSampler(tail_fraction=f).fit(data))
                                for f, data in ((0.1, x), (0.1, -x), (0.03, x)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = return_level(three, [100.0, 1000.0], observations_per_year=1)
    assert result.method == "exponential-profile"
    # By hand: u = 26.1, mean excess 1.9, fraction 3 / 30.
    np.testing.assert_allclose(result.level, 26.1 + 1.9 * np.log([10.0, 100.0]), rtol=1e-12)
    assert np.all((26.1 < result.lower) & (result.lower < result.level)
                  & (result.level < result.upper))
    critical = stats.chi2.ppf(0.95, 1)
    for bound in (result.lower, result.upper):
        for b, p in zip(bound, [0.01, 0.001]):
            assert _brute_deviance((b - 26.1) / 1.9, p, 3, 30) == pytest.approx(critical,
                                                                               abs=1e-4)
    lower = return_level(mirrored, [100.0, 1000.0], observations_per_year=1, side="lower")
    for ours, theirs in zip(lower[:3], (-result.level, -result.upper, -result.lower)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    # The period interval at the level's upper bound starts at that level's period.
    period = return_period(three, result.upper, observations_per_year=1)
    assert period.method == "exponential-profile"
    np.testing.assert_allclose(period.lower, [100.0, 1000.0], rtol=1e-9)
    # One exceedance: at 50 years (probability 0.02 against the tail's 1/30) the data do
    # not rule out the threshold itself (deviance 0.23 there), so the bound is 28.13.
    with pytest.warns(UserWarning, match=r"threshold lies beyond the true level with "
                                         r"probability 0.12 \(when more than 1 rows"):
        single = return_level(one, 50.0, observations_per_year=1)
    assert single.lower == pytest.approx(28.13, rel=1e-12) and single.upper > single.level
    # At the threshold the fraction is 0.02 and the scale the mean excess (the limit).
    at_threshold = 2 * (np.log(1 / 30) + 29 * np.log(29 / 30) - np.log(0.02)
                        - 29 * np.log(0.98))
    assert at_threshold == pytest.approx(0.227, abs=1e-3)
    assert _brute_deviance((single.upper - 28.13) / 0.87, 0.02, 1, 30) == pytest.approx(critical,
                                                                              abs=1e-4)


def _attributes(model):
    """The fitted attributes of a generalized Pareto model (the protocol), without its
    parameters."""
    names = ("tail_threshold_", "tail_fractions_", "gpd_shape_", "gpd_scale_", "tail_cov_",
             "n_features_in_")
    return SimpleNamespace(**{name: getattr(model, name) for name in names})


class _ExponentialTail:
    """The fitted attributes of a GPDTailSampler whose tails are exponential, k of n rows
    beyond each threshold (the protocol of return_level); upper tail only is used."""

    def __init__(self, k, n, scale=2.0, threshold=5.0):
        fraction = k / n
        cov = np.zeros((3, 3))
        cov[0, 0] = fraction * (1 - fraction) / n
        cov[1, :] = cov[:, 1] = np.nan
        cov[2, 2] = scale**2 / k
        self.tail_threshold_ = np.array([[-threshold], [threshold]])
        self.tail_fractions_ = np.full((2, 1), fraction)
        self.gpd_shape_, self.gpd_scale_ = np.zeros((2, 1)), np.full((2, 1), scale)
        self.tail_cov_ = np.broadcast_to(cov, (2, 1, 3, 3)).copy()
        self.n_features_in_ = 1


def _bench_extremes(monkeypatch):
    """benchmarks/bench_extremes.py as a module: it keeps the nested-root profile
    likelihood that skqegm computed up to session 10, the reference here."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(folder))  # for its ``from _options import``
    spec = importlib.util.spec_from_file_location("bench_extremes", folder / "bench_extremes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore:the upper tail of _ExponentialTail:UserWarning")
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_exponential_profile_bounds_are_the_nested_roots(monkeypatch, k):
    """All bounds at once (tangents to the likelihood region) against one root search per
    bound inside a root search per profile deviance, on 360 bounds per k: the nested
    roots' own error was up to 3e-9 (in log p, at n = 10**6)."""
    bench = _bench_extremes(monkeypatch)
    for n in (3 * k, 200, 10**6):
        for confidence_level in (0.5, 0.95, 0.999):
            model = _ExponentialTail(k, n)
            tail = bench.pot_tail(model)
            periods = n / k * np.geomspace(1.001, 1e5, 6)
            levels = 5.0 + 2.0 * np.geomspace(1e-3, 40.0, 6)
            ours = return_level(model, periods, observations_per_year=1,
                                confidence_level=confidence_level)
            theirs = bench.nested_level_interval(tail, 1 / periods, 1.0, confidence_level)
            for a, b in zip(ours[1:3], theirs, strict=True):  # excesses, at least the scale
                np.testing.assert_allclose(np.maximum(a - 5.0, 2.0), np.maximum(b - 5.0, 2.0),
                                           rtol=1e-8)
                np.testing.assert_allclose(a - 5.0, b - 5.0, atol=1e-12)
            ours = return_period(model, levels, observations_per_year=1,
                                 confidence_level=confidence_level)
            low, high = bench.nested_probability_interval(tail, levels, 1.0, confidence_level)
            np.testing.assert_allclose(ours.lower, 1 / high, rtol=1e-8)
            np.testing.assert_allclose(ours.upper, 1 / low, rtol=1e-8)
            assert np.all((ours.lower < ours.period) & (ours.period < ours.upper))


@pytest.mark.filterwarnings("ignore:the upper tail of _ExponentialTail:UserWarning")
@pytest.mark.parametrize("k, n", [(1, 3), (2, 5), (4, 9), (1, 10**7)])
def test_exponential_profile_bounds_tend_to_the_delta_method(k, n):
    """As the confidence level tends to 0 the profile-likelihood interval is the delta
    method's, half-width sqrt(chi2 quantile) standard errors: at 1e-6 the nested roots
    failed (scipy's "f(a) and f(b) must have different signs") or were 30-80% off."""
    model, confidence_level = _ExponentialTail(k, n), 1e-6
    z = np.sqrt(stats.chi2.ppf(confidence_level, 1))
    zeta, scale = k / n, 2.0
    probability = zeta * np.array([0.9, 0.1, 1e-4])
    result = return_level(model, 1 / probability, observations_per_year=1,
                          confidence_level=confidence_level)
    # level = u + scale log(zeta / p): its gradient in (zeta, scale) and their variances
    se = np.hypot(scale / zeta * np.sqrt(zeta * (1 - zeta) / n),
                  np.log(zeta / probability) * scale / np.sqrt(k))
    np.testing.assert_allclose(result.upper - result.level, z * se, rtol=1e-4)
    np.testing.assert_allclose(result.level - result.lower, z * se, rtol=1e-4)
    excess = np.array([0.01, 1.0, 20.0])  # log p = log zeta - excess / scale, in scales
    period = return_period(model, 5.0 + scale * excess, observations_per_year=1,
                           confidence_level=confidence_level)
    se = np.hypot(np.sqrt((1 - zeta) / (n * zeta)), excess / np.sqrt(k))
    np.testing.assert_allclose(np.log(period.upper / period.period), z * se, rtol=1e-4)
    np.testing.assert_allclose(np.log(period.period / period.lower), z * se, rtol=1e-4)


def test_exponential_profile_bounds_far_beyond_a_tiny_scale(monkeypatch):
    # One exceedance 0.0011 above the threshold, levels 1,700-5,400 scales beyond: the root
    # search bisected on towards a root near 0 (a tolerance relative to it) and gave up.
    bench = _bench_extremes(monkeypatch)
    model = _ExponentialTail(1, 200, scale=0.001148372166330791, threshold=3.0524125892518)
    levels = -np.log(2 * 0.005 * np.array([0.67, 0.3, 0.1, 0.01]))  # Laplace's
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow to an infinite period, too
        result = return_period(model, levels, observations_per_year=1)
    assert np.all(np.isinf(result.upper))  # beyond float64: p of exp(-1,700) and less
    low, high = bench.nested_probability_interval(bench.pot_tail(model), levels, 1.0, 0.95)
    np.testing.assert_allclose(result.lower, 1 / high, rtol=1e-8)
    np.testing.assert_array_equal(result.upper, np.inf)
    assert np.all(low == 0)


@pytest.mark.filterwarnings("ignore:the upper tail of _ExponentialTail:UserWarning")
def test_exponential_profile_bounds_of_many_values_are_each_values_own():
    model = _ExponentialTail(2, 500)
    periods = np.geomspace(300.0, 1e7, 200).reshape(20, 10)
    many = return_level(model, periods, observations_per_year=1)
    assert many.lower.shape == (20, 10)
    for i, j in [(0, 0), (7, 3), (19, 9)]:
        one = return_level(model, periods[i, j], observations_per_year=1)
        assert (one.lower, one.upper) == pytest.approx((many.lower[i, j], many.upper[i, j]),
                                                       rel=1e-13)


def test_exponential_profile_warns_where_the_threshold_can_lie_beyond_the_true_level():
    """The threshold is a quantile of the data: it lies beyond the true level exceeded with
    probability p when more than k of the n rows do, and the interval, bounded by the
    threshold, misses then. 2,000 Laplace samples (200 and 2,000 rows, 1-4 exceedances)
    covered 0.79-0.83 at 95% for p 0.67 times the tail's fraction (1 of 200 rows and 300
    years: 0.80, the 0.79 of 500 samples once put down to the single exceedance) and
    0.90-0.95 at 0.3 times, with no warning."""
    model = _ExponentialTail(1, 200)
    near = 1 / (0.67 * 0.005)  # years, one observation a year
    message = (r"the upper tail of _ExponentialTail is exponential \(1 of 200 rows beyond its "
               r"threshold\), and the level exceeded with probability 0.00335 per observation "
               r"lies so close to the threshold, a quantile of the data, that the threshold "
               r"lies beyond the true level with probability 0.15 \(when more than 1 rows")
    with pytest.warns(UserWarning, match=message):
        level = return_level(model, [near, 10 * near], observations_per_year=1).level
    with pytest.warns(UserWarning, match="with probability 0.15"):
        return_period(model, level[0], observations_per_year=1)
    assert stats.binom.sf(1, 200, 0.00335) == pytest.approx(0.145, abs=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return_level(model, 10 * near, observations_per_year=1)
        return_period(model, level[1], observations_per_year=1)


@pytest.mark.slow
def test_exponential_profile_interval_covers_the_true_level():
    """300 samples of 200 Laplace values, whose upper tail is exactly exponential; 3
    exceedances beyond the 98.5% quantile. Measured with 2,000 samples each (200 and 2,000
    rows, 1-4 exceedances): 0.93-0.96 for levels exceeded with probability 0.1 times the
    tail's fraction or less, 0.90-0.96 at 0.3 times and 0.79-0.83 at 0.67 times (see
    test_exponential_profile_warns_where_the_threshold_can_lie_beyond_the_true_level); the
    periods' intervals cover alike."""
    rng = np.random.default_rng(1)
    true_level, hits = -np.log(2 / 3000.0), 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(300):
            model = GPDTailSampler(tail_fraction=0.015, body="empirical").fit(
                rng.laplace(size=(200, 1)))
            result = return_level(_attributes(model), 3000.0, observations_per_year=1)
            hits += result.lower <= true_level <= result.upper
    assert result.method == "exponential-profile"
    assert 0.92 <= hits / 300 <= 0.98, hits / 300


def _pivot_quantiles(k, n, weight, log_p, quantiles, draws=2_000_000):
    """Quantiles of the exponential tail's pivot (level - u) / S by Monte Carlo: V the
    tail's probability beyond the order statistic below u, Beta(k + 1, n - k); E1 the
    smallest excess over it (in k / scale), G the others' (Gamma(k - 1))."""
    rng = np.random.default_rng(0)
    v, e1 = rng.beta(k + 1, n - k, draws), rng.exponential(size=draws)
    g = rng.gamma(k - 1, size=draws) if k > 1 else 0.0
    pivot = (np.log(v) - weight * e1 / k - log_p) / ((1 - weight) * e1 + g)
    return np.quantile(pivot, quantiles)


@pytest.mark.parametrize("n, tail_fraction, k, weight", [(200, 0.01, 2, 0.01),
                                                          (250, 0.01, 3, 0.51)])
def test_exponential_tails_of_gpd_get_the_exact_pivot_interval(n, tail_fraction, k, weight):
    """The threshold is the tail_fraction quantile: the profile likelihood, conditional on
    it, covered 0.72-0.79 at 95% for levels exceeded with 0.67 times the tail's
    probability (2,000 Laplace samples each, 200 and 250 rows, 1-3 exceedances; 0.90-0.93
    at 0.3 times); the pivot 0.94-0.96 at 0.67 to 0.01 times, both sides. Its bounds here
    against the pivot's quantiles by Monte Carlo."""
    x = np.random.default_rng(3).laplace(size=(n, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer than 5 exceedances
        model = GPDTailSampler(tail_fraction=tail_fraction).fit(x)
    assert np.all(model.n_exceedances_ == k)
    probability = np.array([0.67, 0.01]) * k / n
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no near-threshold warning: the pivot covers there
        result = return_level(model, 1 / probability, observations_per_year=1)
        lower = return_level(model, 1 / probability, observations_per_year=1, side="lower")
    assert result.method == lower.method == "exponential-pivot"
    for found, sign in ((result, 1), (lower, -1)):
        u = model.tail_threshold_[(1 + sign) // 2, 0]
        total = k * model.gpd_scale_[(1 + sign) // 2, 0]  # the sum of the excesses
        for i, p in enumerate(probability):
            # The lower threshold lies as far from its body's side: (n - 1) f and (n - 1)
            # (1 - f) have fractional parts adding up to 1.
            q = _pivot_quantiles(k, n, weight, np.log(p), [0.025, 0.975])
            ours = np.sort(sign * (np.array([found.lower[i], found.upper[i]]) - u) / total)
            np.testing.assert_allclose(ours, q, rtol=3e-3, atol=2e-3)  # Monte Carlo's error
    assert result.lower[0] < model.tail_threshold_[1, 0]  # below the threshold: it can miss
    # The threshold's place is the fit's: a tail_fraction set since (the same k, another
    # place between the values) changes nothing.
    model.set_params(tail_fraction=tail_fraction * 0.7)
    np.testing.assert_array_equal(
        return_level(model, 1 / probability, observations_per_year=1).lower, result.lower)
    model.set_params(tail_fraction=tail_fraction)
    # The periods' interval is the levels' inverted: it starts at the level's bound.
    period = return_period(model, result.upper, observations_per_year=1)
    assert period.method == "exponential-pivot"
    np.testing.assert_allclose(period.lower, 1 / probability, rtol=1e-6)



# Bounds of the pivot's interval from the code before its speed-up (session 12: the Beta
# CDF by betainc at each of 4,096 nodes, every root searched from [-1, 1]), at the
# probabilities 0.67 to 1e-6 times the tail's (60, geometric; items 0, 7, 30, 59) and the
# levels u + sign (0.025 to 20) scale (60, linear): (k, n, weight, confidence, sign,
# levels' lower and upper bounds, probabilities' lower and upper bounds).
_PIVOT_BEFORE = [
    (1, 30, 0.0, 0.95, 1, [-0.3822937776, 1.195220913, 2.010701685, 2.915116425],
     [18.4602096, 48.3779199, 150.4440461, 272.6722032],
     [0.007761244554, 9.760617984e-10, 3.215141618e-34, 4.360753285e-65],
     [0.1645008803, 0.07468699101, 0.03558616573, 0.01927541338]),
    (3, 5000, 0.7, 0.999, -1, [-10.93591523, -32.19450461, -108.2735153, -204.8436983],
     [5.410039856, 1.387350818, 0.01432852742, -0.9467623119],
     [4.408420228e-05, 2.590479577e-11, 3.865657402e-35, 3.509085019e-65],
     [0.0023925867, 0.001124181262, 0.0004680160801, 0.000212544767]),
    (4, 200, 0.3, 0.5, 1, [1.077791251, 1.808414849, 4.051083712, 6.846455761],
     [1.50098608, 2.788546191, 7.25102356, 12.89995177],
     [0.01485766401, 6.835783289e-05, 7.124679492e-13, 5.974868129e-23],
     [0.0277828415, 0.001332542895, 1.485402225e-07, 1.571776807e-12]),
]


@pytest.mark.parametrize("k, n, weight, confidence, sign, lower, upper, p_lower, p_upper",
                         _PIVOT_BEFORE)
def test_pivot_interval_of_many_values_keeps_the_former_bounds(
        k, n, weight, confidence, sign, lower, upper, p_lower, p_upper):
    """The pivot's bounds for 60 probabilities or levels at once (the Beta CDF from a table,
    the roots bracketed about their interpolation over a grid of them: 22 times faster for
    200 levels, benchmarks/bench_extremes.py) within 1e-4 of the former (2e-10 on a grid
    of k = 1-4, n = 30-5,000, weights 0-1, confidence 0.5-0.999, both sides)."""
    from skqegm.extremes._pot import (
        exponential_pivot_level_interval,
        exponential_pivot_probability_interval,
    )
    fraction = k / n
    tail = (1.0, fraction, 0.0, 0.5, np.array([[fraction * (1 - fraction) / n]]))
    at = [0, 7, 30, 59]
    found = exponential_pivot_level_interval(
        tail, np.geomspace(0.67, 1e-6, 60) * fraction, sign, confidence, weight)
    np.testing.assert_allclose(np.array(found)[:, at], [lower, upper], rtol=1e-4)
    found = exponential_pivot_probability_interval(
        tail, 1 + sign * np.linspace(0.05, 40, 60) * 0.5, sign, confidence, weight)
    np.testing.assert_allclose(np.array(found)[:, at], [p_lower, p_upper], rtol=1e-4)



def test_pivot_interval_of_many_repeated_values():
    """51 probabilities of two values: too few distinct ones to interpolate (it raised
    ValueError in scipy's PchipInterpolator); the same bounds as each alone."""
    from skqegm.extremes._pot import exponential_pivot_level_interval

    tail = (1.0, 0.01, 0.0, 0.5, np.array([[0.01 * 0.99 / 200]]))
    probability = np.r_[np.full(50, 0.005), 0.001]
    lower, upper = exponential_pivot_level_interval(tail, probability, 1, 0.95, 0.3)
    alone = exponential_pivot_level_interval(tail, np.array([0.005, 0.001]), 1, 0.95, 0.3)
    np.testing.assert_allclose(lower[[0, 49, 50]], alone[0][[0, 0, 1]], rtol=1e-10)
    np.testing.assert_allclose(upper[[0, 49, 50]], alone[1][[0, 0, 1]], rtol=1e-10)


def test_gpd_standard_errors_of_huge_data_stay_finite():
    # The scale's variance of data beyond 1e154 overflows float64 (it is beyond its range),
    # but its standard error does not: it was inf, and the period's interval [0, inf]
    # under a warning that said NaN.
    x = stats.t.rvs(4, size=5000, random_state=0).reshape(-1, 1)
    small, huge = GPDTailSampler().fit(x), GPDTailSampler().fit(x * 1e160)
    np.testing.assert_allclose(huge.gpd_scale_se_ / 1e160, small.gpd_scale_se_, rtol=1e-2)
    np.testing.assert_allclose(huge.gpd_shape_se_, small.gpd_shape_se_, rtol=1e-2)
    level = return_level(small, 50.0).level
    with pytest.warns(UserWarning, match="scale's variance overflows float64"):
        results = (return_level(huge, 50.0), return_period(huge, level * 1e160))
    for result in results:
        assert np.isnan(result.lower) and np.isnan(result.upper)  # as the warning says


def test_gpd_intervals_of_tiny_data_are_nan_not_zero_width():
    # Below about 1e-154 the scale's variance underflows float64 (to 0 at 1e-200): the
    # delta-method intervals had zero width (level 12.93, interval [12.93, 12.93] in units
    # of 1e-200) and the periods' were 15% narrow, silently.
    x = stats.t.rvs(4, size=5000, random_state=0).reshape(-1, 1)
    small, tiny = GPDTailSampler().fit(x), GPDTailSampler().fit(x * 1e-200)
    np.testing.assert_allclose(tiny.gpd_scale_se_ * 1e200, small.gpd_scale_se_, rtol=1e-2)
    level = return_level(small, 50.0).level
    with pytest.warns(UserWarning, match="scale's variance underflows float64: a scale "
                                         "below about 1e-154; divide the data"):
        results = (return_level(tiny, 50.0), return_period(tiny, level * 1e-200))
    assert results[0].level == pytest.approx(level * 1e-200, rel=1e-2)
    for result in results:
        assert np.isnan(result.lower) and np.isnan(result.upper)


def test_delta_interval_covers_the_true_level():
    """200 data sets, half zeros (rainfall-like) and half GPD(0.2): the tail beyond a
    threshold of a GPD is GPD, so the true T-year level is known. Measured coverage of the
    95% intervals: 0.95 (10 years) and 0.92 (100 years; the delta method is known to
    under-cover long periods), shape 0.935 and scale 0.945."""
    xi, n, n_y, reps = 0.2, 1500, 10.0, 200
    periods = np.array([10.0, 100.0])
    true_level = stats.genpareto.isf(2 / (periods * n_y), xi)  # P(X > x) = sf(x) / 2
    rng = np.random.default_rng(0)
    hits, shape_hits, scale_hits = np.zeros(2), 0, 0
    for _ in range(reps):
        X = stats.genpareto.rvs(xi, size=(n, 1), random_state=rng) * (rng.random((n, 1)) < 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # no lower tail
            model = GPDTailSampler(tail_fraction=0.1, body="empirical").fit(X)
        result = return_level(model, periods, observations_per_year=n_y)
        hits += (result.lower <= true_level) & (true_level <= result.upper)
        shape_hits += abs(model.gpd_shape_[1, 0] - xi) <= 1.96 * model.gpd_shape_se_[1, 0]
        true_scale = 1 + xi * model.tail_threshold_[1, 0]  # threshold stability
        scale_hits += abs(model.gpd_scale_[1, 0] - true_scale) <= 1.96 * model.gpd_scale_se_[1, 0]
    coverage = np.append(hits, [shape_hits, scale_hits]) / reps
    assert np.all((coverage >= 0.90) & (coverage <= 0.98)), coverage


# --- (d) return_period inverts return_level -------------------------------------------------
@pytest.mark.parametrize("side", ["upper", "lower"])
def test_return_period_inverts_return_level_in_closed_form(side):
    X = np.random.default_rng(3).standard_t(4, size=(20000, 1))
    model = GPDTailSampler(tail_fraction=0.02).fit(X)
    periods = np.array([[2.0, 10.0], [100.0, 1000.0]])
    levels = return_level(model, periods, side=side, observations_per_year=250).level
    result = return_period(model, levels, side=side, observations_per_year=250)
    assert isinstance(result, ReturnPeriodResult) and result.method == "delta"
    np.testing.assert_allclose(result.period, periods, rtol=1e-9)
    assert np.all((result.lower < periods) & (periods < result.upper))
    assert np.all(np.diff(levels.ravel()) > 0 if side == "upper" else np.diff(levels.ravel()) < 0)
    scalar = return_period(model, float(levels[0, 1]), side=side, observations_per_year=250)
    assert isinstance(scalar.period, float) and scalar.period == pytest.approx(10.0)


def test_return_period_inverts_return_level_from_draws(rain, kde_rain):
    # The same draws (same random_state and n_draws): the quantile and the share beyond it
    # invert each other up to one draw in ~110 beyond the level.
    n_draws = 400_000
    level = return_level(kde_rain, [2.0, 10.0], confidence_level=None, n_draws=n_draws).level
    period = return_period(kde_rain, level, confidence_level=None, n_draws=n_draws).period
    np.testing.assert_allclose(period, [2.0, 10.0], rtol=0.02)


def test_return_period_beyond_a_bounded_tail_is_infinite():
    X = np.random.default_rng(0).uniform(size=(4000, 1))
    model = GPDTailSampler(tail_fraction=0.05).fit(X)  # shape < 0: an end point near 1
    result = return_period(model, 5.0, confidence_level=None)
    assert result.period == np.inf and result.method == "none"


# --- (e) the bootstrap path -----------------------------------------------------------------
def test_bootstrap_is_deterministic_and_brackets_the_estimate(rain, kde_rain, caplog):
    kwargs = dict(X=rain, n_bootstrap=8, random_state=3)
    with caplog.at_level(logging.INFO, logger="skqegm"):
        first = return_level(kde_rain, [2.0, 10.0], **kwargs)
    assert first.method == "bootstrap"
    assert any("8/8 refits" in record.getMessage() for record in caplog.records)
    again = return_level(kde_rain, [2.0, 10.0], **kwargs)
    for ours, theirs in zip(first[:3], again[:3]):
        np.testing.assert_array_equal(ours, theirs)
    other = return_level(kde_rain, [2.0, 10.0], **{**kwargs, "random_state": 4})
    assert not np.array_equal(first.lower, other.lower)
    assert np.all((first.lower <= first.level) & (first.level <= first.upper))
    assert np.all(first.upper - first.lower > 0)


class _ExponentialSampler(BaseEstimator):
    """The exponential law of the data's mean: a refit costs nothing, and the true return
    level of standard exponential data is known, ``log(T * observations_per_year)``."""

    def fit(self, X, y=None):
        self.mean_, self.n_features_in_ = float(np.mean(X)), 1
        return self

    def sample(self, n_samples=1, random_state=None):
        return np.random.RandomState(random_state).exponential(self.mean_, (n_samples, 1))


@pytest.mark.slow
def test_bootstrap_interval_covers_the_true_level():
    """100 data sets of 200 standard exponential values, 100 refits each. Measured coverage
    of the 95% percentile intervals, three seeds: 0.93-0.89 (2 years), 0.96-0.89 (10
    years), the percentile bootstrap's known shortfall on a skewed statistic at n=200; the
    delta method on a GPD fit covers 0.95 and 0.92 (test_delta_interval_covers_the_true_level)."""
    periods, n_y, reps = np.array([2.0, 10.0]), 10.0, 100
    true_level = np.log(periods * n_y)
    rng = np.random.default_rng(0)
    hits = np.zeros(2)
    for rep in range(reps):
        X = rng.exponential(size=(200, 1))
        result = return_level(_ExponentialSampler().fit(X), periods, observations_per_year=n_y,
                              X=X, n_bootstrap=100, random_state=rep)
        hits += (result.lower <= true_level) & (true_level <= result.upper)
    assert np.all((hits / reps >= 0.85) & (hits / reps <= 0.99)), hits / reps


def test_bootstrap_seeds_refits_of_an_unseeded_estimator():
    X = np.random.default_rng(0).standard_t(5, size=(2000, 1))
    gmm = GaussianMixture(2, random_state=None).fit(X)
    runs = [return_level(gmm, 2.0, observations_per_year=100, X=X, n_bootstrap=5,
                         random_state=0) for _ in range(2)]
    # GaussianMixture.sample draws from the estimator's own random_state (None here), so
    # the point estimate varies; the refits, seeded by the bootstrap, do not.
    assert runs[0][1:] == runs[1][1:]
    assert runs[0].lower < runs[0].upper


def test_bootstrap_of_the_gpd_refits_in_closed_form(rain, gpd_rain):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        boot = return_level(gpd_rain, PERIODS, X=rain, method="bootstrap", n_bootstrap=30)
    # The refits' one warning (no lower tail) comes once, counted, at the caller's line.
    assert [str(w.message)[:24] for w in caught] == ["30 of 30 bootstrap refit"]
    assert caught[0].filename == __file__
    delta = return_level(gpd_rain, PERIODS)
    np.testing.assert_allclose(boot.level, delta.level)
    assert np.all((boot.lower < boot.level) & (boot.level < boot.upper))


def test_bootstrap_of_periods_brackets_the_estimate(rain, kde_rain):
    result = return_period(kde_rain, [40.0, 50.0], X=rain, n_bootstrap=5, n_draws=200_000)
    assert result.method == "bootstrap"
    assert np.all((result.lower <= result.period) & (result.period <= result.upper))
    with pytest.warns(UserWarning, match="fewer than 100 of the 200000 draws lie beyond"):
        rare = return_period(kde_rain, [75.0, 1000.0], n_draws=200_000, confidence_level=None)
    assert np.isfinite(rare.period[0]) and rare.period[1] == np.inf


def test_extrapolation_warning_beyond_the_record(rain, kde_rain):
    with pytest.warns(ExtrapolationWarning, match="beyond the 48-year record of X"):
        return_level(kde_rain, 100.0, X=rain, confidence_level=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return_level(kde_rain, 10.0, X=rain, confidence_level=None)  # within the record


# --- (f) bad input --------------------------------------------------------------------------
@pytest.mark.parametrize("period, match", [
    (0.0, "return_period must be positive"),
    ([10.0, -1.0], "return_period must be positive"),
    (np.nan, "return_period must be finite"),
    ("ten", "return_period must be a real number"),
    (["100"], "return_period must be a real number"),  # not parsed: a number is due
    (True, "return_period must be a real number"),
    (np.array([10.0, "100"], dtype=object), "return_period must be a real number"),
    (1 / 400, "return_period must be longer than one observation"),
])
def test_bad_return_periods_are_refused(gpd_rain, period, match):
    with pytest.raises(ValueError, match=match):
        return_level(gpd_rain, period)


def test_levels_that_are_no_numbers_are_refused(gpd_rain):
    for level in (["60"], True, [np.datetime64("2020-01-01")]):
        with pytest.raises(ValueError, match="level must be a real number"):
            return_period(gpd_rain, level)


@pytest.mark.parametrize("kwargs, match", [
    ({"side": "both"}, "side must be one of"),
    ({"observations_per_year": 0}, "observations_per_year must be in"),
    ({"confidence_level": 95}, "confidence_level must be in"),
    ({"method": "profile"}, "method must be one of"),
    ({"n_bootstrap": 1}, "n_bootstrap must be >= 2"),
    ({"n_draws": 0}, "n_draws must be >= 1"),
])
def test_bad_options_name_the_parameter(gpd_rain, kwargs, match):
    with pytest.raises(ValueError, match=match):
        return_level(gpd_rain, 10.0, **kwargs)
    with pytest.raises(ValueError, match=match):
        return_period(gpd_rain, 50.0, **kwargs)


def test_estimators_of_two_features_and_unfitted_ones_are_refused():
    X = np.random.default_rng(0).normal(size=(500, 2))
    for model in (GPDTailSampler().fit(X), KernelDensity().fit(X)):
        with pytest.raises(ValueError, match="n_features_in_=2"):
            return_level(model, 10.0, confidence_level=None)
    for model in (GPDTailSampler(), KernelDensity()):
        with pytest.raises(NotFittedError):
            return_level(model, 10.0)
        with pytest.raises(NotFittedError):
            return_period(model, 1.0)
    with pytest.raises(TypeError, match="sample"):
        return_level(object(), 10.0)


def test_bootstrap_intervals_need_X(kde_rain):
    with pytest.raises(ValueError, match="X is required for bootstrap"):
        return_level(kde_rain, 10.0)
    with pytest.raises(ValueError, match="X is required for bootstrap"):
        return_period(kde_rain, 50.0)
    point = return_level(kde_rain, 10.0, confidence_level=None)
    assert point.method == "none" and np.isnan(point.lower) and np.isnan(point.upper)
    with pytest.raises(ValueError, match="X must be the estimator's training data"):
        return_level(kde_rain, 10.0, X=np.zeros((10, 2)))
    with pytest.raises(ValueError, match="method='delta'"):
        return_level(kde_rain, 10.0, method="delta")


class _CountingSampler(_ExponentialSampler):
    """Keeps scikit-learn's n_samples_fit_ (as neighbours estimators do)."""

    def fit(self, X, y=None):
        self.n_samples_fit_ = len(X)
        return super().fit(X)


def test_an_X_that_cannot_be_the_training_data_is_refused(rain, gpd_rain, kde_rain):
    # The bootstrap refitted on whatever X it was given: an interval about other data.
    x = rain.reshape(-1, 1)
    shifted = np.vstack([x[:-1], [[x[-1, 0] + 0.5]]])  # one value moved, the count kept
    fewer_dry_days = np.delete(rain, np.flatnonzero(rain == 0)[:100])  # the same tails
    for model, X, why in [
            (gpd_rain, fewer_dry_days, r"it has 17431 rows, where the fit's tail fractions imply "
                                    r"17531"),
            (gpd_rain, 2 * rain, r"0 and 1046 of its values lie below and above the "
                                 r"thresholds 0 and 30, where the training data had 0 "
                                 r"and 152"),
            (kde_rain, shifted, r"its 17531 values are not the 17531 values its tree holds"),
            (_CountingSampler().fit(x[:50]), x[:60], r"it has 60 rows, where the fit had 50")]:
        for function, at in ((return_level, 10.0), (return_period, 60.0)):
            with pytest.raises(ValueError, match=f"X must be the data {type(model).__name__}"
                                                 f" was fitted on, and cannot be: {why}"):
                function(model, at, X=X, method="bootstrap", n_bootstrap=2)
    # The training data pass, in any order (the refits draw rows independently).
    result = return_level(kde_rain, 2.0, X=rain[::-1], n_bootstrap=2, n_draws=80_000)
    assert result.method == "bootstrap"


def test_an_X_that_cannot_be_a_samplers_training_data_is_refused_by_its_thresholds():
    # QEGMSampler keeps nothing of its data but the tail_fraction quantiles (tail_threshold_):
    # the bootstrap refitted on any X it was given, an interval about another model.
    from skqegm import QEGMSampler

    X = np.random.default_rng(0).standard_t(4, size=(400, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 1 epoch, here and in the refits
        model = QEGMSampler(latent="gaussian", max_epochs=1, random_state=0).fit(X)
        result = return_level(model, 1.0, observations_per_year=100, X=X[::-1], n_bootstrap=2)
    assert result.method == "bootstrap"  # the training data, in any order
    for other in (X[:-1], 2 * X):
        with pytest.raises(ValueError, match=r"X must be the data QEGMSampler was fitted on, "
                                             r"and cannot be: its tail_fraction=0.05 quantiles"
                                             r" are .* where the training data's were "
                                             r"-2.08963 and 2.02267 \(tail_threshold_\)"):
            return_level(model, 1.0, observations_per_year=100, X=other, n_bootstrap=2)


def test_too_few_or_too_many_draws_are_refused(kde_rain, monkeypatch):
    with pytest.raises(ValueError, match="n_draws=1000 resolves no return level"):
        return_level(kde_rain, 10.0, confidence_level=None, n_draws=1000)
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.01")
    with pytest.raises(MemoryLimitError, match=r"n_draws=3\.65e\+06 needs an estimated 111 MiB"):
        return_level(kde_rain, 100.0, confidence_level=None)


def test_delta_method_outside_the_gpd_tail(rain, gpd_rain):
    # 0.1 years is inside the body (above 30 mm on 0.87% of days: the tail starts at 0.32).
    with pytest.raises(ValueError, match="return_period must be above 0.316 years"):
        return_level(gpd_rain, 0.1)
    with pytest.raises(ValueError, match="level must lie beyond the upper threshold 30"):
        return_period(gpd_rain, 20.0)
    body = return_level(gpd_rain, 0.1, confidence_level=None)  # from the sampler's draws
    assert 10 < body.level < 30 and body.method == "none"
    # No exceedance below the dry days: the lower tail's interval is NaN, with a warning.
    with pytest.warns(UserWarning, match="lower tail of GPDTailSampler has no standard"):
        lower = return_level(gpd_rain, 500.0, side="lower")
    assert lower.level < 0 and np.isnan(lower.lower)


def test_gpd_answers_each_level_in_its_tail_in_closed_form_beside_body_levels(gpd_rain):
    # A period in the body came from draws, and took every period beside it along: the
    # 100-year level then moved with the seed, and differed from its value asked alone.
    alone = return_level(gpd_rain, PERIODS, confidence_level=None).level
    for seed in (0, 1):
        mixed = return_level(gpd_rain, np.append(0.1, PERIODS), confidence_level=None,
                             random_state=seed).level
        np.testing.assert_allclose(mixed[1:], alone, rtol=1e-12)
        assert 10 < mixed[0] < 30
    levels = np.array([60.0, 100.0])
    alone = return_period(gpd_rain, levels, confidence_level=None).period
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 20 mm is common: its draws resolve it, no warning
        mixed = return_period(gpd_rain, np.append(20.0, levels), confidence_level=None,
                              n_draws=20_000).period
    np.testing.assert_allclose(mixed[1:], alone, rtol=1e-12)
    assert 0 < mixed[0] < 0.32


# --- (g) the plot ---------------------------------------------------------------------------
def test_return_level_plot_draws_data_curves_and_bands(rain, gpd_rain, kde_rain, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from skqegm.plotting import plot_return_levels

    periods = np.geomspace(1, 20, 6)
    ax = plot_return_levels(rain, {"GPD": gpd_rain, "KDE": kde_rain}, return_periods=periods,
                            n_bootstrap=4, title="rain")
    assert ax.get_legend_handles_labels()[1] == [
        "data (Weibull plotting positions)", "GPD", "GPD: 95% interval (delta)", "KDE",
        "KDE: 95% interval (bootstrap)"]
    assert ax.get_xscale() == "log" and ax.get_title() == "rain"
    curve = ax.get_lines()[0].get_data()
    np.testing.assert_allclose(curve[1], return_level(gpd_rain, periods).level)
    points = ax.collections[0].get_offsets()
    n = len(rain)
    assert len(points) == np.sum((n + 1) / (np.arange(1, n + 1) * 365.25) >= 1)
    assert points[0, 1] == rain.max()  # the wettest day, at (n + 1) / 365.25 years
    ax.figure.savefig(tmp_path / "rl.png")
    matplotlib.pyplot.close(ax.figure)
    assert (tmp_path / "rl.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
