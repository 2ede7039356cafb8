import datetime
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skqegm.preprocessing import (
    QuantileTailLabeler,
    SigmaThresholdLabeler,
    log_returns,
    make_lagged_features,
    make_tail_labels,
    make_tail_pipeline,
    splits,
    train_val_test_split,
)

# --- labelers ---------------------------------------------------------------------------


@pytest.mark.parametrize("labeler", [SigmaThresholdLabeler(k=0.5), QuantileTailLabeler(0.2)],
                         ids=lambda labeler: type(labeler).__name__)
def test_labelers_refuse_booleans(labeler):
    # A flag column was read as the values 0 and 1 and got thresholds and "rare" rows,
    # silently, where the metrics and plots refuse booleans.
    flags = np.array([True, False, True, True, False])
    frame = pd.DataFrame({"r": np.linspace(-1.0, 1.0, 5), "flag": flags})
    match = rf"{type(labeler).__name__}: X must hold real numbers; got booleans"
    for X in (flags[:, None], flags[:, None].tolist(), frame):
        with pytest.raises(ValueError, match=match):
            clone(labeler).fit(X)
    fitted = clone(labeler).fit(flags[:, None].astype(float))
    with pytest.raises(ValueError, match=match):
        fitted.transform(flags[:, None])
    with pytest.raises(ValueError, match="make_tail_labels: y must hold real numbers"):
        make_tail_labels(flags.tolist())


def test_sigma_labeler_learns_eq8_thresholds_per_column():
    X = np.random.RandomState(0).normal([0.0, 10.0], [1.0, 3.0], size=(500, 2))
    labeler = SigmaThresholdLabeler(k=2.0).fit(X)
    np.testing.assert_allclose(labeler.mean_, X.mean(axis=0))
    np.testing.assert_allclose(labeler.scale_, X.std(axis=0))
    np.testing.assert_allclose(labeler.threshold_, X.mean(axis=0) - 2.0 * X.std(axis=0))
    np.testing.assert_array_equal(labeler.tail_threshold_[0], labeler.threshold_)
    np.testing.assert_allclose(labeler.tail_threshold_[1], X.mean(axis=0) + 2.0 * X.std(axis=0))
    labels = labeler.transform(X)
    assert labels.shape == X.shape and labels.dtype.kind == "i"
    np.testing.assert_array_equal(labels, (X < labeler.threshold_).astype(int))


def test_sigma_labeler_upper_and_both_sides():
    X = np.array([[-10.0], [0.0], [0.1], [-0.1], [0.2], [-0.2], [10.0]])
    upper = SigmaThresholdLabeler(k=1.5, side="upper").fit(X)
    np.testing.assert_allclose(upper.threshold_, X.mean(0) + 1.5 * X.std(0))
    assert upper.transform(X).ravel().tolist() == [0, 0, 0, 0, 0, 0, 1]
    both = SigmaThresholdLabeler(k=1.5, side="both").fit(X)
    assert not hasattr(both, "threshold_")
    assert both.lower_[0] < 0 < both.upper_[0]
    assert both.transform(X).ravel().tolist() == [1, 0, 0, 0, 0, 0, 1]


def test_labeler_uses_training_thresholds_on_new_data():
    labeler = SigmaThresholdLabeler(k=1.0).fit(np.array([[0.0], [2.0]]))  # mean 1, std 1
    assert labeler.transform(np.array([[-0.5], [0.5], [100.0]])).ravel().tolist() == [1, 0, 0]


def test_constant_column_has_no_rare_value():
    X = np.full((10, 1), 3.0)
    assert SigmaThresholdLabeler(side="both").fit_transform(X).sum() == 0
    assert QuantileTailLabeler(side="both", tail_fraction=0.1).fit_transform(X).sum() == 0


@pytest.mark.parametrize("side, expected", [("upper", 10), ("lower", 10), ("both", 20)])
def test_quantile_labeler_rate_matches_tail_fraction(side, expected):
    X = np.random.RandomState(1).standard_normal((1000, 3))
    labels = QuantileTailLabeler(tail_fraction=0.01, side=side).fit_transform(X)
    assert labels.sum(axis=0).tolist() == [expected] * 3


def test_quantile_labeler_thresholds_are_quantiles():
    X = np.random.RandomState(2).exponential(size=(300, 2))
    labeler = QuantileTailLabeler(tail_fraction=0.05, side="both").fit(X)
    np.testing.assert_allclose(labeler.lower_, np.quantile(X, 0.05, axis=0))
    np.testing.assert_allclose(labeler.upper_, np.quantile(X, 0.95, axis=0))
    # The same numbers as np.quantile, in the package's (2, n_features) layout.
    np.testing.assert_array_equal(labeler.tail_threshold_, [np.quantile(X, 0.05, axis=0),
                                                            np.quantile(X, 0.95, axis=0)])
    upper = QuantileTailLabeler(tail_fraction=0.05).fit(X)
    np.testing.assert_array_equal(upper.threshold_, np.quantile(X, 0.95, axis=0))
    np.testing.assert_array_equal(upper.tail_threshold_, labeler.tail_threshold_)


def test_quantile_thresholds_of_values_more_than_the_largest_float_apart():
    # numpy interpolated across the gap with b - a = inf: the lower threshold was inf and
    # every value rare. By hand: position 0.3 between -1.5e308 and 1e308 is -0.75e308;
    # position 2.7 between 1.2e308 and 1.5e308 is 1.41e308.
    X = np.array([[-1.5e308, 1e-300], [1e308, 2e-300], [1.2e308, 3e-300], [1.5e308, 4e-300]])
    labeler = QuantileTailLabeler(tail_fraction=0.1, side="both").fit(X)
    np.testing.assert_allclose(labeler.tail_threshold_[:, 0], [-0.75e308, 1.41e308], rtol=1e-14)
    # a column without overflow is np.quantile's, unchanged
    np.testing.assert_array_equal(labeler.tail_threshold_[:, 1], np.quantile(X[:, 1], [0.1, 0.9]))
    lower = QuantileTailLabeler(tail_fraction=0.1, side="lower").fit(X[:, :1])
    assert lower.transform(X[:, :1]).ravel().tolist() == [1, 0, 0, 0]


def test_labelers_agree_with_scikit_learn_s_scaler_and_quantile_bins():
    # Independent references: a value is sigma-rare where StandardScaler's z-score is
    # beyond k, and quantile-rare where KBinsDiscretizer's linear quantile bins put it
    # in the first or last of 10 bins (continuous data: no value on an edge).
    from sklearn.preprocessing import KBinsDiscretizer

    X = np.random.default_rng(0).standard_t(3, size=(997, 2)) * [1.0, 50.0] + [0.0, 7.0]
    z = StandardScaler().fit(X).transform(X)
    for side, expected in [("lower", z < -2), ("upper", z > 2), ("both", np.abs(z) > 2)]:
        labels = SigmaThresholdLabeler(k=2.0, side=side).fit_transform(X)
        np.testing.assert_array_equal(labels, expected.astype(int))
    bins = KBinsDiscretizer(n_bins=10, strategy="quantile", quantile_method="linear",
                            encode="ordinal").fit(X)
    labeler = QuantileTailLabeler(tail_fraction=0.1, side="both").fit(X)
    edges = np.array([column_edges[[1, -2]] for column_edges in bins.bin_edges_]).T
    np.testing.assert_allclose(labeler.tail_threshold_, edges, rtol=1e-15)
    ordinal = bins.transform(X)
    for side, expected in [("lower", ordinal == 0), ("upper", ordinal == 9)]:
        labels = QuantileTailLabeler(tail_fraction=0.1, side=side).fit_transform(X)
        np.testing.assert_array_equal(labels, expected.astype(int))


def test_labelers_flag_strictly_beyond_the_side_threshold():
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    thresholds = QuantileTailLabeler(tail_fraction=0.25, side="both").fit(X).tail_threshold_
    np.testing.assert_array_equal(thresholds.ravel(), [1.0, 3.0])
    for side, expected in [("lower", [1, 0, 0, 0, 0]), ("upper", [0, 0, 0, 0, 1]),
                           ("both", [1, 0, 0, 0, 1])]:
        labeler = QuantileTailLabeler(tail_fraction=0.25, side=side).fit(X)
        assert labeler.transform(X).ravel().tolist() == expected  # 1.0 and 3.0 are not rare


def test_quantile_labeler_renamed_q_to_tail_fraction():
    assert QuantileTailLabeler(tail_fraction=0.2).get_params()["tail_fraction"] == 0.2
    with pytest.raises(TypeError, match="'q'"):
        QuantileTailLabeler(q=0.05)
    with pytest.raises(TypeError, match="'q'"):
        make_tail_labels([1.0, 2.0, 3.0], method="quantile", q=0.05)


def test_labelers_feature_names_out():
    X = pd.DataFrame({"spx": [0.1, -0.2, 0.3], "ndx": [0.0, 0.1, -0.1]})
    names = SigmaThresholdLabeler().fit(X).get_feature_names_out()
    assert names.tolist() == ["spx", "ndx"]
    out = QuantileTailLabeler().set_output(transform="pandas").fit_transform(X)
    assert list(out.columns) == ["spx", "ndx"]


@pytest.mark.parametrize("labeler", [SigmaThresholdLabeler(k=1.0), QuantileTailLabeler()])
def test_labelers_transform_follows_set_output(labeler):
    # transform returned a numpy array under set_output(transform="pandas"), where
    # fit_transform returned a DataFrame: scikit-learn only wraps a class's own methods.
    X = pd.DataFrame({"spx": [0.1, -0.2, 0.3, -2.0]}, index=[5, 6, 7, 8])
    labeler.set_output(transform="pandas").fit(X)
    out = labeler.transform(X)
    assert isinstance(out, pd.DataFrame) and out.index.tolist() == [5, 6, 7, 8]
    pd.testing.assert_frame_equal(out, labeler.fit_transform(X))


_SIDE = r"must be a str among \{'(lower|upper|both)', '(lower|upper|both)', '(lower|upper|both)'\}"
_K = r"The 'k' parameter of SigmaThresholdLabeler must be a float in the range \(0.0, inf\)"
_FRACTION = (r"The 'tail_fraction' parameter of QuantileTailLabeler must be a float in the "
             r"range \(0.0, 1.0\)")


@pytest.mark.parametrize(
    "labeler, match",
    [
        (SigmaThresholdLabeler(side="left"),
         "The 'side' parameter of SigmaThresholdLabeler " + _SIDE),
        (QuantileTailLabeler(side="left"), "The 'side' parameter of QuantileTailLabeler " + _SIDE),
        (SigmaThresholdLabeler(k=0), _K),
        (SigmaThresholdLabeler(k=-1.0), _K),
        (SigmaThresholdLabeler(k="2"), _K),
        (QuantileTailLabeler(tail_fraction=0.0), _FRACTION),
        (QuantileTailLabeler(tail_fraction=1.0), _FRACTION),
    ],
)
def test_labeler_bad_parameters(labeler, match):
    with pytest.raises(InvalidParameterError, match=match):
        labeler.fit(np.ones((5, 1)))


@pytest.mark.parametrize("tail_fraction", [0.5, 0.7])
def test_quantile_labeler_both_sides_need_tail_fraction_below_one_half(tail_fraction):
    match = (r"with side='both', tail_fraction must be in \(0, 0.5\) \(each side takes "
             rf"tail_fraction\); got tail_fraction={tail_fraction}")
    with pytest.raises(ValueError, match=match) as info:
        QuantileTailLabeler(tail_fraction=tail_fraction, side="both").fit(np.ones((5, 1)))
    assert not isinstance(info.value, InvalidParameterError)  # a cross-parameter rule
    # One side alone may take more than half.
    assert QuantileTailLabeler(tail_fraction=tail_fraction).fit(np.ones((5, 1))).threshold_ == 1


def test_labeler_rejects_nan_and_feature_mismatch():
    with pytest.raises(ValueError, match="NaN"):
        SigmaThresholdLabeler().fit(np.array([[1.0], [np.nan]]))
    labeler = SigmaThresholdLabeler().fit(np.ones((5, 2)))
    with pytest.raises(ValueError, match="features"):
        labeler.transform(np.ones((5, 3)))


def test_make_tail_labels_matches_labelers():
    y = np.random.RandomState(3).standard_t(3, size=400)
    sigma = make_tail_labels(y, k=2.0, side="both")
    expected = SigmaThresholdLabeler(k=2.0, side="both").fit_transform(y.reshape(-1, 1))
    np.testing.assert_array_equal(sigma, expected.ravel())
    quantile = make_tail_labels(y, method="quantile", tail_fraction=0.05, side="upper")
    assert quantile.shape == (400,) and quantile.sum() == 20


def test_make_tail_labels_errors():
    with pytest.raises(ValueError, match="method must be one of 'sigma', 'quantile'"):
        make_tail_labels([1.0, 2.0], method="gpd")
    with pytest.raises(ValueError, match="y must be 1-D or a single column"):
        make_tail_labels(np.ones((4, 2)))
    with pytest.raises(ValueError, match="y contains NaN"):
        make_tail_labels([1.0, np.nan, 2.0])


# --- financial features -----------------------------------------------------------------


def test_log_returns_numpy_1d_and_2d():
    prices = np.array([100.0, 110.0, 121.0])
    np.testing.assert_allclose(log_returns(prices), np.log([1.1, 1.1]))
    two = np.column_stack([prices, prices[::-1]])
    out = log_returns(two)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out[:, 1], -np.log([1.1, 1.1]))


def test_log_returns_pandas_keeps_kind_and_index():
    index = pd.date_range("2020-01-01", periods=4, freq="D")
    prices = pd.Series([1.0, 2.0, 4.0, 2.0], index=index, name="spx")
    out = log_returns(prices)
    assert isinstance(out, pd.Series) and out.name == "spx"
    assert out.index.equals(index[1:])
    np.testing.assert_allclose(out.to_numpy(), np.log([2.0, 2.0, 0.5]))
    frame = log_returns(pd.DataFrame({"a": [1, 2, 4], "b": [4, 2, 1]}, index=index[:3]))
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["a", "b"]
    np.testing.assert_allclose(frame["b"].to_numpy(), np.log([0.5, 0.5]))


@pytest.mark.parametrize(
    "prices, match",
    [
        ([100.0], "at least 2 rows"),
        ([100.0, 0.0, 1.0], "strictly positive"),
        ([100.0, -1.0], "strictly positive"),
        ([100.0, np.nan, 1.0], "prices contains NaN"),
        (np.ones((2, 2, 2)), "prices"),
    ],
)
def test_log_returns_errors(prices, match):
    with pytest.raises(ValueError, match=match):
        log_returns(prices)


@pytest.mark.parametrize("make", [
    lambda flags: flags,  # ndarray
    lambda flags: flags.tolist(),
    lambda flags: pd.Series(flags, index=pd.date_range("2020-01-01", periods=len(flags))),
    lambda flags: pd.Series(flags, dtype="boolean"),
    lambda flags: pd.DataFrame({"up": flags, "level": np.arange(1.0, len(flags) + 1)}),
])
def test_return_helpers_refuse_booleans(make):
    # check_array read True as 1.0: log_returns of a flag column gave returns of 0 and
    # make_lagged_features lagged flags, silently.
    flags = np.ones(30, dtype=bool)
    flags[::3] = False
    with pytest.raises(ValueError, match="prices must hold real numbers; got booleans"):
        log_returns(make(np.ones(30, dtype=bool)))
    if not isinstance(make(flags), pd.DataFrame):
        with pytest.raises(ValueError, match="returns must hold real numbers; got booleans"):
            make_lagged_features(make(flags))
    # 0 / 1 as numbers are numbers
    assert make_lagged_features(flags.astype(float))[0].shape == (8, 5)


def test_return_helpers_refuse_strings_and_object_flags():
    # check_array parsed numeric strings silently (a column read as text), which the rest
    # of skqegm refuses, and an object array of flags was read as 1.0 and 0.0.
    with pytest.raises(ValueError, match="prices must hold real numbers; got strings"):
        log_returns(np.array(["100", "101"]))
    with pytest.raises(ValueError, match="prices must hold real numbers; got strings"):
        log_returns(pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}))
    with pytest.raises(ValueError, match="returns must hold real numbers; got strings"):
        make_lagged_features(pd.Series(["0.01"] * 30))
    with pytest.raises(ValueError, match="prices must hold real numbers; got booleans"):
        log_returns(np.array([True, True, True], dtype=object))
    # an object array of numbers is numbers
    np.testing.assert_allclose(log_returns(np.array([1, 2.0], dtype=object)), [np.log(2)])


def test_lagged_features_values_and_alignment():
    r = np.random.RandomState(4).standard_normal(60)
    X, y = make_lagged_features(r, lags=(1, 3), vol_windows=(4,))
    assert X.shape == (56, 3) and y.shape == (56,)
    for row, t in [(0, 4), (10, 14), (55, 59)]:
        assert y[row] == r[t]
        assert X[row, 0] == r[t - 1] and X[row, 1] == r[t - 3]
        assert X[row, 2] == pytest.approx(np.std(r[t - 4:t], ddof=1))


def test_lagged_features_have_no_look_ahead():
    r = np.random.RandomState(5).standard_normal(100)
    X, _ = make_lagged_features(r)
    changed = r.copy()
    changed[70:] = 1e3  # rewrite the future from t = 70 on
    X_changed, y_changed = make_lagged_features(changed)
    start = 22
    # Rows whose target is at t <= 70 only use r[:70]: unchanged.
    np.testing.assert_array_equal(X_changed[: 70 - start + 1], X[: 70 - start + 1])
    assert not np.array_equal(X_changed[70 - start + 1], X[70 - start + 1])
    assert y_changed[70 - start] == 1e3


def test_lagged_features_pandas():
    index = pd.date_range("2021-01-01", periods=30, freq="B")
    r = pd.Series(np.random.RandomState(6).standard_normal(30), index=index, name="r")
    X, y = make_lagged_features(r)
    assert list(X.columns) == ["lag_1", "lag_2", "lag_5", "vol_5", "vol_22"]
    assert X.index.equals(index[22:]) and y.index.equals(index[22:]) and y.name == "r"
    rolling = r.rolling(22).std().shift(1)
    np.testing.assert_allclose(X["vol_22"].to_numpy(), rolling.iloc[22:].to_numpy())
    np.testing.assert_allclose(X["lag_5"].to_numpy(), r.shift(5).iloc[22:].to_numpy())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lags=(1, 1)), "lags must not repeat"),
        (dict(lags=(0,)), "each of lags must be >= 1"),
        (dict(vol_windows=(1,)), "each of vol_windows must be >= 2"),
        (dict(lags=(), vol_windows=()), "cannot both be empty"),
        (dict(lags=5), "lags must be a sequence"),
        (dict(lags=(1.5,)), "each of lags must be an integer"),
        (dict(lags=(30,), vol_windows=()), "need more than 30"),
    ],
)
def test_lagged_features_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_lagged_features(np.zeros(30), **kwargs)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("scale", [1e155, 1e300, 1e-170, 1e-300])
def test_lagged_volatilities_do_not_depend_on_the_units(scale):
    # The squares of the rolling standard deviations overflowed (inf) or underflowed (0).
    r = np.random.RandomState(3).standard_normal(60)
    X, y = make_lagged_features(r)
    X_scaled, y_scaled = make_lagged_features(r * scale)
    np.testing.assert_allclose(X_scaled / scale, X, rtol=1e-14)
    np.testing.assert_array_equal(y_scaled, r[22:] * scale)


def test_lagged_volatilities_are_computed_in_pieces_that_fit_working_memory():
    # std over a sliding window view copies the whole (n_rows, window) matrix, twice: 100
    # times the output for a 200-row window, 15 GB for 2.5 million minutes and a 390-row
    # window.
    import tracemalloc

    from sklearn import config_context

    r = np.random.default_rng(0).standard_normal(20_000)
    windows = np.lib.stride_tricks.sliding_window_view(r, 100)[:-1]
    tracemalloc.start()
    try:
        with config_context(working_memory=1):
            X, _ = make_lagged_features(r, lags=(), vol_windows=(100,))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(X[:, 0], windows.std(axis=1, ddof=1))
    assert peak < 4 * 2**20, peak  # the whole matrix is 16 MB


def test_lagged_features_rejects_2d_returns():
    with pytest.raises(ValueError, match=r"returns must be 1-D or a single column of shape "
                                         r"\(n_samples, 1\); got shape \(40, 2\)"):
        make_lagged_features(np.zeros((40, 2)))


def test_a_single_column_is_one_dimensional():
    # log_returns of a one-column frame is a one-column frame; it was refused here, as
    # a column vector was by make_tail_labels (walk_forward and scikit-learn take both).
    index = pd.date_range("2020-01-01", periods=40)
    r = pd.Series(np.random.default_rng(5).standard_normal(40), index=index, name="spx")
    X, y = make_lagged_features(r)
    X_frame, y_frame = make_lagged_features(r.to_frame())
    pd.testing.assert_frame_equal(X_frame, X)
    pd.testing.assert_series_equal(y_frame, y)
    X_column, y_column = make_lagged_features(r.to_numpy()[:, None])
    np.testing.assert_array_equal(X_column, X.to_numpy())
    assert y_column.shape == (18,)  # 40 returns, the first 22 only history
    labels = make_tail_labels(r.to_numpy()[:, None], k=1.0)
    np.testing.assert_array_equal(labels, make_tail_labels(r.to_numpy(), k=1.0))
    assert labels.shape == (40,)


@pytest.mark.parametrize("order, word", [(slice(None, None, -1), "newest first"),
                                         ([1, 0] + list(range(2, 30)), "out of order"),
                                         ([0] + list(range(29)), "repeated dates")])
def test_returns_and_prices_with_dates_must_be_in_time_order(order, word):
    # A series newest first (as some downloads come) gave features from the future and
    # returns of the wrong sign, silently.
    index = pd.date_range("2021-01-01", periods=30, freq="B")
    r = pd.Series(np.random.RandomState(6).standard_normal(30), index=index)
    with pytest.raises(ValueError, match=f"returns must be in time order.*{word}"):
        make_lagged_features(r.iloc[order])
    with pytest.raises(ValueError, match=f"prices must be in time order.*{word}"):
        log_returns(np.exp(r).iloc[order])
    with pytest.raises(ValueError, match="prices must be in time order"):
        log_returns(np.exp(r).to_frame().to_period("D").iloc[order])
    # labels that are not dates say nothing about time: taken in the order given
    X, _ = make_lagged_features(r.reset_index(drop=True).iloc[::-1])
    np.testing.assert_array_equal(X["lag_1"].to_numpy(), r.to_numpy()[::-1][21:-1])


def test_an_index_of_date_strings_is_read_as_dates():
    # pandas.read_csv(index_col=0) without parse_dates indexes by the date strings: a
    # download newest first gave returns of the wrong sign, features from the future and a
    # test part older than training, silently.
    index = pd.date_range("2021-01-01", periods=30, freq="B").strftime("%Y-%m-%d")
    r = pd.Series(np.random.RandomState(6).standard_normal(30), index=index)
    newest_first = r.iloc[::-1]
    with pytest.raises(ValueError, match="prices must be in time order.*newest first"):
        log_returns(np.exp(newest_first))
    with pytest.raises(ValueError, match="returns must be in time order.*newest first"):
        make_lagged_features(newest_first)
    with pytest.raises(ValueError, match="X must be in time order.*newest first"):
        train_val_test_split(newest_first.to_frame(), shuffle=False)
    # in time order they pass, as dates with times and offsets do; other text says nothing
    # about time
    np.testing.assert_allclose(log_returns(np.exp(r)).to_numpy(), np.diff(r.to_numpy()))
    stamps = pd.Index(["2021-01-04 09:30:00-05:00", "2021-01-04 15:00:00+01:00"])
    with pytest.raises(ValueError, match="newest first"):
        log_returns(pd.Series([1.0, 2.0], index=stamps))
    assert log_returns(pd.Series([1.0, 2.0], index=["b", "a"])).index.tolist() == ["a"]


def test_an_index_of_date_objects_is_read_as_dates():
    # series.index.date (an object index of datetime.date) newest first passed unchecked:
    # log returns of the wrong sign and lagged features from the future, silently.
    index = pd.date_range("2021-01-01", periods=30, freq="B")
    r = pd.Series(np.random.RandomState(6).standard_normal(30), index=index.date)
    with pytest.raises(ValueError, match="prices must be in time order.*newest first"):
        log_returns(np.exp(r.iloc[::-1]))
    with pytest.raises(ValueError, match="returns must be in time order.*out of order"):
        make_lagged_features(r.iloc[[1, 0] + list(range(2, 30))])
    with pytest.raises(ValueError, match="X must be in time order.*newest first"):
        train_val_test_split(r.iloc[::-1].to_frame(), shuffle=False)
    # Timestamps and datetimes in an object index (mixed time zones) count too
    mixed = pd.Index([pd.Timestamp("2021-01-04", tz="UTC"), datetime.datetime(2021, 1, 5)],
                     dtype=object)
    with pytest.raises(ValueError, match="newest first"):
        log_returns(pd.Series([1.0, 2.0], index=mixed[::-1]))
    np.testing.assert_allclose(log_returns(np.exp(r)).to_numpy(), np.diff(r.to_numpy()))


def test_a_panel_is_refused_where_rows_are_one_series():
    # A MultiIndex (entity x date) passed unchecked: entity B's first log return was
    # log(B's first price / A's last price), its first lags A's last returns, silently.
    dates = pd.date_range("2021-01-01", periods=30)
    index = pd.MultiIndex.from_product([["A", "B"], dates], names=["entity", "date"])
    prices = pd.Series(np.exp(np.random.RandomState(6).standard_normal(60)), index=index)
    for function, name in ((log_returns, "prices"), (make_lagged_features, "returns")):
        with pytest.raises(ValueError, match=rf"{name} has a MultiIndex.*{function.__name__} "
                                             r"reads its rows as one series.*groupby\(level"):
            function(prices)
    # per entity, as the message says, each starts afresh
    r = prices.groupby(level=0, group_keys=False).apply(log_returns)
    assert len(r) == 58
    np.testing.assert_allclose(r.loc["B"].to_numpy(), np.diff(np.log(prices.loc["B"])))
    X, _ = make_lagged_features(r.xs("B", level=0))
    np.testing.assert_allclose(X["lag_1"].to_numpy(), r.loc["B"].to_numpy()[21:-1])
    # a chronological split needs the panel sorted by date, not by entity
    with pytest.raises(ValueError, match=r"X must be in time order.*out of order.*"
                                         r"sort_index\(level='date'"):
        train_val_test_split(prices.to_frame(), shuffle=False)
    by_date = prices.sort_index(level="date", sort_remaining=False)
    X_tr, _, X_te = train_val_test_split(by_date, shuffle=False)[:3]
    assert X_tr.index.get_level_values("date").max() <= X_te.index.get_level_values(
        "date").min()


def test_a_missing_date_is_named_not_called_out_of_order():
    # A NaT in the index was reported as dates "out of order", which sorting did not fix.
    index = pd.date_range("2021-01-01", periods=30).insert(3, pd.NaT)
    prices = pd.Series(np.linspace(1.0, 2.0, 31), index=index)
    with pytest.raises(ValueError, match=r"prices's index holds a missing date \(NaT\) in 1 "
                                         r"row\(s\), the first at position 3"):
        log_returns(prices)
    with pytest.raises(ValueError, match=r"X's index holds a missing date \(NaT\)"):
        train_val_test_split(prices.to_frame().to_period("D"), shuffle=False)


# --- pipelines --------------------------------------------------------------------------


def test_finance_and_climate_pipelines():
    X = np.random.RandomState(7).normal(5.0, 3.0, size=(200, 2))
    finance = make_tail_pipeline(KernelDensity(), kind="finance").fit(X)
    assert isinstance(finance.named_steps["preprocess"], StandardScaler)
    z = finance.named_steps["preprocess"].transform(X)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(0), 1)
    climate = make_tail_pipeline(KernelDensity(), kind="climate").fit(X)
    assert isinstance(climate.named_steps["preprocess"], MinMaxScaler)
    scaled = climate.named_steps["preprocess"].transform(X)
    assert scaled.min() == pytest.approx(0.0) and scaled.max() == pytest.approx(1.0)
    pipe = make_tail_pipeline(KernelDensity())
    pipe.set_params(estimator__bandwidth=0.7)
    assert pipe.named_steps["estimator"].bandwidth == 0.7


def test_intrusion_pipeline_one_hot_ignores_unknown_categories():
    train = pd.DataFrame({"proto": ["tcp", "udp", "tcp", "icmp"], "bytes": [1.0, 2.0, 3.0, 4.0]})
    pipe = make_tail_pipeline(KernelDensity(), kind="intrusion").fit(train)
    pre = pipe.named_steps["preprocess"]
    assert list(pre.get_feature_names_out()) == [
        "proto_icmp", "proto_tcp", "proto_udp", "bytes"
    ]
    test = pd.DataFrame({"proto": ["gre", "udp"], "bytes": [2.5, 2.5]})
    out = pre.transform(test)
    np.testing.assert_array_equal(out[:, :3], [[0, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(out[:, 3], 0.0)  # 2.5 is the training mean
    assert pipe.score_samples(test).shape == (2,)


def test_intrusion_pipeline_explicit_columns_on_arrays():
    X = np.array([[0, 10.0], [1, 20.0], [2, 30.0], [0, 40.0]])
    pipe = make_tail_pipeline(KernelDensity(), kind="intrusion", categorical_features=[0])
    out = pipe.fit(X).named_steps["preprocess"].transform(X)
    assert out.shape == (4, 4)
    np.testing.assert_array_equal(out[:, :3].sum(axis=1), 1)
    np.testing.assert_allclose(out[:, 3].std(), 1)


def test_intrusion_pipeline_on_an_array_without_columns_names_categorical_features():
    # scikit-learn's "make_column_selector can only be applied to pandas dataframes".
    X = np.array([[0, 10.0], [1, 20.0], [2, 30.0], [0, 40.0]])
    pipe = make_tail_pipeline(KernelDensity(), kind="intrusion")
    with pytest.raises(ValueError, match="Pass categorical_features"):
        pipe.fit(X)
    frame = pd.DataFrame({"proto": ["tcp", "udp", "tcp", "icmp"], "bytes": X[:, 1]})
    fitted = pickle.loads(pickle.dumps(clone(pipe).fit(frame)))
    assert fitted.named_steps["preprocess"].transform(frame).shape == (4, 4)


@pytest.mark.parametrize("columns, data, match", [
    (["protocol"], "frame", r"categorical_features holds 'protocol', which is not a column of "
                            r"X; its columns are: proto, bytes\."),
    ([5], "array", r"categorical_features holds 5, which is not a column index of X: X has 2 "
                   r"columns \(0 to 1"),
    (["proto"], "array", r"categorical_features names the column 'proto', but X has no column "
                         r"names \(ndarray of 2 columns\); pass the categorical columns' "
                         "indices"),
    ([True], "array", "categorical_features is a boolean mask of 1 columns; X has 2"),
    ([], "frame", r"the column 'proto' of X holds text but is not in categorical_features"),
    ([1], "objects", r"the column index 0 of X holds text but is not in categorical_features"),
])
def test_intrusion_pipeline_names_wrong_categorical_features(columns, data, match):
    # scikit-learn's errors came from deep inside, without the parameter's name: "all
    # features must be in [0, 1] or [-2, 0]", "could not convert string to float: 'tcp'".
    X = np.array([[0, 10.0], [1, 20.0], [2, 30.0], [0, 40.0]])
    frame = pd.DataFrame({"proto": ["tcp", "udp", "tcp", "icmp"], "bytes": X[:, 1]})
    X = {"frame": frame, "array": X, "objects": frame.to_numpy(object)}[data]
    pipe = make_tail_pipeline(KernelDensity(), kind="intrusion", categorical_features=columns)
    with pytest.raises(ValueError, match=match):
        pipe.fit(X)


@pytest.mark.parametrize("columns, match", [
    ("proto", r"must be a list of column names or indices; got 'proto' \(one column: pass "
              r"\['proto'\]\)"),
    (1, r"got 1 \(one column: pass \[1\]\)"),
    ([0.5], r"must hold column names \(str\), column indices \(int\) or a boolean mask, one "
            r"kind only; got \[0.5\]"),
    (["proto", 1], "one kind only"),
    (["proto", "proto"], "must not repeat a column"),
])
def test_intrusion_pipeline_refuses_categorical_features_no_x_can_match(columns, match):
    with pytest.raises(ValueError, match=match):
        make_tail_pipeline(KernelDensity(), kind="intrusion", categorical_features=columns)


def test_intrusion_pipeline_checked_columns_clone_pickle_and_repr():
    frame = pd.DataFrame({"proto": ["tcp", "udp", "tcp", "icmp"], "bytes": [1.0, 2, 3, 4]})
    for columns in (["proto"], [0], [True, False], pd.Index(["proto"])):
        pipe = make_tail_pipeline(KernelDensity(), kind="intrusion",
                                  categorical_features=columns)
        fitted = pickle.loads(pickle.dumps(clone(pipe).fit(frame)))
        assert fitted.named_steps["preprocess"].transform(frame).shape == (4, 4)
    assert "[0])]" in repr(make_tail_pipeline(KernelDensity(), kind="intrusion",
                                              categorical_features=[0]))


def test_pipeline_errors():
    with pytest.raises(ValueError, match="kind must be one of 'finance', 'climate', 'intrusion'"):
        make_tail_pipeline(KernelDensity(), kind="weather")
    with pytest.raises(ValueError, match="categorical_features is only used"):
        make_tail_pipeline(KernelDensity(), kind="finance", categorical_features=[0])
    with pytest.raises(TypeError, match="estimator must have a fit method"):
        make_tail_pipeline("kde")


# --- splits -----------------------------------------------------------------------------


def test_split_sizes_and_partition():
    X = np.arange(1000).reshape(-1, 1)
    y = np.arange(1000)
    X_tr, X_va, X_te, y_tr, y_va, y_te = train_val_test_split(X, y, random_state=0)
    assert (len(X_tr), len(X_va), len(X_te)) == (700, 150, 150)
    np.testing.assert_array_equal(X_tr.ravel(), y_tr)
    together = np.sort(np.concatenate([y_tr, y_va, y_te]))
    np.testing.assert_array_equal(together, np.arange(1000))


def test_stratified_split_preserves_rare_rate():
    rng = np.random.RandomState(8)
    y = np.zeros(2000, dtype=int)
    y[rng.choice(2000, 40, replace=False)] = 1  # 2% rare
    X = rng.standard_normal((2000, 3))
    parts = train_val_test_split(X, y, stratify=y, random_state=1)
    y_tr, y_va, y_te = parts[3:]
    assert (y_tr.sum(), y_va.sum(), y_te.sum()) == (28, 6, 6)
    rates = [y_part.mean() for y_part in parts[3:]]
    np.testing.assert_allclose(rates, 0.02)


def test_stratified_split_refuses_to_leave_a_class_out_of_a_part():
    # 3 rare rows in 100 passed the check of 3 members, and the test part got none.
    X = np.arange(100).reshape(-1, 1)
    y = (np.arange(100) < 3).astype(int)
    with pytest.raises(ValueError, match=r"class 1 \(3 members\) can get no member in the "
                                         r"test part \(15 rows"):
        train_val_test_split(X, y, stratify=y, random_state=0)
    y[:7] = 1  # 7 x 0.15 = 1.05: one rare row in each of validation and test
    parts = train_val_test_split(X, y, stratify=y, random_state=0)
    assert [int(part.sum()) for part in parts[3:]] == [5, 1, 1]
    # Two classes of 3 in 6 rows: one validation and one test row cannot hold both
    # (scikit-learn's "The test_size = 1 should be greater or equal to the number of
    # classes = 2").
    with pytest.raises(ValueError, match="stratify has 2 classes, more than the 1 rows"):
        train_val_test_split(X[:6], stratify=np.repeat([0, 1], 3), random_state=0)


def test_stratified_refusals_depend_on_the_counts_not_the_seed():
    # scikit-learn gives a class the floor of its share, and the last rows to the largest
    # remainders, breaking ties at random: with classes of 10, 4 and 7 rows, seeds 1, 2
    # and 7 of 0-11 left class 1 or 2 out of a part (refused), the others did not.
    y = np.repeat([0, 1, 2], [10, 4, 7])
    X = np.arange(len(y)).reshape(-1, 1)
    for seed in range(12):
        with pytest.raises(ValueError, match=r"can get no member in the .* refused for every "
                                             r"random_state"):
            train_val_test_split(X, y, stratify=y, random_state=seed)
    # Classes of 6, 9 and 9, or 30 classes of 7: tie-breaks too (435 in the first split
    # of the 30), but each outcome fills every part.
    for y in (np.repeat([0, 1, 2], [6, 9, 9]), np.repeat(np.arange(30), 7)):
        for seed in range(6):
            parts = train_val_test_split(y.reshape(-1, 1), y, stratify=y, random_state=seed)
            assert all(len(np.unique(part)) == len(np.unique(y)) for part in parts[3:])


def test_stratified_refusals_without_listing_the_tie_breaks(monkeypatch):
    # Beyond 10,000 tie-breaks the first split is bounded for each class: cautious, and
    # still independent of the seed.
    monkeypatch.setattr(splits, "_MAX_OUTCOMES", 0)
    y = np.repeat([0, 1, 2], [10, 4, 7])
    with pytest.raises(ValueError, match="refused for every random_state"):
        train_val_test_split(y.reshape(-1, 1), y, stratify=y, random_state=0)
    y = np.repeat([0, 1], [60, 40])
    parts = train_val_test_split(y.reshape(-1, 1), y, stratify=y, random_state=0)
    assert [int(part.sum()) for part in parts[3:]] == [28, 6, 6]


@pytest.mark.parametrize("missing", [None, pd.NA, np.nan])
def test_stratified_split_refuses_missing_labels(missing):
    # None among integer labels failed inside numpy ("'<' not supported between instances
    # of 'NoneType' and 'int'"); NaN in scikit-learn ("Input y contains NaN").
    labels = np.array([0] * 50 + [1] * 45 + [missing] * 5,
                      dtype=float if missing is np.nan else object)
    with pytest.raises(ValueError, match="stratify (contains NaN|must hold class labels)"):
        train_val_test_split(np.arange(100), stratify=labels, random_state=0)


def test_chronological_split_keeps_order():
    index = pd.date_range("2000-01-01", periods=20, freq="D")
    X = pd.DataFrame({"r": np.arange(20.0)}, index=index)
    X_tr, X_va, X_te, y_tr, y_va, y_te = train_val_test_split(X, shuffle=False)
    assert isinstance(X_tr, pd.DataFrame) and y_tr is None and y_te is None
    assert X_tr.index.max() < X_va.index.min() and X_va.index.max() < X_te.index.min()
    assert X_te["r"].tolist() == [17.0, 18.0, 19.0]


@pytest.mark.parametrize("order, word", [(slice(None, None, -1), "newest first"),
                                         (np.r_[1, 0, 2:20], "out of order")])
def test_chronological_split_refuses_dates_out_of_order(order, word):
    # Newest first, the test part held the oldest days and training the newest ones.
    index = pd.date_range("2000-01-01", periods=20, freq="D")
    X = pd.DataFrame({"r": np.arange(20.0)}, index=index)
    with pytest.raises(ValueError, match=f"X must be in time order.*is {word}"):
        train_val_test_split(X.iloc[order], shuffle=False)
    with pytest.raises(ValueError, match=f"y must be in time order.*is {word}"):
        train_val_test_split(X["r"].to_numpy(), X["r"].iloc[order], shuffle=False)
    # shuffled parts have no order to keep; a panel's repeated dates keep their order
    assert len(train_val_test_split(X.iloc[order], random_state=0)[0]) == 14
    panel = pd.concat([X, X]).sort_index()
    X_tr, X_va, X_te = train_val_test_split(panel, shuffle=False)[:3]
    assert X_tr.index.max() <= X_va.index.min() and X_va.index.max() <= X_te.index.min()


@pytest.mark.parametrize("name", ["y", "stratify"])
@pytest.mark.parametrize("value", ["label", 1])
def test_split_refuses_a_column_name_for_y_or_stratify(name, value):
    # stratify="label" failed in numpy ("axis 0 is out of bounds for array of dimension
    # 0"), y="label" in scikit-learn as 5 samples against 40.
    X = pd.DataFrame({"a": range(40), "label": np.arange(40) % 2})
    with pytest.raises(ValueError, match=rf"{name} must be an array-like with one entry per "
                                         rf"row of X; got {value!r}"):
        train_val_test_split(X, random_state=0, **{name: value})


def test_split_refuses_a_shuffle_that_is_not_a_bool():
    # scikit-learn's message named train_test_split's parameter
    with pytest.raises(ValueError, match="shuffle must be True or False; got 'no'"):
        train_val_test_split(np.arange(20), shuffle="no")


def test_split_is_reproducible_and_custom_sizes():
    X = np.arange(100)
    a = train_val_test_split(X, sizes=(0.6, 0.2, 0.2), random_state=3)
    b = train_val_test_split(X, sizes=(0.6, 0.2, 0.2), random_state=3)
    for part_a, part_b in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(part_a, part_b)
    assert [len(p) for p in a[:3]] == [60, 20, 20]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sizes=(0.7, 0.2, 0.2)), "sum to 1"),
        (dict(sizes=(0.8, 0.2)), "three fractions"),
        (dict(sizes=(1.0, 0.0, 0.0)), "three fractions"),
        (dict(sizes=(1.2, -0.1, -0.1)), "three fractions"),
        (dict(sizes=0.7), "three fractions"),
        (dict(stratify=np.arange(10) % 2, shuffle=False), "stratify needs shuffle=True"),
        (dict(stratify=(np.arange(10) == 0).astype(int)), "least populated class has only 1"),
    ],
)
def test_split_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_val_test_split(np.arange(10), **kwargs)


def test_split_too_few_rows():
    with pytest.raises(ValueError, match="too few"):
        train_val_test_split(np.arange(3))


@pytest.mark.parametrize("X", [5, np.float64(2.0), np.array(7), "abcdefghij", None])
def test_split_refuses_what_has_no_rows(X):
    # len() of a number raised a TypeError; a string was split into characters
    with pytest.raises(ValueError, match="X must be an array-like of samples"):
        train_val_test_split(X)


def test_make_tail_labels_recipe_labels_the_events_of_tail_risk_estimator():
    # The docstring's recipe: TailRiskEstimator's default events are the quantile rule at
    # 0.025 on its training targets, not make_tail_labels' defaults (eq. 8).
    from skqegm import TailRiskEstimator

    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(200, 1)), rng.standard_t(4, size=200)
    model = TailRiskEstimator(latent="gaussian", hidden_layer_sizes=(4,), max_epochs=1,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too few epochs
        model.fit(X, y)
    np.testing.assert_array_equal(
        model.rare_events(y), make_tail_labels(y, method="quantile", tail_fraction=0.025))
    assert make_tail_labels(y).sum() != model.rare_events(y).sum()
