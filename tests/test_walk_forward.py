"""walk_forward: alignment without look-ahead, n_jobs invariance, results, errors."""

import gc
import logging
import pickle
import re
import sys
import warnings
import weakref

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, TimeSeriesSplit
from sklearn.preprocessing import StandardScaler

from skqegm import TailRiskEstimator
from skqegm.baselines import GARCHRiskEstimator, HistoricalSimulation
from skqegm.model_selection import WalkForwardResult, walk_forward
from skqegm.pipeline import make_pipeline
from skqegm.utils._tails import forecast_side


class Recorder(BaseEstimator):
    """Forecasts what it saw: VaR = the last training row, ES = the first one + 1000.

    ``y`` and column 0 of ``X`` are the row numbers, so the forecasts reveal the training
    rows of every refit, in any process; ``predict_var`` also checks that its rows all
    come after the training rows.
    """

    def fit(self, X, y):
        X = np.asarray(X)
        assert np.array_equal(X[:, 0], y), "X and y rows out of step"
        assert np.array_equal(y, np.arange(y[0], y[0] + len(y))), "training rows not contiguous"
        self.seen_ = (int(y[0]), int(y[-1]))
        return self

    def predict_var(self, X, level):
        X = np.asarray(X)
        assert X[0, 0] == self.seen_[1] + 1, "forecast rows do not follow the training rows"
        return np.full(len(X), float(self.seen_[1]))

    def predict_es(self, X, level):
        return np.full(len(X), 1000.0 + self.seen_[0])


def _rows(n):
    index = np.arange(n, dtype=float)
    return np.column_stack([index, np.ones(n)]), index


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_expanding_window_uses_only_the_past(n_jobs):
    X, y = _rows(57)
    with parallel_config(backend="threading"):  # processes: test_n_jobs_in_processes
        result = walk_forward(Recorder(), X, y, start=20, refit_every=10, levels=(0.99,),
                              n_jobs=n_jobs)
    rows = np.arange(20, 57)
    np.testing.assert_array_equal(result.index, rows)
    np.testing.assert_array_equal(result.y, rows)
    refit = 20 + (rows - 20) // 10 * 10  # the refit row of each forecast
    np.testing.assert_array_equal(result.train_stop, refit)
    np.testing.assert_array_equal(result.train_start, 0)
    # the last training row is just before the refit row, never a forecast row
    np.testing.assert_array_equal(result.var_at(0.99), refit - 1)
    assert np.all(result.var[:, 0] < result.index)
    np.testing.assert_array_equal(result.es_at(0.99), 1000.0)
    assert result.fit_time.shape == (4,)


class FrameProbe(Recorder):
    """Forecasts VaR 1 if it was fitted on a DataFrame, else 0."""

    def fit(self, X, y):
        self.frame_ = hasattr(X, "columns")
        return self

    def predict_var(self, X, level):
        return np.full(len(X), float(self.frame_))

    def predict_es(self, X, level):
        return self.predict_var(X, level) + 1.0


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_workers_run_under_the_callers_scikit_learn_config(backend):
    # joblib's Parallel runs each refit under scikit-learn's default configuration: with
    # transform_output="pandas" the scaler's output reached the model as a DataFrame
    # with n_jobs=1 and as an array with n_jobs=2 (a column selected by name raised).
    pd = pytest.importorskip("pandas")
    import sklearn

    X, y = _rows(40)
    X = pd.DataFrame(X, columns=["row", "one"])
    model = make_pipeline(StandardScaler(), FrameProbe())
    with sklearn.config_context(transform_output="pandas"), parallel_config(backend=backend):
        for n_jobs in (1, 2):
            result = walk_forward(model, X, y, start=20, refit_every=10, n_jobs=n_jobs)
            np.testing.assert_array_equal(result.var, 1.0)


def test_a_class_instead_of_an_instance_is_named():
    X, y = _rows(40)
    for model in (Recorder, GridSearchCV):  # "get_params() missing ... 'self'" before
        with pytest.raises(TypeError, match=f"{model.__name__} is a class, not an instance"):
            walk_forward(model, X, y, start=20)


def test_rolling_window():
    X, y = _rows(50)
    result = walk_forward(Recorder(), X, y, start=15, refit_every=7, window="rolling",
                          window_size=15, levels=(0.975, 0.99))
    refit = 15 + (result.index - 15) // 7 * 7
    np.testing.assert_array_equal(result.train_start, refit - 15)
    np.testing.assert_array_equal(result.es[:, 1], 1000.0 + refit - 15)
    np.testing.assert_array_equal(result.var[:, 0], refit - 1)
    assert result.var.shape == result.es.shape == (35, 2)


@pytest.mark.slow  # starting two worker processes that import torch takes ~20 s
def test_n_jobs_in_processes_gives_identical_results():
    r = np.random.default_rng(0).standard_t(4, size=700) / 100
    X, y = r[:-1, None], r[1:]
    from skqegm.baselines import EWMARiskEstimator
    from skqegm.metrics import RISK_SCORERS

    search = GridSearchCV(EWMARiskEstimator(), {"decay": [0.8, 0.9, 0.94, 0.97]},
                          scoring=RISK_SCORERS["neg_fz0_loss"], cv=TimeSeriesSplit(3))
    for estimator in (GARCHRiskEstimator(), HistoricalSimulation(window=100), search):
        one = walk_forward(estimator, X, y, start=400, refit_every=100)
        two = walk_forward(estimator, X, y, start=400, refit_every=100, n_jobs=2)
        np.testing.assert_array_equal(one.var, two.var)
        np.testing.assert_array_equal(one.es, two.es)
        assert one.best_params == two.best_params


def test_one_refit_is_one_fit_and_predict():
    r = np.random.default_rng(1).standard_t(4, size=600) / 100
    X, y = r[:-1, None], r[1:]
    result = walk_forward(GARCHRiskEstimator(o=1), X, y, start=450, refit_every=1000)
    model = GARCHRiskEstimator(o=1).fit(X[:450], y[:450])
    np.testing.assert_array_equal(result.var_at(0.99), model.predict_var(X[450:], 0.99))
    np.testing.assert_array_equal(result.es_at(0.975), model.predict_es(X[450:], 0.975))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tail_risk_estimator_walks_forward():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(260, 2))
    y = (1 + X[:, 0] ** 2) * rng.standard_t(5, size=260)
    model = TailRiskEstimator(latent="gaussian", max_epochs=2, hidden_layer_sizes=(8,),
                              random_state=0)
    result = walk_forward(model, X, y, start=200, refit_every=30, levels=(0.99,))
    assert result.var.shape == (60, 1)
    assert np.all(result.es >= result.var)
    with parallel_config(backend="threading"):
        again = walk_forward(model, X, y, start=200, refit_every=30, levels=(0.99,),
                             n_jobs=2)
    np.testing.assert_array_equal(result.var, again.var)


def test_the_result_knows_the_side_it_forecast():
    # The metrics default to the lower tail: an upper-tail walk was read as lower unless
    # the user remembered to pass side="upper".
    from skqegm.metrics import var_exceedances
    from skqegm.models import FilteredRiskEstimator
    from skqegm.pipeline import make_pipeline

    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(260, 2))
    y = rng.standard_t(5, size=260)
    upper = TailRiskEstimator(side="upper", latent="gaussian", max_epochs=2,
                              hidden_layer_sizes=(8,), random_state=0)
    result = walk_forward(make_pipeline(upper), X, y, start=200, refit_every=30,
                          levels=(0.9,))
    assert result.side == "upper"
    flags = result.exceedances(0.9)
    np.testing.assert_array_equal(flags, var_exceedances(result.y, result.var_at(0.9),
                                                         side="upper"))
    np.testing.assert_array_equal(flags, result.y > result.var_at(0.9))
    assert walk_forward(HistoricalSimulation(window=50), X, y, start=200,
                        refit_every=30).side == "lower"
    assert walk_forward(FilteredRiskEstimator(upper, volatility=UnitVolatility()), X, y,
                        start=200, refit_every=60).side == "upper"  # the model it wraps


class UnitVolatility(BaseEstimator):
    """A volatility filter that divides by 1."""

    def fit(self, X, y):
        self.conditional_volatility_ = np.ones(len(X))
        return self

    def predict_volatility(self, X):
        return np.ones(len(X))


def test_a_pandas_y_beside_a_numpy_x_brings_its_dates_and_a_list_y_none():
    pd = pytest.importorskip("pandas")
    X, y = _rows(60)
    dates = pd.bdate_range("2020-01-01", periods=60)
    result = walk_forward(Recorder(), X, pd.Series(y, index=dates), start="2020-03-02",
                          refit_every=10)  # the dates were dropped: a date start failed
    assert result.dates[0] == np.datetime64("2020-03-02") and result.index[0] == 43
    with pytest.raises(ValueError, match=r"the index of y \(the dates when dates=None and "
                                         r"X has none\) must be strictly increasing"):
        walk_forward(Recorder(), X, pd.Series(y, index=dates[::-1]), start=40)
    # A list's .index (a method) was taken for an index unlike the frame's, and refused.
    frame = pd.DataFrame(X, index=dates)
    listed = walk_forward(Recorder(), frame, y.tolist(), start=40, refit_every=10)
    np.testing.assert_array_equal(listed.y, y[40:])


def test_dates_start_at_a_date_and_to_frame():
    pd = pytest.importorskip("pandas")
    X, y = _rows(40)
    dates = np.arange("2020-01-01", "2020-02-10", dtype="datetime64[D]")
    result = walk_forward(Recorder(), X, y, start="2020-01-25", refit_every=5, dates=dates,
                          levels=(0.975, 0.99))
    assert result.index[0] == 24 and result.dates[0] == np.datetime64("2020-01-25")
    frame = result.to_frame()
    assert list(frame.columns) == ["y", "var_0.975", "es_0.975", "var_0.99", "es_0.99",
                                   "train_start", "train_stop"]
    assert frame.index[0] == pd.Timestamp("2020-01-25") and len(frame) == 16
    # a level is named as it reads back, not rounded to 6 digits ("var_1")
    deep = walk_forward(Recorder(), X, y, start=24, refit_every=5, levels=(0.9999999,))
    assert list(deep.to_frame().columns[1:3]) == ["var_0.9999999", "es_0.9999999"]
    # a DataFrame X brings its index as the dates
    frame_X = pd.DataFrame(X, index=pd.DatetimeIndex(dates))
    from_frame = walk_forward(Recorder(), frame_X, y, start=pd.Timestamp("2020-01-25"),
                              refit_every=5, levels=(0.99,))
    np.testing.assert_array_equal(from_frame.var[:, 0], result.var[:, 1])
    assert from_frame.dates[0] == np.datetime64("2020-01-25")
    assert "n_forecasts=16" in repr(result)


def test_the_index_of_a_frame_must_be_in_time_order():
    # A frame sorted newest first was walked backwards: every "past" was the future.
    pd = pytest.importorskip("pandas")
    X, y = _rows(30)
    dates = pd.date_range("2020-01-01", periods=30)
    newest_first = pd.DataFrame(X, index=dates)[::-1]
    with pytest.raises(ValueError, match=r"the index of X .* must be strictly increasing"):
        walk_forward(Recorder(), newest_first, y[::-1], start=20)
    with pytest.raises(ValueError, match="the index of X .* must be strictly increasing"):
        walk_forward(Recorder(), pd.DataFrame(X, index=np.r_[dates[:1], dates[:-1]]), y,
                     start=20)
    # explicit dates replace the index
    result = walk_forward(Recorder(), pd.DataFrame(X, index=np.zeros(30)), y, start=20,
                          dates=dates)
    assert result.dates[0] == np.datetime64("2020-01-21")


@pytest.mark.parametrize("index", ["utc", "period"])
def test_a_date_string_starts_a_time_zone_or_period_index(index):
    pd = pytest.importorskip("pandas")
    X, y = _rows(30)
    dates = (pd.date_range("2020-01-01", periods=30, tz="UTC") if index == "utc"
             else pd.period_range("2020-01-01", periods=30, freq="D"))
    for frame, given in [(pd.DataFrame(X, index=dates), None), (X, dates)]:
        result = walk_forward(Recorder(), frame, y, start="2020-01-21", dates=given)
        assert result.index[0] == 20
        np.testing.assert_array_equal(
            result.var, walk_forward(Recorder(), X, y, start=20).var)


def test_a_start_date_before_the_data_names_the_first_date():
    X, y = _rows(30)
    dates = np.arange("2020-01-01", "2020-01-31", dtype="datetime64[D]")
    with pytest.raises(ValueError, match="start='2019-06-01' is on or before the first date "
                                         "2020-01-01"):
        walk_forward(Recorder(), X, y, start="2019-06-01", dates=dates)


def test_progress_is_logged_and_printed(caplog, capsys):
    X, y = _rows(30)
    with caplog.at_level(logging.INFO, logger="skqegm"):
        walk_forward(Recorder(), X, y, start=20, refit_every=5, verbose=1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("refit 2/2: trained on rows [0, 25), forecast rows [25, 30)" in m
               for m in messages)
    assert "refit 1/2" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, match", [
    (dict(start=0), "start must be >= 1"),
    (dict(start=30), "start must be <= 29"),
    (dict(refit_every=0), "refit_every must be >= 1"),
    (dict(window="sliding"), "window must be one of"),
    (dict(window="rolling"), "window='rolling' needs window_size"),
    (dict(window="rolling", window_size=21), "window_size must be <= 20"),
    (dict(window_size=10), "window_size=10 is only used with window='rolling'"),
    (dict(levels=(0.99, 0.99)), "levels must not repeat"),
    # var_at(0.99) would find the first of the two
    (dict(levels=(0.99, 0.99 + 1e-9)), "levels must not repeat"),
    (dict(levels=(0.01,)), "levels is the VaR confidence level"),
    (dict(levels=()), "at least one confidence level"),
    (dict(dates=np.arange(29)), r"dates must have one entry per row of X \(30\)"),
    (dict(dates=np.arange(30)[::-1]), "dates must be strictly increasing"),
    (dict(dates=np.arange(30), start="May"), "start must be a row number or a date"),
    (dict(dates=np.arange(30), start=100.5), "start=100.5 is after the last date 29"),
    (dict(verbose=-1), "verbose must be >= 0"),
    # n_jobs=True ran one job, as the booleans that the other integers refuse
    (dict(n_jobs=True), "n_jobs must be an integer; got True"),
    (dict(n_jobs="2"), "n_jobs must be an integer"),
    (dict(return_estimator="yes"), "return_estimator must be True or False; got 'yes'"),
    (dict(return_estimator=1), "return_estimator must be True or False; got 1"),
    # a date without dates was "start must be an integer"
    (dict(start="2020-01-21"), "start='2020-01-21' is not a row number, and there are no "
                               "dates"),
])
def test_errors(kwargs, match):
    X, y = _rows(30)
    args = dict(start=20) | kwargs
    with pytest.raises(ValueError, match=match):
        walk_forward(Recorder(), X, y, **args)


def test_data_and_estimator_errors():
    X, y = _rows(30)
    with pytest.raises(ValueError, match="same number of rows; got 29 and 30"):
        walk_forward(Recorder(), X[:-1], y, start=20)
    with pytest.raises(ValueError, match="y contains NaN"):
        walk_forward(Recorder(), X, np.r_[y[:-1], np.nan], start=20)

    class NoES(BaseEstimator):
        def fit(self, X, y):
            return self

        def predict_var(self, X, level):
            return np.ones(len(X))

    with pytest.raises(TypeError, match="NoES lacks predict_es"):
        walk_forward(NoES(), X, y, start=20)

    class Broken(NoES):
        def predict_es(self, X, level):
            return np.full(len(X), np.nan)

    # walk_forward's own checks name the refit as the note on an estimator's error does
    with pytest.raises(ValueError, match=r"predict_es of Broken in walk_forward refit 1/1 "
                                         r"\(training rows \[0, 20\); forecast rows "
                                         r"\[20, 30\)\) contains NaN"):
        walk_forward(Broken(), X, y, start=20)

    class Short(NoES):
        def predict_es(self, X, level):
            return np.ones(len(X) - 1)

    with pytest.raises(ValueError, match=r"predict_es of Short in walk_forward refit 1/2 "
                                         r"\(training rows \[0, 25\), dates 0 to 24; "
                                         r"forecast rows \[25, 28\), dates 25 to 27\) "
                                         "must return one value per row"):
        walk_forward(Short(), X, y, start=25, refit_every=3, dates=np.arange(30))


def test_result_level_lookup():
    X, y = _rows(30)
    result = walk_forward(Recorder(), X, y, start=20, levels=[0.975])
    assert isinstance(result, WalkForwardResult) and result.levels == (0.975,)
    with pytest.raises(ValueError, match=r"level=0.99 was not forecast; the levels are"):
        result.var_at(0.99)


def test_draws_for_the_acerbi_szekely_test_do_not_depend_on_n_jobs():
    from skqegm.metrics import acerbi_szekely_test

    r = np.random.default_rng(3).standard_t(4, size=700) / 100
    X, y = r[:-1, None], r[1:]
    kwargs = dict(start=400, refit_every=100, levels=(0.975,), n_draws=50, random_state=0)
    one = walk_forward(GARCHRiskEstimator(), X, y, **kwargs)
    with parallel_config(backend="threading"):
        two = walk_forward(GARCHRiskEstimator(), X, y, n_jobs=2, **kwargs)
    assert one.draws.shape == (299, 50)
    np.testing.assert_array_equal(one.draws, two.draws)
    # each block's draws are sample_y of the block's model with its own seed
    model = GARCHRiskEstimator().fit(X[:400], y[:400])
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)
    np.testing.assert_array_equal(one.draws[:100],
                                  model.sample_y(X[400:500], 50, random_state=seed))
    result = acerbi_szekely_test(one.y, one.var_at(0.975), one.es_at(0.975), 0.975,
                                 one.draws, random_state=0)
    assert 0 < result.p_value <= 1


def test_draws_need_sample_y():
    X, y = _rows(30)
    with pytest.raises(TypeError, match=r"sample_y \(n_draws is set\); Recorder lacks sample_y"):
        walk_forward(Recorder(), X, y, start=20, n_draws=10)
    with pytest.raises(ValueError, match="n_draws must be >= 1"):
        walk_forward(Recorder(), X, y, start=20, n_draws=0)


def test_a_single_column_y_is_one_dimensional():
    # scikit-learn's regressors and metrics take y of shape (n, 1); walk_forward refused it.
    pd = pytest.importorskip("pandas")
    X, y = _rows(30)
    flat = walk_forward(Recorder(), X, y, start=20, refit_every=5)
    for column in (y[:, None], pd.DataFrame({"r": y})):
        result = walk_forward(Recorder(), X, column, start=20, refit_every=5)
        assert result.y.shape == (10,)
        np.testing.assert_array_equal(result.y, flat.y)
        np.testing.assert_array_equal(result.var, flat.var)
    with pytest.raises(ValueError, match=r"y must be 1-D or a single column of shape "
                                         r"\(n_samples, 1\); got shape \(30, 2\)"):
        walk_forward(Recorder(), X, np.column_stack([y, y]), start=20)


def test_a_start_between_two_dates_starts_at_the_later_one():
    # The start was cast to the unit of the dates: "2020-01-21T12:00" became the day
    # 2020-01-21, and 20.5 the integer date 20, so the first forecast came before start.
    pd = pytest.importorskip("pandas")
    X, y = _rows(30)
    days = np.arange("2020-01-01", "2020-01-31", dtype="datetime64[D]")
    for dates, start in [(days, "2020-01-21T12:00"), (days, pd.Timestamp("2020-01-21 12:00")),
                         (days, np.datetime64("2020-01-21T00:00:01")),
                         (pd.date_range("2020-01-01", periods=30), "2020-01-21 12:00"),
                         (np.arange(30), 20.5), (np.arange(30.0), "20.5")]:
        result = walk_forward(Recorder(), X, y, start=start, dates=dates)
        assert result.index[0] == 21, (dates.dtype, start)
    # on a date, the forecasts start there
    assert walk_forward(Recorder(), X, y, start="2020-01-21", dates=days).index[0] == 20
    assert walk_forward(Recorder(), X, y, start=20.0, dates=np.arange(30)).index[0] == 20


def test_y_with_another_index_than_x_is_refused():
    # X sorted by date and y not: the rows were paired by position, each day's features
    # with another day's return.
    pd = pytest.importorskip("pandas")
    X, y = _rows(30)
    dates = pd.date_range("2020-01-01", periods=30)
    frame = pd.DataFrame(X, index=dates)
    with pytest.raises(ValueError, match="y and X have different indexes"):
        walk_forward(Recorder(), frame, pd.Series(y[::-1], index=dates[::-1]), start=20)
    with pytest.raises(ValueError, match="y and X have different indexes"):
        walk_forward(Recorder(), frame, pd.Series(y), start=20)
    result = walk_forward(Recorder(), frame, pd.Series(y, index=dates), start=20)
    np.testing.assert_array_equal(result.y, y[20:])
    # y by position: a numpy y, or a Series with a numpy X (whose dates then are y's)
    walk_forward(Recorder(), frame, y, start=20)
    assert walk_forward(Recorder(), X, pd.Series(y, index=dates), start=20).dates[0] == \
        np.datetime64("2020-01-21")


class SparseRecorder(Recorder):
    def fit(self, X, y):
        return super().fit(X.toarray(), y)

    def predict_var(self, X, level):
        return super().predict_var(X.toarray(), level)

    def predict_es(self, X, level):
        return super().predict_es(X.toarray(), level)


def test_sparse_x_and_x_without_rows():
    sparse = pytest.importorskip("scipy.sparse")
    X, y = _rows(30)
    result = walk_forward(SparseRecorder(), sparse.csr_matrix(X), y, start=20, refit_every=5)
    np.testing.assert_array_equal(result.var, walk_forward(Recorder(), X, y, start=20,
                                                           refit_every=5).var)
    # len() of None raised a TypeError
    with pytest.raises(ValueError, match="X must be an array-like of samples"):
        walk_forward(Recorder(), None, y, start=20)


@pytest.mark.parametrize("window", ["expanding", "rolling"])
def test_the_splits_are_those_of_time_series_split(window):
    # scikit-learn's TimeSeriesSplit with test_size=refit_every (and max_train_size for a
    # rolling window) makes the same training and forecast rows, when they divide evenly.
    from sklearn.model_selection import TimeSeriesSplit

    X, y = _rows(60)
    size = 20 if window == "rolling" else None
    result = walk_forward(Recorder(), X, y, start=24, refit_every=9, window=window,
                          window_size=size, levels=(0.99,))
    splits = TimeSeriesSplit(n_splits=4, test_size=9, max_train_size=size).split(X)
    for k, (train, test) in enumerate(splits):
        rows = slice(9 * k, 9 * (k + 1))
        np.testing.assert_array_equal(result.index[rows], test)
        assert result.train_start[rows].tolist() == [train[0]] * 9
        assert result.train_stop[rows].tolist() == [train[-1] + 1] * 9


def test_a_pipeline_is_refitted_on_the_training_rows_only():
    # The scaler of make_tail_pipeline is fitted with the model, on the rows before each
    # refit: fitted on all rows (leakage), the z-score of a forecast row would differ.
    from sklearn.base import BaseEstimator

    from skqegm.preprocessing import make_tail_pipeline

    class FirstFeature(BaseEstimator):
        def fit(self, X, y):
            self.n_features_in_ = X.shape[1]
            return self

        def predict_var(self, X, level):
            return np.asarray(X)[:, 0]

        predict_es = predict_var

    X, y = _rows(50)
    X[:, 1] = np.arange(50.0) ** 2
    result = walk_forward(make_tail_pipeline(FirstFeature()), X, y, start=30,
                          refit_every=10, levels=(0.99,))
    for row, stop, z in zip(result.index, result.train_stop, result.var[:, 0], strict=True):
        train = X[:stop, 0]
        assert z == pytest.approx((row - train.mean()) / train.std())


# --- a search refitted at every refit -----------------------------------------------------

SPLITS = []  # (training rows, validation rows) of every split a search made


class LoggedSplit(TimeSeriesSplit):
    """TimeSeriesSplit that logs the rows of its splits: ``y`` holds the row numbers."""

    def split(self, X, y=None, groups=None):
        for train, test in super().split(X, y, groups):
            SPLITS.append((np.asarray(y)[train], np.asarray(y)[test]))
            yield train, test


class Shifted(Recorder):
    """Recorder whose VaR is moved by ``shift``; its score prefers ``shift=1`` on
    validation rows from row 28 on, ``shift=0`` before (so the choice changes)."""

    def __init__(self, shift=0, side="lower"):
        self.shift = shift
        self.side = side

    def predict_var(self, X, level):
        return super().predict_var(X, level) + self.shift

    def score(self, X, y):
        return -abs(self.shift - float(y[0] >= 28))


def _search(**kwargs):
    return GridSearchCV(Shifted(), {"shift": [0, 1]},
                        cv=LoggedSplit(n_splits=2, test_size=5), **kwargs)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_search_chooses_on_the_training_rows_only(n_jobs):
    X, y = _rows(57)
    SPLITS.clear()
    with parallel_config(backend="threading"):
        result = walk_forward(_search(), X, y, start=20, refit_every=10, levels=(0.99,),
                              n_jobs=n_jobs)
    refits = np.unique(result.train_stop)
    np.testing.assert_array_equal(refits, [20, 30, 40, 50])
    # walk_forward first splits the first and last windows itself (to check the cv's
    # time order, and that it splits each window anew), as their searches do
    assert [test.max() for _, test in SPLITS[:4]] == [14, 19, 44, 49]
    del SPLITS[:4]
    # Two splits per search, validating on the last 10 rows of its window: every row
    # the search trained or validated on comes before the refit row (the last split
    # reaches the row just before it: the whole window, nothing after).
    assert len(SPLITS) == 2 * len(refits)
    last_rows = [test.max() for _, test in SPLITS]
    expected = np.column_stack([refits - 6, refits - 1]).ravel()
    if n_jobs == 1:  # the searches run in order
        np.testing.assert_array_equal(last_rows, expected)
        for k, refit in enumerate(refits):
            for train, test in SPLITS[2 * k:2 * k + 2]:
                assert np.concatenate([train, test]).max() < refit
    np.testing.assert_array_equal(sorted(last_rows), sorted(expected))
    for train, test in SPLITS:
        assert train[0] == 0 and train.max() < test.min()  # its cv walks forward too
    # the choice of each refit, and the best_estimator_ (refitted on the whole window)
    # forecasts its rows
    assert result.best_params == [{"shift": 0}, {"shift": 0}, {"shift": 1}, {"shift": 1}]
    shift = np.repeat([0, 0, 1, 1], [10, 10, 10, 7])
    np.testing.assert_array_equal(result.var_at(0.99), result.train_stop - 1 + shift)
    assert result.side == "lower"


def test_a_search_gives_the_same_result_with_n_jobs():
    X, y = _rows(57)
    one = walk_forward(_search(), X, y, start=20, refit_every=10)
    with parallel_config(backend="threading"):
        two = walk_forward(_search(n_jobs=2), X, y, start=20, refit_every=10, n_jobs=2)
    np.testing.assert_array_equal(one.var, two.var)
    np.testing.assert_array_equal(one.es, two.es)
    assert one.best_params == two.best_params
    assert walk_forward(Recorder(), X, y, start=20).best_params is None
    randomized = RandomizedSearchCV(Shifted(), {"shift": [0, 1, 2]}, n_iter=2,
                                    cv=TimeSeriesSplit(2, test_size=5), random_state=0)
    one = walk_forward(randomized, X, y, start=20, refit_every=10)
    with parallel_config(backend="threading"):
        two = walk_forward(randomized, X, y, start=20, refit_every=10, n_jobs=2)
    assert one.best_params == two.best_params and len(one.best_params) == 4
    np.testing.assert_array_equal(one.var, two.var)


def test_a_search_that_makes_no_best_estimator_is_refused():
    X, y = _rows(30)
    with pytest.raises(ValueError, match="refit=False makes none: set refit=True"):
        walk_forward(_search(refit=False), X, y, start=20)
    with pytest.raises(ValueError, match="refit=False"):  # inside a pipeline too
        walk_forward(make_pipeline(StandardScaler(), _search(refit=False)), X, y, start=20)

    class NoBest(BaseEstimator):
        """A search-like wrapper whose refit chooses but keeps no best_estimator_."""

        def __init__(self, estimator=None, refit=None):
            self.estimator = estimator
            self.refit = refit

        def fit(self, X, y):
            self.best_index_ = self.refit({})
            return self

    with pytest.raises(TypeError, match=r"NoBest \(refit=<function .*\) has no "
                                        "best_estimator_ after fit"):
        walk_forward(NoBest(Recorder(), refit=lambda results: 0), X, y, start=20)
    with pytest.raises(TypeError, match=r"Ridge \(the model that GridSearchCV searches "
                                        r"over\) lacks predict_var, predict_es"):
        walk_forward(GridSearchCV(Ridge(), {"alpha": [1.0, 2.0]}), X, y, start=20)


def test_a_callable_refit_forecasts_with_its_choice():
    X, y = _rows(40)
    search = _search(refit=lambda results: 1)  # shift=1, whatever the scores
    result = walk_forward(search, X, y, start=20, refit_every=10)
    assert result.best_params == [{"shift": 1}, {"shift": 1}]
    np.testing.assert_array_equal(result.var_at(0.99), result.train_stop)


def test_the_side_is_that_of_the_best_estimator():
    # The grid sets the side: the template's side="lower" was reported.
    X, y = _rows(40)
    search = GridSearchCV(Shifted(side="lower"), {"side": ["upper"]},
                          cv=TimeSeriesSplit(2))
    result = walk_forward(search, X, y, start=20, refit_every=10)
    assert result.side == "upper"
    assert forecast_side(search.fit(X, y)) == "upper"
    assert forecast_side(make_pipeline(StandardScaler(), search)) == "upper"
    # a search that changes its side between refits is refused

    class SideByRows(Shifted):
        def score(self, X, y):  # the upper tail on validation rows from row 28 on
            return -abs(float(self.side == "upper") - float(y[0] >= 28))

    flip = GridSearchCV(SideByRows(), {"side": ["lower", "upper"]},
                        cv=TimeSeriesSplit(2, test_size=5))
    with pytest.raises(ValueError, match=r"side='lower' \(first in the refit at row 20\), "
                                         r"side='upper' \(first in the refit at row 40\)"):
        walk_forward(flip, *_rows(57), start=20, refit_every=10)


class Gain(BaseEstimator):
    """VaR = ``gain`` times feature 0 (so a missed transform shows); scored by the
    squared error of that forecast against ``y``."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def fit(self, X, y):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_var(self, X, level):
        return self.gain * np.asarray(X)[:, 0]

    def predict_es(self, X, level):
        return self.predict_var(X, level) + 1.0

    def score(self, X, y):
        return -np.mean((y - self.predict_var(X, 0.99)) ** 2)


@pytest.mark.parametrize("nesting", ["pipeline_of_search", "search_of_pipeline"])
def test_a_pipeline_and_a_search_nest_either_way(nesting, capsys):
    rng = np.random.default_rng(5)
    X = rng.normal(3.0, 2.0, size=(80, 2))
    y = 2.0 * (X[:, 0] - X[:, 0].mean()) / X[:, 0].std() + rng.normal(0, 0.1, size=80)
    grid, cv = [0.5, 1.0, 2.0, 4.0], TimeSeriesSplit(3)
    if nesting == "pipeline_of_search":
        estimator = make_pipeline(StandardScaler(), GridSearchCV(Gain(), {"gain": grid},
                                                                 cv=cv))
    else:
        estimator = GridSearchCV(make_pipeline(StandardScaler(), Gain()),
                                 {"gain__gain": grid}, cv=cv)
    result = walk_forward(estimator, X, y, start=50, refit_every=15, levels=(0.99,),
                          verbose=1)
    assert len(result.best_params) == 2
    assert isinstance(estimator[-1] if nesting == "pipeline_of_search" else estimator,
                      GridSearchCV)  # the user's pipeline keeps its search
    assert "chose {'gain" in capsys.readouterr().out
    for k, refit in enumerate([50, 65]):
        fitted = clone(estimator).fit(X[:refit], y[:refit])
        search = fitted[-1] if nesting == "pipeline_of_search" else fitted
        assert result.best_params[k] == search.best_params_
        rows = slice(refit, refit + 15)
        if nesting == "pipeline_of_search":
            expected = search.best_estimator_.predict_var(fitted[0].transform(X[rows]), 0.99)
        else:
            expected = search.best_estimator_.predict_var(X[rows], 0.99)
        np.testing.assert_array_equal(result.var_at(0.99)[k * 15:(k + 1) * 15], expected)
    # y is twice the scaled feature: the search picks gain 2 (on the scaled feature)
    name = "gain" if nesting == "pipeline_of_search" else "gain__gain"
    assert result.best_params == [{name: 2.0}, {name: 2.0}]
    # scikit-learn's own Pipeline hides the methods of its last step
    from sklearn.pipeline import make_pipeline as sklearn_make_pipeline

    hidden = sklearn_make_pipeline(StandardScaler(), GridSearchCV(Gain(), {"gain": grid}))
    with pytest.raises(TypeError, match="skqegm.pipeline.make_pipeline"):
        walk_forward(hidden, X, y, start=50)


class FailsBefore(Shifted):
    """Shifted whose fit fails on fewer than ``min_rows`` rows (a window too long)."""

    def __init__(self, shift=0, side="lower", min_rows=0):
        super().__init__(shift=shift, side=side)
        self.min_rows = min_rows

    def fit(self, X, y):
        if len(y) < self.min_rows:
            raise ValueError(f"needs {self.min_rows} rows")
        return super().fit(X, y)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_refit_whose_every_candidate_failed_says_its_choice_is_no_choice(n_jobs):
    # At the refit at row 20 the search's splits train on 10 and 15 rows: the first
    # candidate fails on 10, the second on both, so each has a NaN mean score (had
    # every fit failed, scikit-learn would raise). It takes the first, which then fits
    # on the whole window (20 rows) and forecasts: a "choice" no validation made. The
    # user is told at which refit, in the caller's process (a worker process's warnings
    # never reach its filters). At row 30 (splits of 20 and 25 rows) the search
    # validates normally.
    X, y = _rows(40)
    grid = [{"shift": [1], "min_rows": [12]}, {"shift": [0], "min_rows": [16]}]
    search = GridSearchCV(FailsBefore(), grid, cv=TimeSeriesSplit(2, test_size=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's own FitFailedWarning, etc.
        with pytest.warns(UserWarning, match=r"refit at row 20 \(training rows \[0, 20\)\)"
                                             r": GridSearchCV scored no candidate.*"
                                             r"\{'min_rows': 12, 'shift': 1\} is its "
                                             "first candidate"):
            with parallel_config(backend="threading"):
                result = walk_forward(search, X, y, start=20, refit_every=10,
                                      n_jobs=n_jobs)
    assert [params["shift"] for params in result.best_params] == [1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a search that scores: no warning
        walk_forward(_search(), X, y, start=20, refit_every=10)
    # multi-metric, refit by name: the refit metric is the one read
    multi = GridSearchCV(FailsBefore(), grid,
                         scoring={"a": lambda est, X, y: est.score(X, y),
                                  "b": lambda est, X, y: -1.0},
                         refit="a", cv=TimeSeriesSplit(2, test_size=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.warns(UserWarning, match="refit at row 20"):
            walk_forward(multi, X, y, start=20, refit_every=10)
    # a refit name beside a single scorer (scikit-learn's results are "mean_test_score")
    named = GridSearchCV(FailsBefore(), grid, refit="any", cv=TimeSeriesSplit(2, test_size=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.warns(UserWarning, match="refit at row 20"):
            walk_forward(named, X, y, start=20, refit_every=10)


# --- a search whose cv trains on rows after those it validates on --------------------------

def _returns(n=160):
    r = np.random.default_rng(0).standard_t(4, size=n + 1) / 100
    return r[:-1, None], r[1:]  # column 0: the previous return


def _ewma_search(cv):
    from skqegm.baselines import EWMARiskEstimator
    from skqegm.metrics import RISK_SCORERS

    return GridSearchCV(EWMARiskEstimator(), {"decay": [0.9, 0.97]}, cv=cv,
                        scoring=RISK_SCORERS["neg_fz0_loss"])


LOOK_AHEAD = "trains on rows after the ones it validates on"


FIXED_ROWS = "validates on none of the rows that the expanding window gains"


def _walk_recording(estimator, n_jobs=1, about=LOOK_AHEAD, start=100, **kwargs):
    """Walk forward with every warning recorded; those ``about`` something."""
    X, y = _returns()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with parallel_config(backend="threading"):
            walk_forward(estimator, X, y, start=start, refit_every=20, n_jobs=n_jobs,
                         **kwargs)
    return [w for w in record if about in str(w.message)]


class Halves:
    """A user's splitter that keeps time order: train on the first half, validate on
    the second."""

    def split(self, X, y=None, groups=None):
        n = len(X)
        yield np.arange(n // 2), np.arange(n // 2, n)

    def get_n_splits(self, X=None, y=None, groups=None):
        return 1


class Backwards(Halves):
    """Train on the second half, validate on the first (boolean masks)."""

    def split(self, X, y=None, groups=None):
        second = np.arange(len(X)) >= len(X) // 2
        yield second, ~second


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("cv, named", [
    (None, r"cv=None \(KFold\(n_splits=5, random_state=None, shuffle=False\)\)"),
    (3, r"cv=3 \(KFold\(n_splits=3, .*\)\)"),
    (KFold(4, shuffle=True, random_state=0), r"cv=KFold\(n_splits=4, random_state=0, "
                                             r"shuffle=True\)"),
    ([(np.arange(40), np.arange(40, 60)), (np.arange(40, 80), np.arange(40))],
     r"cv \(a list of 2 \(train, validation\) splits\)"),
    (Backwards(), "cv=<.*Backwards object at .*>"),
])
def test_a_search_whose_cv_is_not_in_time_order_warns_once(cv, named, n_jobs):
    # KFold, the default, trains on rows after those it validates on, in every window:
    # no forecast row leaks, but the return-series baselines continue the series from
    # the end of their training rows, so the scores meant nothing. Nothing said so.
    found = _walk_recording(_ewma_search(cv), n_jobs=n_jobs)
    assert len(found) == 1  # once for the walk, not once per refit (5 here)
    warning = found[0]
    assert warning.category is UserWarning
    assert warning.filename == __file__  # the line that called walk_forward
    message = str(warning.message)
    assert re.search(f"^The {named} of GridSearchCV {LOOK_AHEAD}", message), message
    assert "TimeSeriesSplit(n_splits) (with gap=" in message


def test_the_look_ahead_warning_names_a_split_and_rows():
    (warning,) = _walk_recording(make_pipeline(_ewma_search(None)))  # ending a pipeline
    assert ("on the first refit's training rows [0, 100), its split 1/5 trains on row 99 "
            "and validates on the earlier row 0." in str(warning.message))
    (warning,) = _walk_recording(_ewma_search(Backwards()), window="rolling",
                                 window_size=60)
    assert ("training rows [40, 100), its split 1/1 trains on row 99 and validates on "
            "the earlier row 40." in str(warning.message))


@pytest.mark.parametrize("cv", [
    TimeSeriesSplit(3), TimeSeriesSplit(3, gap=2), TimeSeriesSplit(2, test_size=10),
    [(np.arange(40), np.arange(40, 60)), (np.arange(60), np.arange(65, 80))], Halves(),
])
def test_a_search_whose_cv_keeps_time_order_does_not_warn(cv):
    assert _walk_recording(_ewma_search(cv)) == []
    assert _walk_recording(_ewma_search(cv), n_jobs=2, window="rolling",
                           window_size=80) == []
    if not isinstance(cv, list):  # each window split anew
        assert _walk_recording(_ewma_search(cv), about=FIXED_ROWS) == []


def test_a_cv_of_fixed_rows_in_an_expanding_window_warns():
    # A PredefinedSplit (or a list of splits) holds fixed positions: every refit of an
    # expanding window validated on the same early rows, never on the rows it gained,
    # and its choice stayed that of the first window. Shifted prefers shift=1 on
    # validation rows from row 28 on; validated on rows 15 to 19 alone, every refit
    # kept shift=0, silently.
    from sklearn.model_selection import PredefinedSplit

    X, y = _rows(57)
    fixed = PredefinedSplit(np.r_[np.full(15, -1), np.zeros(5)])
    search = GridSearchCV(Shifted(), {"shift": [0, 1]}, cv=fixed)
    with pytest.warns(UserWarning, match=r"The cv=PredefinedSplit\(.*\) of GridSearchCV "
                                         "validates on none of the rows that the "
                                         r"expanding window gains after the first refit: "
                                         r"on the last refit's training rows \[0, 50\), "
                                         "it validates on rows up to 19 alone, within the "
                                         r"first refit's \[0, 20\).* never by the 30 rows "
                                         r"after them\. Use .*TimeSeriesSplit") as record:
        result = walk_forward(search, X, y, start=20, refit_every=10)
    assert len(record) == 1 and record[0].filename == __file__
    assert result.best_params == [{"shift": 0}] * 4
    # a window split anew chooses by its last rows
    assert walk_forward(_search(), X, y, start=20, refit_every=10).best_params[2:] == \
        [{"shift": 1}] * 2
    # a list of splits: the same; in a rolling window the positions follow the window
    splits = [(np.arange(40), np.arange(40, 60)), (np.arange(60), np.arange(65, 80))]
    assert len(_walk_recording(_ewma_search(splits), about=FIXED_ROWS)) == 1
    assert _walk_recording(_ewma_search(splits), about=FIXED_ROWS, window="rolling",
                           window_size=80) == []


def test_splits_of_negative_positions_are_counted_from_the_windows_end():
    # Negative positions index from the end (numpy, pandas' iloc, so the search's
    # folds): validating on the last 20 rows of every window keeps time order and
    # follows the expanding window. The checks read -20..-1 as rows before row 0: a
    # false "validates on none of the rows the expanding window gains ... up to -1"
    # warning, and a false look-ahead warning for positive training rows.
    latest = [(np.arange(-60, -20), np.arange(-20, 0))]
    mixed = [(np.arange(0, 40), np.arange(-20, 0))]  # first window: validates 80..99
    for splits in (latest, mixed):  # (mixed: EWMA's own warning, rows 80.. not after 39)
        assert _walk_recording(_ewma_search(splits), about="The cv") == []
    # Look-ahead in negative positions is still seen, and named by row.
    backwards = [(np.arange(-40, 0), np.arange(-60, -40))]
    (warning,) = _walk_recording(_ewma_search(backwards))
    assert ("its split 1/1 trains on row 99 and validates on the earlier row 40."
            in str(warning.message))


@pytest.mark.parametrize("nesting", ["search_of_pipeline_of_search", "search_of_search"])
def test_a_nested_search_whose_cv_is_not_in_time_order_warns_naming_its_path(nesting):
    # Only the outermost search's cv was checked: a search inside a pipeline that
    # another search searches over, or inside a search, was fitted at every refit on
    # its KFold splits of the window without a word.
    inner = _ewma_search(KFold(3))
    if nesting == "search_of_pipeline_of_search":
        from skqegm.pipeline import Pipeline

        outer = GridSearchCV(Pipeline([("m", inner)]), {"m__refit": [True]},
                             cv=TimeSeriesSplit(2))
        path = "estimator__m"
    else:
        outer = GridSearchCV(inner, {"refit": [True]}, cv=TimeSeriesSplit(2))
        path = "estimator"
    (warning,) = _walk_recording(outer)
    assert str(warning.message).startswith(
        rf"The cv=KFold(n_splits=3, random_state=None, shuffle=False) of GridSearchCV "
        f"({path}, as set_params names it) {LOOK_AHEAD}: on the first refit's training "
        "rows [0, 100), its split 1/3 trains on row 99")
    assert warning.filename == __file__
    # one warning per offending search, the outer one unnamed
    outer.set_params(cv=None)
    messages = [str(w.message) for w in _walk_recording(outer)]
    assert len(messages) == 2
    assert messages[0].startswith("The cv=None (KFold(n_splits=5, random_state=None, "
                                  f"shuffle=False)) of GridSearchCV {LOOK_AHEAD}")
    assert f"of GridSearchCV ({path}, as set_params names it) " in messages[1]
    # fixed positions in a nested search: the expanding window's check too
    splits = [(np.arange(40), np.arange(40, 60))]
    outer.set_params(cv=TimeSeriesSplit(2), **{f"{path}__cv": splits})
    (warning,) = _walk_recording(outer, about=FIXED_ROWS)
    assert f"of GridSearchCV ({path}, as set_params names it) validates on none" in str(
        warning.message)
    # and a one-shot iterator is refused by its path
    outer.set_params(**{f"{path}__cv": iter(splits)})
    with pytest.raises(TypeError, match=rf"The cv of GridSearchCV \({path}, as "
                                        r"set_params names it\) is a one-shot iterator"):
        walk_forward(outer, *_returns(), start=100)


def test_a_one_shot_cv_is_refused_and_left_unspent():
    # clone() raised "cannot pickle 'generator' object"; and the first refit would have
    # spent it.
    X, y = _returns()
    splits = ((np.arange(40), np.arange(40, 60)) for _ in range(2))
    with pytest.raises(TypeError, match=r"The cv of GridSearchCV is a one-shot iterator "
                                        r"of splits \(generator\).*TimeSeriesSplit"):
        walk_forward(_ewma_search(splits), X, y, start=100)
    assert len(list(splits)) == 2  # not consumed by the check


def test_the_cv_check_leaves_the_splitters_random_state_alone():
    # The check splits a copy: the user's RandomState is not advanced (the searches'
    # clones copy it after the check, so their splits are those of the user's state).
    rng = np.random.RandomState(0)
    _walk_recording(_ewma_search(KFold(3, shuffle=True, random_state=rng)))
    assert rng.randint(1 << 30) == np.random.RandomState(0).randint(1 << 30)


def test_a_cv_that_cannot_split_here_is_left_to_the_search():
    # A group splitter needs groups, which walk_forward does not pass: the check stays
    # silent and the search's own error says why, naming the refit.
    from sklearn.model_selection import GroupKFold

    X, y = _returns()
    with pytest.raises(ValueError, match="groups") as info:
        walk_forward(_ewma_search(GroupKFold(3)), X, y, start=100, refit_every=20)
    assert info.value.__notes__[-1].startswith("Raised in walk_forward refit 1/3 "
                                               "(training rows [0, 100); forecast rows "
                                               "[100, 120)), by the fit of GridSearchCV")


# --- an error in a refit names the refit ---------------------------------------------------

class FailsAt(Recorder):
    """Recorder whose ``step`` raises a ValueError when it is fitted on ``rows`` rows."""

    def __init__(self, rows=30, step="fit"):
        self.rows = rows
        self.step = step

    def fit(self, X, y):
        self.n_rows_ = len(y)
        if self.step == "fit" and self.n_rows_ == self.rows:
            raise ValueError("fit failed here")
        return super().fit(X, y)

    def predict_var(self, X, level):
        if self.step == "predict_var" and self.n_rows_ == self.rows:
            raise ValueError("predict_var failed here")
        return super().predict_var(X, level)


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("step", ["fit", "predict_var"])
def test_an_error_in_a_refit_names_the_refit(step, n_jobs):
    # The error said what failed, not in which refit: which training rows, which dates.
    X, y = _rows(50)
    dates = np.arange("2020-01-01", "2020-02-20", dtype="datetime64[D]")
    with parallel_config(backend="threading"):
        with pytest.raises(ValueError, match=f"^{step} failed here") as info:
            walk_forward(FailsAt(30, step), X, y, start=20, refit_every=10, dates=dates,
                         n_jobs=n_jobs)
    # the estimator's own exception: its type and message kept, the refit in a note
    note = ("Raised in walk_forward refit 2/3 (training rows [0, 30), dates 2020-01-01 to "
            "2020-01-30; forecast rows [30, 40), dates 2020-01-31 to 2020-02-09), by the "
            f"{step} of FailsAt.")
    message = f"{step} failed here" + ("" if sys.version_info >= (3, 11) else f"\n{note}")
    assert info.type is ValueError and str(info.value) == message  # 3.10: no add_note
    assert info.value.__notes__ == [note]
    # and its traceback, down to the raise (joblib's workers pass theirs as the cause)
    if n_jobs == 1:
        assert info.traceback[-1].name == step
    else:
        assert f'in {step}\n    raise ValueError("{step} failed here")' in str(
            info.value.__cause__)


class RaisesAt(Recorder):
    """Recorder whose fit on 30 rows raises ``error`` (a KeyError's message is the
    repr of its argument, an OSError's is made of several)."""

    def __init__(self, error="value"):
        self.error = error

    def fit(self, X, y):
        if len(y) == 30:
            raise {"value": ValueError("fit failed here"), "key": KeyError("column"),
                   "os": OSError(5, "Input/output error")}[self.error]
        return super().fit(X, y)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_without_add_note_the_refit_is_in_the_message_or_the_cause(monkeypatch, n_jobs):
    # Python 3.10 (supported) has no add_note and prints no __notes__: the refit's
    # rows and dates, kept there alone, were shown nowhere.
    from skqegm.model_selection import backtesting

    monkeypatch.setattr(backtesting, "_HAS_ADD_NOTE", False, raising=False)
    X, y = _rows(50)
    dates = np.arange("2020-01-01", "2020-02-20", dtype="datetime64[D]")
    note = ("Raised in walk_forward refit 2/3 (training rows [0, 30), dates 2020-01-01 to "
            "2020-01-30; forecast rows [30, 40), dates 2020-01-31 to 2020-02-09), by the "
            "fit of RaisesAt.")
    for error, kind in [("value", ValueError), ("key", KeyError), ("os", OSError)]:
        with parallel_config(backend="threading"):
            with pytest.raises(kind) as info:
                walk_forward(RaisesAt(error), X, y, start=20, refit_every=10, dates=dates,
                             n_jobs=n_jobs)
        exc = info.value
        assert type(exc) is kind and exc.__notes__ == [note]  # the type kept
        if error == "value":  # its message ends with the note
            assert str(exc) == f"fit failed here\n{note}"
        else:  # its message is made otherwise: the note is its cause
            assert str(exc) in ("'column'", "[Errno 5] Input/output error")
            if n_jobs == 1:
                assert isinstance(exc.__cause__, backtesting.RefitNote)
                assert str(exc.__cause__) == note
            else:  # joblib's cause, the worker's traceback, holds it
                assert f"RefitNote: {note}\n" in str(exc.__cause__)


def test_an_error_in_a_search_names_the_refit():
    X, y = _rows(40)
    search = GridSearchCV(FailsAt(), {"rows": [25, 30]}, scoring=lambda *args: 0.0,
                          cv=TimeSeriesSplit(2, test_size=5), error_score="raise")
    with pytest.raises(ValueError, match="fit failed here") as info:
        walk_forward(search, X, y, start=20, refit_every=10)
    assert "Raised in walk_forward refit 2/2 (training rows [0, 30); forecast rows " \
           "[30, 40)), by the fit of GridSearchCV." in info.value.__notes__


# --- to_frame with the searches' choices ---------------------------------------------------

def test_to_frame_has_a_column_per_searched_parameter():
    pd = pytest.importorskip("pandas")
    X, y = _rows(57)
    result = walk_forward(_search(), X, y, start=20, refit_every=10, levels=(0.975, 0.99))
    frame = result.to_frame()
    columns = ["y", "var_0.975", "es_0.975", "var_0.99", "es_0.99", "train_start",
               "train_stop"]
    assert list(frame.columns) == columns + ["shift"]
    # one row per forecast day (not per level), with the choice of the refit that
    # forecast it: shift 0 at the refits at rows 20 and 30, 1 at 40 and 50
    assert len(frame) == 37
    np.testing.assert_array_equal(frame["shift"], np.repeat([0, 0, 1, 1], [10, 10, 10, 7]))
    np.testing.assert_array_equal(frame["var_0.99"],
                                  frame["train_stop"] - 1 + frame["shift"])
    # without a search, the frame is as it was
    assert list(walk_forward(Recorder(), X, y, start=20, levels=(0.975, 0.99))
                .to_frame().columns) == columns
    # named as in best_params_: a search around a pipeline
    nested = GridSearchCV(make_pipeline(Shifted()), {"shifted__shift": [0, 1]},
                          cv=LoggedSplit(n_splits=2, test_size=5))
    frame = walk_forward(nested, X, y, start=20, refit_every=10).to_frame()
    assert frame.columns[-1] == "shifted__shift"
    np.testing.assert_array_equal(frame["shifted__shift"], np.repeat([0, 0, 1, 1],
                                                                     [10, 10, 10, 7]))
    # a grid of several dicts: a parameter a refit's choice lacks is None there
    grid = [{"shift": [0]}, {"shift": [1], "side": ["lower"]}]
    split = GridSearchCV(Shifted(), grid, cv=LoggedSplit(n_splits=2, test_size=5))
    frame = walk_forward(split, X, y, start=20, refit_every=10).to_frame()
    assert frame["side"].isna().tolist() == [True] * 20 + [False] * 17
    assert frame["side"].iloc[20:].tolist() == ["lower"] * 17
    assert isinstance(frame.index, pd.Index) and frame.index.name == "row"


def test_to_frame_choices_keep_their_values_and_names_apart():
    pytest.importorskip("pandas")
    result = WalkForwardResult(
        index=np.arange(3), dates=None, y=np.zeros(3), levels=(0.99,),
        var=np.zeros((3, 1)), es=np.ones((3, 1)), train_start=np.zeros(3, dtype=int),
        train_stop=np.array([5, 5, 6]), fit_time=np.zeros(2),
        best_params=[{"y": 1, "sizes": (8,)}, {"y": 2, "sizes": (4, 4)}])
    frame = result.to_frame()
    # a parameter named as a column does not replace it; a tuple stays one value
    assert frame["param_y"].tolist() == [1, 1, 2]
    np.testing.assert_array_equal(frame["y"], 0.0)
    assert frame["sizes"].tolist() == [(8,), (8,), (4, 4)]
    result.best_params = [{"y": 1}]
    with pytest.raises(ValueError, match=r"best_params holds 1 choices for 2 refits"):
        result.to_frame()


class MaybeShifted(Shifted):
    """Shifted whose ``shift`` may be None (no shift); its score prefers None on
    validation rows before row 28, ``shift=2`` from it on."""

    def predict_var(self, X, level):
        return Recorder.predict_var(self, X, level) + (self.shift or 0)

    def score(self, X, y):
        return -abs((self.shift or 0) / 2 - float(y[0] >= 28))


def test_to_frame_keeps_a_chosen_none_and_other_values_as_chosen():
    # pandas read the choices [None, 2] as the floats [nan, 2.0]: a chosen None looked
    # like a missing value, and ints became floats.
    pd = pytest.importorskip("pandas")
    X, y = _rows(57)
    search = GridSearchCV(MaybeShifted(), {"shift": [None, 2]},
                          cv=LoggedSplit(n_splits=2, test_size=5))
    result = walk_forward(search, X, y, start=20, refit_every=10)
    assert result.best_params == [{"shift": None}] * 2 + [{"shift": 2}] * 2
    column = result.to_frame()["shift"]
    assert column.dtype == object and column.tolist() == [None] * 20 + [2] * 17
    assert all(type(value) is int for value in column.iloc[20:])
    # other mixtures pandas would convert stay as chosen; one kind keeps its dtype
    choices = {"mixed": (1, 2.5), "text": ("a", None), "ints": (1, 2), "floats": (0.5, 1.0),
               "flags": (True, False), "number_or_flag": (1, True)}
    result = WalkForwardResult(
        index=np.arange(3), dates=None, y=np.zeros(3), levels=(0.99,),
        var=np.zeros((3, 1)), es=np.ones((3, 1)), train_start=np.zeros(3, dtype=int),
        train_stop=np.array([5, 5, 6]), fit_time=np.zeros(2),
        best_params=[{name: pair[k] for name, pair in choices.items()} for k in (0, 1)])
    frame = result.to_frame()
    for name, (first, second) in choices.items():
        values = frame[name].tolist()
        assert values == [first, first, second], name
        assert [type(v) for v in values] == [type(first), type(first), type(second)], name
    assert frame["mixed"].dtype == frame["text"].dtype == frame["number_or_flag"].dtype \
        == object
    assert frame["ints"].dtype == np.int64 and frame["floats"].dtype == np.float64
    assert frame["flags"].dtype == bool and isinstance(frame.index, pd.Index)


@pytest.mark.slow  # worker processes import torch (~20 s)
def test_in_worker_processes_the_warning_comes_once_and_errors_name_their_refit():
    X, y = _returns()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        walk_forward(_ewma_search(None), X, y, start=100, refit_every=20, n_jobs=2)
    assert sum(LOOK_AHEAD in str(w.message) for w in record) == 1
    X, y = _rows(50)
    with pytest.raises(ValueError, match="^fit failed here") as info:
        walk_forward(FailsAt(30), X, y, start=20, refit_every=10, n_jobs=2)
    assert info.value.__notes__ == [
        "Raised in walk_forward refit 2/3 (training rows [0, 30); forecast rows [30, 40)), "
        "by the fit of FailsAt."]


# --- warnings raised in worker processes ---------------------------------------------------

def _warning_walk(n_jobs, action, **kwargs):
    """The warnings of a walk forward of an estimator whose fit warns (3
    ConvergenceWarnings, 1 RuntimeWarning), under the filter ``action``, and the
    exception raised (None if none); with ``fail_at``, its fit then raises on that many
    rows. Its class is local, so loky's workers get it by value and import no test
    module (nor torch): they start in ~2 s."""
    from sklearn.exceptions import ConvergenceWarning

    class WarnsInFit(BaseEstimator):
        def __init__(self, fail_at=None):
            self.fail_at = fail_at

        def fit(self, X, y):
            for _ in range(3):
                warnings.warn("lbfgs failed to converge", ConvergenceWarning, stacklevel=1)
            warnings.warn(f"fitted on {len(y) // 100} hundred rows", RuntimeWarning,
                          stacklevel=1)
            if len(y) == self.fail_at:
                raise ValueError("fit failed here")
            return self

        def predict_var(self, X, level):
            return np.ones(len(X))

        def predict_es(self, X, level):
            return np.full(len(X), 2.0)

    X, y = _rows(40)
    error = None
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter(action)
        with parallel_config(backend="loky"):
            try:
                walk_forward(WarnsInFit(**kwargs), X, y, start=20, refit_every=10,
                             n_jobs=n_jobs)
            except Exception as exc:
                error = exc
    return [(w.category, str(w.message), w.lineno) for w in record], error


@pytest.mark.slow  # two loky worker processes start (~2-8 s)
def test_warnings_in_worker_processes_reach_the_callers_filters():
    # With n_jobs=2 each refit ran in a loky worker, whose warnings went to its own
    # stderr: the caller's filters (here catch_warnings, else pytest.warns,
    # logging.captureWarnings, a notebook) saw none.
    from sklearn.exceptions import ConvergenceWarning

    always, error = _warning_walk(1, "always")
    assert error is None
    assert [w[:2] for w in always] == 2 * (
        [(ConvergenceWarning, "lbfgs failed to converge")] * 3
        + [(RuntimeWarning, "fitted on 0 hundred rows")])
    assert _warning_walk(2, "always") == (always, None)  # category, message and line
    # Python's default filter: each distinct warning once per refit (scikit-learn's
    # Parallel resets the registries at every call), as with n_jobs=1
    assert _warning_walk(2, "default") == _warning_walk(1, "default") == \
        ([always[0], always[3], always[0], always[3]], None)
    assert _warning_walk(2, "ignore") == ([], None)
    # "error" acts in the worker: the fit raises the warning, named by the refit
    for n_jobs in (1, 2):
        record, error = _warning_walk(n_jobs, "error")
        assert record == [] and type(error) is ConvergenceWarning
        assert error.__notes__[-1].startswith("Raised in walk_forward refit 1/2")
    # a refit that fails: the warnings it raised first are shown too, then its error
    for n_jobs in (1, 2):
        record, error = _warning_walk(n_jobs, "always", fail_at=30)
        assert record == always and str(error) == "fit failed here"
        assert error.__notes__[-1].startswith("Raised in walk_forward refit 2/2")
        # the worker's traceback, down to the raise in fit, as joblib gives it
        assert n_jobs == 1 or re.search(r"line \d+, in fit\n", str(error.__cause__))


def _as_a_worker():
    """A caller context whose process is not this one: this process acts as a worker."""
    from skqegm.model_selection._worker_warnings import caller_context

    pid, filters = caller_context()
    return pid + 1, filters


def test_a_worker_records_what_the_callers_filters_show_and_the_caller_shows_it():
    from sklearn.exceptions import ConvergenceWarning, FitFailedWarning

    from skqegm.model_selection._worker_warnings import RecordedInWorker, replay_warnings

    # an inner search whose candidate fails warns FitFailedWarning in the worker
    search = GridSearchCV(FailsBefore(), {"min_rows": [0, 100]}, cv=TimeSeriesSplit(2))
    X, y = _rows(40)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", "ignored here", RuntimeWarning)
        worker = _as_a_worker()  # the filters as they are now
        with RecordedInWorker(worker) as recorded:
            search.fit(X, y)
            for _ in range(1000):  # an epoch loop: one record, counted
                warnings.warn("not converged", ConvergenceWarning, stacklevel=1)
            warnings.warn("ignored here", RuntimeWarning, stacklevel=1)
        assert record == []  # nothing shown in the worker
        categories = [type(message) for message, *_ in recorded.records]
        assert FitFailedWarning in categories and RuntimeWarning not in categories
        assert recorded.records[-1][1:] == (__file__, recorded.records[-1][2], __name__,
                                            1000)
        replay_warnings(recorded.records)
    # shown in the caller, as often as raised, at their own file, line and module
    assert sum(w.category is ConvergenceWarning for w in record) == 1000
    assert any(w.category is FitFailedWarning and "sklearn" in w.filename
               for w in record)
    # under the caller's default filter, once: the module's registry is the caller's
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")
        replay_warnings(recorded.records[-1:])
        replay_warnings(recorded.records[-1:])
    assert len(record) == 1
    # "error" acts in the worker, and the error is kept for the caller to raise
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with RecordedInWorker(_as_a_worker()) as recorded:
            warnings.warn("first", RuntimeWarning, stacklevel=1)
            warnings.warn("not converged", ConvergenceWarning, stacklevel=1)
    exc, text = recorded.error
    assert type(exc) is ConvergenceWarning and text.endswith("not converged\n")
    assert [str(message) for message, *_ in recorded.records] == ["first"]


def test_a_worker_sends_back_a_warning_that_does_not_pickle_by_its_text():
    from skqegm.model_selection._worker_warnings import RecordedInWorker

    class Local(UserWarning):  # a local class: pickle cannot find it
        pass

    with RecordedInWorker(_as_a_worker()) as recorded:
        warnings.warn("odd", Local, stacklevel=1)
    (message, *_), = recorded.records
    assert type(message) is UserWarning and str(message) == "Local: odd"
    # in the caller's own process nothing is recorded: warnings are shown as they come
    from skqegm.model_selection._worker_warnings import caller_context

    with pytest.warns(UserWarning, match="odd"):
        with RecordedInWorker(caller_context()) as recorded:
            warnings.warn("odd", Local, stacklevel=1)
    assert recorded.records == [] and recorded.error is None


def _few_rows_warnings(walk_or_search):
    """``(filename, lineno)`` of each warning of a GARCH fitted on few rows (it warns
    at the caller's line, through ``caller_stacklevel``) in the call given."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        walk_or_search()
    return {(w.filename, w.lineno) for w in record if "estimates are unreliable"
            in str(w.message)}


def test_a_refits_warning_points_at_the_line_that_called_walk_forward():
    # It pointed into joblib's parallel.py, even with n_jobs=1: caller_stacklevel
    # skipped skqegm's and scikit-learn's frames, not joblib's, which lie between.
    X, y = _returns(199)

    def walk():
        walk_forward(GARCHRiskEstimator(), X, y, start=100, refit_every=50)

    line = walk.__code__.co_firstlineno + 1
    assert _few_rows_warnings(walk) == {(__file__, line)}
    from skqegm.metrics import RISK_SCORERS

    search = GridSearchCV(GARCHRiskEstimator(), {"dist": ["normal", "t"]},
                          cv=TimeSeriesSplit(2), scoring=RISK_SCORERS["neg_fz0_loss"])

    def fit():
        search.fit(X[:150], y[:150])  # the candidates' fits run in joblib's Parallel

    assert _few_rows_warnings(fit) == {(__file__, fit.__code__.co_firstlineno + 1)}


@pytest.mark.slow  # two loky worker processes start (~2-8 s)
def test_a_refits_warning_in_a_worker_process_points_at_the_callers_line():
    # In a worker process the warning pointed at the top of the worker's stack
    # (joblib's parallel.py, with joblib's frames skipped multiprocessing's process.py),
    # and was shown there in the caller: there is no user's line in a worker.
    X, y = _returns(199)

    def walk():
        with parallel_config(backend="loky"):
            walk_forward(GARCHRiskEstimator(), X, y, start=100, refit_every=50, n_jobs=2)

    assert _few_rows_warnings(walk) == {(__file__, walk.__code__.co_firstlineno + 2)}


def test_a_worker_warning_at_the_frames_around_its_task_is_shown_at_the_callers_line():
    from skqegm.model_selection._worker_warnings import RecordedInWorker, replay_warnings

    def task(context):  # as joblib's frames run a task in a worker
        with RecordedInWorker(context) as recorded:
            warnings.warn("at the task's caller", UserWarning, stacklevel=2)
            warnings.warn("here", UserWarning, stacklevel=1)
        return recorded.records

    records = task(_as_a_worker())
    assert [record[1:4] for record in records] == [
        (None, None, None), (__file__, task.__code__.co_firstlineno + 3, __name__)]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        replay_warnings(records)
    assert [(w.filename, w.lineno) for w in record] == [
        (__file__, line), (__file__, task.__code__.co_firstlineno + 3)]


# --- the refits' fitted models (return_estimator) --------------------------------------------

class Tracked(Recorder):
    """Recorder that keeps a weak reference to every instance fitted (in this process):
    the test sees which fitted models are still alive."""

    FITTED = []

    def fit(self, X, y):
        Tracked.FITTED.append(weakref.ref(self))
        return super().fit(X, y)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_return_estimator_keeps_each_refits_fitted_model_in_refit_order(n_jobs):
    X, y = _rows(57)
    estimator = Recorder()
    with parallel_config(backend="threading"):
        result = walk_forward(estimator, X, y, start=20, refit_every=10, levels=(0.99,),
                              n_jobs=n_jobs, return_estimator=True)
    refits = np.unique(result.train_stop)
    # one fitted clone per refit, in the order of the refits (and of fit_time), each
    # fitted on its refit's training rows; the estimator passed stays unfitted
    assert len(result.estimators) == len(refits) == result.fit_time.shape[0] == 4
    assert [model.seen_ for model in result.estimators] == [(0, r - 1) for r in refits]
    assert len({id(model) for model in result.estimators}) == 4
    assert all(model is not estimator for model in result.estimators)
    assert not hasattr(estimator, "seen_")
    # the forecasts are those of the default walk
    default = walk_forward(estimator, X, y, start=20, refit_every=10, levels=(0.99,))
    np.testing.assert_array_equal(result.var, default.var)
    np.testing.assert_array_equal(result.es, default.es)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_by_default_the_walk_keeps_no_fitted_model(n_jobs):
    X, y = _rows(57)
    Tracked.FITTED.clear()
    with parallel_config(backend="threading"):  # fitted here, so the refs see them
        result = walk_forward(Tracked(), X, y, start=20, refit_every=10, n_jobs=n_jobs)
    gc.collect()
    assert len(Tracked.FITTED) == 4 and result.estimators is None
    assert all(ref() is None for ref in Tracked.FITTED)  # every refit's model was freed
    Tracked.FITTED.clear()
    with parallel_config(backend="threading"):
        result = walk_forward(Tracked(), X, y, start=20, refit_every=10, n_jobs=n_jobs,
                              return_estimator=np.True_)
    gc.collect()
    # held by the result alone, in refit order
    assert sorted((ref() for ref in Tracked.FITTED), key=lambda m: m.seen_) == \
        result.estimators


def test_return_estimator_keeps_each_search_with_its_scores():
    X, y = _rows(57)
    result = walk_forward(_search(), X, y, start=20, refit_every=10, return_estimator=True)
    searches = result.estimators
    assert [type(search) for search in searches] == [GridSearchCV] * 4
    assert [search.best_params_ for search in searches] == result.best_params
    # each search chose on its own window: cv_results_ of 2 candidates, and the
    # best_estimator_ that forecast its rows refitted on the whole window
    for search, refit in zip(searches, np.unique(result.train_stop)):
        assert search.cv_results_["params"] == [{"shift": 0}, {"shift": 1}]
        assert search.best_estimator_.seen_ == (0, refit - 1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_return_estimator_keeps_each_refits_fitted_callbacks():
    from skqegm.nn import LRScheduler

    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(230, 2))
    y = (1 + X[:, 0] ** 2) * rng.standard_t(5, size=230)
    schedule = LRScheduler("exponential", gamma=0.5)
    model = TailRiskEstimator(latent="gaussian", max_epochs=2, early_stopping=False,
                              hidden_layer_sizes=(8,), learning_rate=0.01,
                              callbacks=[schedule], random_state=0)
    result = walk_forward(model, X, y, start=200, refit_every=15, levels=(0.99,),
                          return_estimator=True)
    assert len(result.estimators) == 2
    for fitted in result.estimators:
        fitted_schedule, = fitted.callbacks
        assert fitted_schedule is not schedule
        np.testing.assert_allclose(fitted_schedule.learning_rates_, [0.01, 0.005])
    assert not hasattr(schedule, "learning_rates_")  # the user's instance stays unfitted


def test_return_estimator_gives_the_models_from_worker_processes():
    # With loky each refit's model is fitted in a worker process and comes back pickled:
    # its fitted attributes are those of the refit run here, bit for bit.
    pytest.importorskip("arch")
    r = np.random.default_rng(0).standard_t(4, size=500) / 100
    X, y = r[:-1, None], r[1:]
    one = walk_forward(GARCHRiskEstimator(), X, y, start=300, refit_every=100,
                       return_estimator=True)
    with parallel_config(backend="loky"):
        two = walk_forward(GARCHRiskEstimator(), X, y, start=300, refit_every=100, n_jobs=2,
                           return_estimator=True)
    assert len(one.estimators) == len(two.estimators) == 2
    for here, there in zip(one.estimators, two.estimators):
        assert here.params_ == there.params_
        np.testing.assert_array_equal(here.conditional_volatility_,
                                      there.conditional_volatility_)
    assert one.estimators[0].params_ != one.estimators[1].params_  # two fits, not one
    np.testing.assert_array_equal(one.var, two.var)


def test_a_result_with_its_models_pickles_and_its_frame_has_no_column_of_them():
    pd = pytest.importorskip("pandas")
    X, y = _rows(57)
    default = walk_forward(_search(), X, y, start=20, refit_every=10)
    result = walk_forward(_search(), X, y, start=20, refit_every=10, return_estimator=True)
    pd.testing.assert_frame_equal(result.to_frame(), default.to_frame())
    again = pickle.loads(pickle.dumps(result))
    assert [search.best_estimator_.seen_ for search in again.estimators] == \
        [search.best_estimator_.seen_ for search in result.estimators]
    assert again.best_params == result.best_params
    pd.testing.assert_frame_equal(again.to_frame(), default.to_frame())
    assert pickle.loads(pickle.dumps(default)).estimators is None


class _Warm(BaseEstimator):
    """Counts its fits when ``warm_start`` (as scikit-learn's warm starts continue): its
    forecast is minus the count; its ``sgd`` (a warm-started SGDRegressor) trains on."""

    def __init__(self, sgd, warm_start=True):
        self.sgd = sgd
        self.warm_start = warm_start

    def fit(self, X, y):
        self.n_fits_ = getattr(self, "n_fits_", 0) + 1 if self.warm_start else 1
        self.sgd_ = self.sgd.fit(X, y)
        return self

    def predict_var(self, X, level):
        return np.full(len(X), -float(self.n_fits_))

    def predict_es(self, X, level):
        return self.predict_var(X, level) - 1


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_warm_start_carries_nothing_from_one_refit_to_the_next(n_jobs):
    # Every refit fits a fresh clone: a warm start (theirs, or a nested SGDRegressor's)
    # starts cold, with any n_jobs, and the estimator given stays unfitted.
    from sklearn.linear_model import SGDRegressor

    X, y = _rows(120)
    sgd = SGDRegressor(warm_start=True, max_iter=5, tol=None, random_state=0)
    result = walk_forward(_Warm(sgd), X, y / 100, start=60, refit_every=20, n_jobs=n_jobs,
                          return_estimator=True)
    assert np.all(result.var == -1)  # one fit each
    # SGD's t_ counts the samples seen, over every fit: max_iter * rows, plus 1.
    assert [model.sgd_.t_ for model in result.estimators] == [301, 401, 501]
    assert not hasattr(sgd, "coef_")


def _one_refit_recording(estimator):
    """The look-ahead warnings of a walk of one refit (they come before any fit)."""
    return _walk_recording(estimator, start=140)


def test_a_search_among_a_searchs_candidates_has_its_cv_checked():
    # A search given as a candidate value (param_grid={"m": [..., search]}), which
    # get_params(deep=True) does not reach, was fitted at every refit on its KFold
    # splits of the window without a word.
    from skqegm.baselines import EWMARiskEstimator
    from skqegm.metrics import RISK_SCORERS
    from skqegm.pipeline import Pipeline

    inner = _ewma_search(KFold(3))
    outer = GridSearchCV(Pipeline([("m", EWMARiskEstimator())]),
                         {"m": [EWMARiskEstimator(), inner]}, cv=TimeSeriesSplit(2),
                         scoring=RISK_SCORERS["neg_fz0_loss"])
    (warning,) = _one_refit_recording(outer)
    assert str(warning.message).startswith(
        "The cv=KFold(n_splits=3, random_state=None, shuffle=False) of GridSearchCV (in "
        f"param_grid['m'][1]) {LOOK_AHEAD}: on the first refit's training rows [0, 140)")
    # In a list of grids (RandomizedSearchCV's too), and through a candidate's steps.
    randomized = RandomizedSearchCV(
        Pipeline([("m", EWMARiskEstimator())]),
        [{"m": [EWMARiskEstimator()]}, {"m": [Pipeline([("s", inner)])]}], n_iter=2,
        cv=TimeSeriesSplit(2), scoring=RISK_SCORERS["neg_fz0_loss"], random_state=0)
    (warning,) = _one_refit_recording(randomized)
    assert "of GridSearchCV (in param_distributions[1]['m'][0]__s) " in str(warning.message)
    # A nested search's cv given among the candidates: each is checked, and the nested
    # search's own cv (KFold by default), which every candidate replaces, is not.
    nested = GridSearchCV(_ewma_search(None), {"cv": [TimeSeriesSplit(2), KFold(3)]},
                          cv=TimeSeriesSplit(2), scoring=RISK_SCORERS["neg_fz0_loss"])
    (warning,) = _one_refit_recording(nested)
    assert str(warning.message).startswith(
        "The cv=KFold(n_splits=3, random_state=None, shuffle=False) of GridSearchCV (in "
        "param_grid['cv'][1]) trains on rows after")
    piped = GridSearchCV(Pipeline([("m", _ewma_search(TimeSeriesSplit(2)))]),
                         [{"m__cv": [TimeSeriesSplit(3)]}, {"m__estimator__decay": [0.9]}],
                         cv=TimeSeriesSplit(2), scoring=RISK_SCORERS["neg_fz0_loss"])
    assert _one_refit_recording(piped) == []
    piped.set_params(param_grid=[{"m__cv": [4]}, {"m__estimator__decay": [0.9]}])
    (warning,) = _one_refit_recording(piped)
    assert "The cv=4 (KFold(n_splits=4, random_state=None, shuffle=False)) of GridSearchCV " \
           "(in param_grid[0]['m__cv'][0]) " in str(warning.message)
    # A one-shot iterator there is refused before clone() fails to copy it.
    inner.set_params(cv=iter([(np.arange(40), np.arange(40, 60))]))
    with pytest.raises(TypeError, match=r"The cv of GridSearchCV \(in param_grid\['m'\]"
                                        r"\[1\]\) is a one-shot iterator"):
        walk_forward(outer, *_returns(), start=100)
