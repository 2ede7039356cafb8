import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from skqegm.datasets import (
    load_sp500_dates,
    load_sp500_returns,
    make_tail_mixture,
    tail_mixture_cdf,
    tail_mixture_logpdf,
    tail_mixture_sf,
)


def test_mixture_shapes_components_and_moments():
    X, component = make_tail_mixture(30000, random_state=0)
    assert X.shape == (30000, 1) and component.shape == (30000,)
    np.testing.assert_allclose(np.bincount(component) / 30000, [0.15, 0.7, 0.15], atol=0.01)
    x = X.ravel()
    for k, (mean, var) in enumerate([(-3, 1), (0, 0.5), (3, 1.5)]):
        assert x[component == k].mean() == pytest.approx(mean, abs=0.05)
        assert x[component == k].var() == pytest.approx(var, rel=0.05)


def test_mixture_is_reproducible_and_custom():
    a, _ = make_tail_mixture(50, random_state=1)
    b, _ = make_tail_mixture(50, random_state=1)
    np.testing.assert_array_equal(a, b)
    X, component = make_tail_mixture(100, weights=(1.0,), means=(5.0,), variances=(1e-6,),
                                     random_state=0)
    assert set(component) == {0}
    np.testing.assert_allclose(X, 5.0, atol=0.01)


def test_draws_follow_the_exact_cdf():
    X, _ = make_tail_mixture(5000, random_state=2)
    assert stats.kstest(X.ravel(), tail_mixture_cdf).pvalue > 0.01
    shifted = X.ravel() + 0.2
    assert stats.kstest(shifted, tail_mixture_cdf).pvalue < 1e-6


def test_logpdf_is_a_normalised_density_and_matches_the_cdf():
    grid = np.linspace(-15, 15, 30001)
    pdf = np.exp(tail_mixture_logpdf(grid))
    assert np.trapezoid(pdf, grid) == pytest.approx(1.0, abs=1e-8)
    cdf = tail_mixture_cdf(grid)
    assert cdf[0] == pytest.approx(0.0, abs=1e-12) and cdf[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(np.gradient(cdf, grid), pdf, atol=1e-6)


def test_logpdf_against_hand_sum_and_tails():
    x = np.array([-3.0, 0.0, 3.0])
    by_hand = (0.15 * stats.norm.pdf(x, -3, 1) + 0.7 * stats.norm.pdf(x, 0, np.sqrt(0.5))
               + 0.15 * stats.norm.pdf(x, 3, np.sqrt(1.5)))
    np.testing.assert_allclose(tail_mixture_logpdf(x.reshape(-1, 1)), np.log(by_hand))
    # logsumexp keeps far tails finite where the density underflows.
    assert np.isfinite(tail_mixture_logpdf([60.0, -60.0])).all()
    params = dict(weights=(0.5, 0.5), means=(-1, 1), variances=(1, 1))
    assert tail_mixture_cdf([0.0], **params)[0] == pytest.approx(0.5)


def test_sf_keeps_the_far_tail_that_one_minus_cdf_loses():
    # The docs gave the tail probability as 1 - cdf: 0 at x = 20 where it is 6.2e-45.
    x = np.array([-40.0, -3.0, 0.0, 3.0, 10.0, 20.0, 30.0, 40.0])
    # mpmath, 50 digits: sum_k w_k P(N(mu_k, var_k) > x)
    exact = [1.0, 0.9249921960742747, 0.49912954382208724, 0.07500773182193765,
             8.204798877487867e-10, 6.242195209240772e-45, 7.929303269371668e-109,
             1.2981416954247186e-201]
    np.testing.assert_allclose(tail_mixture_sf(x), exact, rtol=1e-12)
    np.testing.assert_allclose(tail_mixture_sf(x[:4]) + tail_mixture_cdf(x[:4]), 1.0)
    params = dict(weights=(0.5, 0.5), means=(-1, 1), variances=(1, 4))
    np.testing.assert_allclose(tail_mixture_sf([[2.0]], **params),
                               0.5 * stats.norm.sf(3.0) + 0.5 * stats.norm.sf(0.5))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_samples=0), "n_samples must be >= 1"),
        (dict(n_samples=2.5), "n_samples must be an integer"),
        (dict(weights=(0.5, 0.6, -0.1)), "weights must be non-negative and sum to 1"),
        (dict(weights=(0.2, 0.2, 0.2)), "weights must be non-negative and sum to 1"),
        (dict(variances=(1, 0, 1)), "variances must be > 0"),
        (dict(means=(0, 1)), "same length"),
        (dict(means=(0, np.nan, 1)), "means must be a non-empty 1-D sequence"),
        # numpy's "could not convert string to float" and "float() argument" named none.
        (dict(weights="abc"), "weights must be a non-empty 1-D sequence"),
        (dict(variances=(1, None, 1)), "variances must be a non-empty 1-D sequence"),
        (dict(means=[0, [1, 2], 3]), "means must be a non-empty 1-D sequence"),
        # Booleans are not numbers here either: (True, False, False) drew one mode.
        (dict(weights=(True, False, False)), "weights must be a non-empty 1-D sequence"),
        (dict(variances=np.array([True, True, True])), "variances must be a non-empty"),
    ],
)
def test_mixture_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_tail_mixture(**{"n_samples": 10, **kwargs})


def test_density_input_errors():
    with pytest.raises(ValueError, match="X contains NaN"):
        tail_mixture_logpdf([0.0, np.nan])
    with pytest.raises(ValueError, match=r"shape \(n_samples,\) or \(n_samples, 1\)"):
        tail_mixture_cdf(np.zeros((3, 2)))


def test_sp500_returns():
    r = load_sp500_returns()
    assert isinstance(r, np.ndarray) and r.shape == (5030,)
    assert r.std() == pytest.approx(0.0121, abs=0.0005)
    assert stats.kurtosis(r) > 5  # fat tails
    from arch.data import sp500

    prices = sp500.load()["Adj Close"].to_numpy()
    np.testing.assert_allclose(r, np.diff(np.log(prices)))


def test_sp500_returns_as_frame():
    s = load_sp500_returns(as_frame=True)
    assert isinstance(s, pd.Series) and isinstance(s.index, pd.DatetimeIndex)
    assert s.index[0] == pd.Timestamp("1999-01-05") and s.index[-1] == pd.Timestamp("2018-12-31")
    assert s.index.is_monotonic_increasing
    np.testing.assert_array_equal(s.to_numpy(), load_sp500_returns())


@pytest.mark.parametrize("as_frame", ["no", 1, None])
def test_sp500_returns_refuses_an_as_frame_that_is_not_a_bool(as_frame):
    # As load_daily_rainfall and load_intrusion do: "no" returned a Series.
    with pytest.raises(ValueError, match="as_frame must be one of False, True"):
        load_sp500_returns(as_frame=as_frame)


def test_sp500_needs_neither_arch_nor_pandas_without_frames(monkeypatch):
    for name in ("arch", "arch.data", "arch.data.sp500", "pandas"):
        monkeypatch.setitem(sys.modules, name, None)
    assert load_sp500_returns().shape == (5030,)
    dates = load_sp500_dates()
    assert dates.shape == (5030,) and dates.dtype == np.dtype("datetime64[D]")
    assert str(dates[0]) == "1999-01-05" and np.all(np.diff(dates).astype(int) > 0)
    with pytest.raises(ImportError, match=r"pip install skqegm\[data\]"):
        load_sp500_returns(as_frame=True)
