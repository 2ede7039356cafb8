"""Walk-forward backtests: refit on the past, forecast the next rows, repeat."""

import logging
import numbers
import time
import warnings

import numpy as np
from scipy.sparse import issparse
from sklearn.base import clone
from sklearn.utils.parallel import Parallel, delayed

from ..metrics import var_exceedances
from ..utils._memory import check_memory
from ..utils._sampling import pipeline_hint
from ..utils._search import outer_search, searched_model
from ..utils._tails import forecast_side
from ..utils._validation import (
    as_1d,
    check_confidence_level,
    check_int,
    check_option,
    check_random_state,
    check_real_array,
    count_rows,
)
from ..utils._warnings import caller_stacklevel
from ._search_cv import check_search_cv, warn_about_search_cv
from ._worker_warnings import (
    RecordedInWorker,
    caller_context,
    raise_in_caller,
    replay_warnings,
)

__all__ = ["WalkForwardResult", "walk_forward"]

logger = logging.getLogger(__name__)

WINDOWS = ("expanding", "rolling")


class WalkForwardResult:
    """The forecasts of :func:`walk_forward`, aligned with the realised values.

    Row ``i`` of every array is forecast row ``index[i]`` of the input: its VaR and ES at
    every level, its realised ``y`` and (when given) its date, and the training rows of
    the model that forecast it, ``train_start[i] <= row < train_stop[i] = refit row``.

    Attributes
    ----------
    index : ndarray of shape (n_forecasts,)
        Positions of the forecast rows in ``X`` / ``y``.
    dates : ndarray of shape (n_forecasts,) or None
        Their dates, if ``dates`` was given (or ``X``, else ``y``, had a pandas index).
    y : ndarray of shape (n_forecasts,)
        The realised values.
    levels : tuple of float
        Confidence levels, the columns of ``var`` and ``es``.
    var, es : ndarray of shape (n_forecasts, n_levels)
        Value-at-risk and expected shortfall in the estimator's convention (positive
        losses for the lower tail).
    train_start, train_stop : ndarray of shape (n_forecasts,)
        The training rows ``[train_start, train_stop)`` of each forecast's model.
    fit_time : ndarray of shape (n_refits,)
        Seconds spent in each refit's ``fit``.
    draws : ndarray of shape (n_forecasts, n_draws) or None
        Draws from each forecast's predictive distribution (``sample_y``), when
        ``n_draws`` was given: the ``predictive`` of
        :func:`~skqegm.metrics.acerbi_szekely_test`.
    side : {"lower", "upper"}
        The tail forecast: the estimator's ``side`` (``"lower"`` for one without; for a
        search, that of its ``best_estimator_``). Pass it to the metrics, whose default
        is ``"lower"``, or use :meth:`exceedances`.
    best_params : list of dict or None
        For a search (or a pipeline ending in one), the ``best_params_`` it chose at
        each refit, in the order of ``fit_time``: refit ``k`` forecast the rows whose
        ``train_stop`` is ``np.unique(train_stop)[k]`` (:meth:`to_frame` puts each
        row's in columns). ``None`` for an estimator that is no search.
    estimators : list of estimator or None
        With ``return_estimator=True``, the fitted clone of ``estimator`` of each refit,
        in the order of ``fit_time`` (refit ``k`` forecast the rows whose
        ``train_stop`` is ``np.unique(train_stop)[k]``): its fitted attributes, a
        search's ``cv_results_`` and ``best_estimator_``, a torch estimator's fitted
        ``callbacks``. ``None`` by default: the walk keeps no model. :meth:`to_frame`
        leaves them out.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import HistoricalSimulation
    >>> from skqegm.model_selection import walk_forward
    >>> r = np.random.default_rng(0).standard_t(4, size=400) / 100
    >>> X, y = r[:-1, None], r[1:]
    >>> result = walk_forward(HistoricalSimulation(window=100), X, y, start=300,
    ...                       refit_every=50, levels=(0.99,))
    >>> result.var_at(0.99).shape, result.train_stop[:2].tolist()
    ((99,), [300, 300])
    """

    def __init__(self, index, dates, y, levels, var, es, train_start, train_stop, fit_time,
                 draws=None, side="lower", best_params=None, estimators=None):
        self.index = index
        self.dates = dates
        self.y = y
        self.levels = levels
        self.var = var
        self.es = es
        self.train_start = train_start
        self.train_stop = train_stop
        self.fit_time = fit_time
        self.draws = draws
        self.side = side
        self.best_params = best_params
        self.estimators = estimators

    def __repr__(self):
        return (f"WalkForwardResult(n_forecasts={self.index.shape[0]}, "
                f"levels={self.levels}, refits={self.fit_time.shape[0]})")

    def _column(self, level):
        level = check_confidence_level(level)
        matches = [i for i, lv in enumerate(self.levels) if np.isclose(lv, level)]
        if not matches:
            raise ValueError(f"level={level!r} was not forecast; the levels are "
                             f"{self.levels}.")
        return matches[0]

    def var_at(self, level):
        """The VaR column of ``level``, shape (n_forecasts,).

        Parameters
        ----------
        level : float
            One of ``levels``.

        Returns
        -------
        var : ndarray of shape (n_forecasts,)
        """
        return self.var[:, self._column(level)]

    def es_at(self, level):
        """The ES column of ``level``, shape (n_forecasts,).

        Parameters
        ----------
        level : float
            One of ``levels``.

        Returns
        -------
        es : ndarray of shape (n_forecasts,)
        """
        return self.es[:, self._column(level)]

    def exceedances(self, level):
        """Flags of the forecast rows whose realised ``y`` breached the VaR of ``level``,
        on the forecast's ``side`` (:func:`~skqegm.metrics.var_exceedances`).

        Parameters
        ----------
        level : float
            One of ``levels``.

        Returns
        -------
        flags : ndarray of shape (n_forecasts,), dtype int
        """
        return var_exceedances(self.y, self.var_at(level), side=self.side)

    def to_frame(self):
        """The result as a pandas DataFrame, one row per forecast (needs pandas).

        Columns ``y``, ``var_<level>``, ``es_<level>``, ``train_start``, ``train_stop``;
        indexed by ``dates`` when there are dates, else by ``index``. With a search
        (``best_params`` is not None), then one column per searched parameter, named as
        in ``best_params_`` (``estimator__decay``), holding on each row the choice of
        the refit that forecast it, as it was chosen (``None`` where that refit's choice
        has no such parameter); a parameter named as a column before it is
        ``param_<name>``. A column of choices all ints, all floats, all booleans or all
        strings has that dtype; any other (a ``None`` among numbers, ints beside
        floats, tuples, estimators) is of dtype object, so that no value is converted
        (pandas would read ``[None, 2]`` as ``[nan, 2.0]``).

        Returns
        -------
        frame : pandas.DataFrame
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_frame needs pandas: pip install 'skqegm[data]'  (or: pip "
                              "install pandas)") from exc
        columns = {"y": self.y}
        for j, level in enumerate(self.levels):
            # The shortest repr that reads back as the level: 0.975, and 0.9999999 too.
            columns[f"var_{float(level)!r}"] = self.var[:, j]
            columns[f"es_{float(level)!r}"] = self.es[:, j]
        columns["train_start"] = self.train_start
        columns["train_stop"] = self.train_stop
        index = (pd.Index(self.dates, name="date") if self.dates is not None
                 else pd.Index(self.index, name="row"))
        frame = pd.DataFrame(columns, index=index)
        if self.best_params is not None:
            for name, values in self._choice_columns(set(columns)).items():
                frame[name] = _choice_column(pd, values, index)
        return frame

    def _choice_columns(self, taken):
        """The searches' choices, one list per parameter, aligned with the forecasts:
        refit ``k`` forecast the rows whose ``train_stop`` is the ``k``-th refit row."""
        refit_rows = np.unique(self.train_stop)
        if len(self.best_params) != refit_rows.shape[0]:
            raise ValueError(f"best_params holds {len(self.best_params)} choices for "
                             f"{refit_rows.shape[0]} refits (distinct train_stop); it "
                             "needs one per refit, in their order.")
        choices = [params or {} for params in self.best_params]
        refit_of_row = np.searchsorted(refit_rows, self.train_stop)
        names = list(dict.fromkeys(name for params in choices for name in params))
        # Lists, not numpy arrays: a tuple (hidden_layer_sizes) or an estimator stays
        # one value of the column.
        return {(f"param_{name}" if name in taken else name):
                [choices[k].get(name) for k in refit_of_row] for name in names}


def _value_kind(value):
    """The kind of a chosen value that pandas stores as it is in a column of that kind
    alone: booleans, ints, floats or strings; None for any other (``None`` included)."""
    if isinstance(value, (bool, np.bool_)):
        return bool
    for kind in (numbers.Integral, float, str):  # np.float64 is a float, np.int64 Integral
        if isinstance(value, kind):
            return kind
    return None


def _choice_column(pd, values, index):
    """The choices as a column: inferred by pandas when all are of one kind that it
    stores as they are, else of dtype object (pandas would make ``[None, 2]``
    ``[nan, 2.0]``, ``[1, 2.5]`` ``[1.0, 2.5]`` and ``["a", None]`` ``["a", nan]``)."""
    kinds = {_value_kind(value) for value in values}
    if len(kinds) == 1 and None not in kinds:
        return pd.Series(values, index=index)
    return pd.Series(values, index=index, dtype=object)


def _take(X, rows):
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def _check_estimator(estimator, n_draws):
    if isinstance(estimator, type):  # forgotten parentheses
        raise TypeError(f"walk_forward needs an estimator; {estimator.__name__} is a class, "
                        "not an instance.")
    if not hasattr(estimator, "fit"):
        raise TypeError(f"walk_forward needs an estimator with fit; "
                        f"{type(estimator).__name__} has none.")
    model = searched_model(estimator, fitted=False, caller="walk_forward")
    check_search_cv(estimator)
    needed = ("predict_var", "predict_es") + (() if n_draws is None else ("sample_y",))
    missing = [m for m in needed if not hasattr(model, m)]
    if missing:
        search, searched = outer_search(estimator), ""
        if search is estimator:
            searched = f" (the model that {type(search).__name__} searches over)"
        elif search is not None:
            searched = f" (with {type(search).__name__} replaced by the model it searches over)"
        raise TypeError(f"walk_forward needs an estimator with fit, {', '.join(needed)}"
                        + ("" if n_draws is None else " (n_draws is set)")
                        + f"; {type(model).__name__}{searched} lacks {', '.join(missing)}."
                        + pipeline_hint(model, missing))


def _check_same_index(X, y_index):
    """Refuse a pandas ``y`` whose index differs from that of a pandas ``X``: the rows
    are paired by position, so ``X`` sorted by date and ``y`` not would pair each row's
    features with another day's return."""
    X_index = getattr(X, "index", None) if hasattr(X, "iloc") else None
    if X_index is None or y_index is None or X_index.equals(y_index):
        return
    raise ValueError("y and X have different indexes: walk_forward pairs their rows by "
                     "position, which would pair each row of X with another row's y. "
                     "Align them first (y = y.loc[X.index], or sort both by date), or "
                     "pass y.to_numpy() to pair them by position.")


def _check_levels(levels):
    levels = tuple(np.atleast_1d(np.asarray(levels, dtype=object)).tolist())
    if not levels:
        raise ValueError("levels must hold at least one confidence level.")
    levels = tuple(check_confidence_level(level, "levels") for level in levels)
    # var_at / es_at find a level with np.isclose: levels that close would be one.
    close = np.isclose(np.array(levels)[:, None], np.array(levels)[None, :])
    if np.count_nonzero(close) > len(levels):
        raise ValueError(f"levels must not repeat a value (levels within a relative 1e-5 "
                         f"of each other count as one); got {levels}.")
    return levels


def _check_dates(dates, X, n_rows, y_index):
    if dates is None and hasattr(X, "index") and hasattr(X, "iloc"):
        # The index of a pandas X is the dates: it must be in time order as well (a
        # frame sorted newest first would otherwise be walked backwards, the "past" of
        # every refit being the future).
        return _increasing(np.asarray(X.index), "the index of X (the dates when "
                           "dates=None)", "sort X and y by date (X.sort_index(), "
                           "y.sort_index()), or "
                           "pass dates")
    if dates is None and y_index is not None:  # a pandas y beside a numpy X
        return _increasing(np.asarray(y_index), "the index of y (the dates when "
                           "dates=None and X has none)", "sort X and y by date, or "
                           "pass dates")
    if dates is None:
        return None
    dates = np.asarray(dates)
    if dates.ndim != 1 or dates.shape[0] != n_rows:
        raise ValueError(f"dates must have one entry per row of X ({n_rows}); got shape "
                         f"{dates.shape}.")
    return _increasing(dates, "dates", "sort the rows by date")


def _increasing(dates, name, remedy):
    try:
        ordered = dates.shape[0] < 2 or bool(np.all(dates[1:] > dates[:-1]))
    except TypeError as exc:  # labels of mixed types
        raise ValueError(f"{name} must be sortable labels (dates); {exc}.") from exc
    if not ordered:
        raise ValueError(f"{name} must be strictly increasing: walk_forward runs forward "
                         f"in time over rows in time order; {remedy}.")
    return dates


def _start_value(start, dates):
    """``start`` as a value that numpy compares with ``dates``, at its own precision."""
    if dates.dtype.kind == "M":
        # In its own unit: cast to the unit of daily dates, "2020-01-21T12:00" was the
        # day 2020-01-21, and the first forecast came before the start.
        return start.to_datetime64() if hasattr(start, "to_datetime64") else np.datetime64(start)
    value = np.asarray(start)
    if value.dtype.kind in "US" and dates.dtype.kind in "iuf":
        return np.asarray(start, dtype=dates.dtype)  # a number written as a string
    return value  # a number is compared as it is: 20.5 comes after the date 20


def _date_position(start, dates):
    """The first row on or after the date ``start``."""
    try:
        return int(np.searchsorted(dates, _start_value(start, dates)))
    except (TypeError, ValueError):
        if dates.dtype != object:
            raise
    # Time-zone-aware and period dates are objects to numpy, which cannot compare them
    # with a string; pandas (that made them) parses it in the dates' own type.
    import pandas as pd

    return int(pd.Index(dates).searchsorted(start))


def _check_start(start, dates, n_rows):
    if dates is None and not isinstance(start, numbers.Real):  # a date, say
        raise ValueError(f"start={start!r} is not a row number, and there are no dates to "
                         "find it among: pass dates (or X as a DataFrame indexed by its "
                         "dates), or start as a row number.")
    if dates is not None and not isinstance(start, (int, np.integer)):
        try:
            position = _date_position(start, dates)
        except (TypeError, ValueError, ImportError) as exc:
            raise ValueError(f"start must be a row number or a date comparable with dates; "
                             f"got {start!r}.") from exc
        if position >= n_rows:
            raise ValueError(f"start={start!r} is after the last date {dates[-1]}.")
        if position == 0:
            raise ValueError(f"start={start!r} is on or before the first date {dates[0]}: "
                             "the first forecast needs at least one training row before "
                             "it.")
        start = position
    return check_int(start, "start", min_value=1, max_value=n_rows - 1)


def _blocks(n_rows, start, refit_every, window, window_size):
    """``(train_start, train_stop, stop)`` of every refit: fit on rows ``[train_start,
    train_stop)``, forecast rows ``[train_stop, stop)``."""
    blocks = []
    for refit in range(start, n_rows, refit_every):
        first = 0 if window == "expanding" else refit - window_size
        blocks.append((first, refit, min(refit + refit_every, n_rows)))
    return blocks


def _unscored_choice(search):
    """Whether ``search`` chose a candidate without a finite mean validation score (on
    its ``refit`` metric): every candidate failed to fit or scored NaN, and scikit-learn
    then takes the first one, which no validation chose."""
    results = getattr(search, "cv_results_", None)
    best = getattr(search, "best_index_", None)
    if not isinstance(results, dict) or not isinstance(best, numbers.Integral):
        return False
    refit = search.get_params(deep=False)["refit"]
    keys = [f"mean_test_{refit}"] if isinstance(refit, str) else []
    if not (keys and keys[0] in results):
        # True, a callable, or a name beside a single scorer (whose results are
        # "mean_test_score"): every scorer's mean
        keys = [key for key in results if key.startswith("mean_test_")]
    scores = [results[key][best] for key in keys]
    return bool(scores) and not np.any(np.isfinite(np.asarray(scores, dtype=float)))


def _fit_forecast(estimator, X, y, block, levels, n_draws, seed, where, context,
                  return_estimator):
    """Fit on the block's training rows, forecast its rows; with a search, through the
    ``best_estimator_`` it chose on the training rows alone.

    An exception names the refit (``where``) in a note; its type and traceback are kept,
    and the note travels with it from a joblib worker process (pickled in its
    ``__dict__``). In a worker process, the warnings raised are recorded under the
    caller's filters (``context``), and an exception kept: both are returned, for the
    caller to show and raise in the refits' order.
    """
    output = None
    with RecordedInWorker(context) as recorded:
        output = _fit_forecast_here(estimator, X, y, block, levels, n_draws, seed, where,
                                    return_estimator)
    return output, recorded.records, recorded.error


def _fit_forecast_here(estimator, X, y, block, levels, n_draws, seed, where,
                       return_estimator):
    train_start, train_stop, stop = block
    train = np.arange(train_start, train_stop)
    test = np.arange(train_stop, stop)
    step = "fit"
    try:
        began = time.perf_counter()
        estimator.fit(_take(X, train), y[train])
        fit_time = time.perf_counter() - began
        step = "forecast"
        model = searched_model(estimator, fitted=True, caller="walk_forward")
        X_test = _take(X, test)
        step = "predict_var"
        var = np.column_stack([model.predict_var(X_test, level) for level in levels])
        step = "predict_es"
        es = np.column_stack([model.predict_es(X_test, level) for level in levels])
        step = "sample_y"
        draws = (None if n_draws is None
                 else model.sample_y(X_test, n_draws, random_state=seed))
    except Exception as exc:
        _add_note(exc, f"Raised in {where}, by the {step} of {type(estimator).__name__}.")
        raise
    search = outer_search(estimator)
    best_params = None if search is None else getattr(search, "best_params_", None)
    unscored = search is not None and _unscored_choice(search)
    # The fitted model goes back (from a worker process, pickled) only when asked for:
    # by default each refit's model is freed once it has forecast.
    return (var, es, fit_time, draws, best_params, forecast_side(estimator) or "lower",
            unscored, estimator if return_estimator else None)


# Python 3.10 has no BaseException.add_note, and prints no __notes__.
_HAS_ADD_NOTE = hasattr(BaseException, "add_note")


class RefitNote(Exception):
    """Where an exception raised in a refit came from, on Python 3.10: its cause, when
    its message cannot say it."""


def _add_note(exc, note):
    """``exc.add_note(note)``.

    On Python 3.10, which has neither ``add_note`` nor prints notes, the note is kept in
    ``__notes__`` (where pytest and later tools read it) and shown: appended to the
    message of an exception whose message is its one string argument (most are), else
    as its cause (a :class:`RefitNote`), if it has none; the exception keeps its type.
    """
    if _HAS_ADD_NOTE:
        exc.add_note(note)
        return
    try:
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]
    except (AttributeError, TypeError):  # an exception that takes no attributes
        pass
    args = exc.args
    if len(args) == 1 and isinstance(args[0], str) and str(exc) == args[0]:
        exc.args = (f"{args[0]}\n{note}",)
        if note in str(exc):
            return
        exc.args = args  # a message made otherwise
    if exc.__cause__ is None and exc.__context__ is None:
        exc.__cause__ = RefitNote(note)


def _refit_text(number, n_refits, block, dates):
    """How errors name a refit: ``walk_forward refit 2/4 (training rows [0, 30), dates
    ... to ...; forecast rows [30, 40), dates ... to ...)``."""
    def rows(first, stop):
        text = f"rows [{first}, {stop})"
        if dates is not None and stop > first:
            text += f", dates {dates[first]} to {dates[stop - 1]}"
        return text

    return (f"walk_forward refit {number}/{n_refits} (training {rows(block[0], block[1])}; "
            f"forecast {rows(block[1], block[2])})")


def _check_sides(sides, blocks):
    """The one tail of every refit's forecasts (a search may choose ``side``)."""
    if len(set(sides)) > 1:
        where = {side: blocks[sides.index(side)][1] for side in sides}
        raise ValueError(
            "the refitted models forecast different tails: "
            + ", ".join(f"side={side!r} (first in the refit at row {row})"
                        for side, row in where.items())
            + ". The forecasts of one walk must all be of one tail (the backtests read "
            "them on one side): leave side out of the search's grid, and walk forward "
            "once per side.")
    return sides[0]


def _check_forecast(values, name, estimator, block, n_levels, where):
    model = f"{type(estimator).__name__} in {where}"
    values = check_real_array(values, f"the {name} of {model}")
    expected = (block[2] - block[1], n_levels)
    if values.shape != expected:
        raise ValueError(f"{name} of {model} must return one value per row, shape "
                         f"({expected[0]},), at each of the {n_levels} levels; the levels' "
                         f"outputs stacked have shape {values.shape}, not {expected}.")
    return values


def _check_draws(draws, estimator, block, n_draws, where):
    model = f"{type(estimator).__name__} in {where}"
    draws = check_real_array(draws, f"the sample_y draws of {model}")
    expected = (block[2] - block[1], n_draws)
    if draws.shape != expected:
        raise ValueError(f"sample_y of {model} returned shape {draws.shape}; expected "
                         f"{expected}.")
    return draws


def walk_forward(estimator, X, y, *, start, refit_every=20, window="expanding",
                 window_size=None, levels=(0.975, 0.99), dates=None, n_draws=None,
                 random_state=None, n_jobs=None, verbose=0, return_estimator=False):
    """Walk-forward VaR and ES forecasts: refit on the past every ``refit_every`` rows.

    From row ``start`` on, a clone of ``estimator`` is fitted every ``refit_every`` rows,
    at row ``t``, on the rows before ``t`` (all of them, ``window="expanding"``, or the
    last ``window_size``, ``window="rolling"``), and forecasts rows ``t`` to
    ``t + refit_every - 1`` with ``predict_var(X_rows, level)`` and
    ``predict_es(X_rows, level)``. No model ever sees the ``y`` of a row it forecasts:
    the forecasts are out of sample. ``X`` must hold, on each row, only what is known
    before that row's ``y`` (as :func:`~skqegm.preprocessing.make_lagged_features`
    builds it); the forecasts of a block are made together, from their rows of ``X``.

    The refits are independent, so they run in parallel with ``n_jobs``; every clone has
    the estimator's parameters (its ``random_state`` included), so the result does not
    depend on ``n_jobs`` when every seed is fixed. Nothing carries from one refit to the
    next: a ``warm_start=True`` (the estimator's, or a step's) starts every refit from a
    fresh clone, cold, and an estimator given fitted is fitted anew. A
    ``random_state=None`` anywhere (the estimator's, a ``RandomizedSearchCV``'s, a
    shuffling splitter's) draws from numpy's global generator in whatever order the
    refits run, so its results vary from run to run, with any ``n_jobs``.

    The estimator may be a hyper-parameter search (``GridSearchCV``,
    ``RandomizedSearchCV``, ..., alone, around a pipeline or at the end of one): at every
    refit the search runs on the training rows alone (its ``cv`` splits them, and never
    sees a forecast row), and the rows are forecast by its ``best_estimator_``, the
    chosen model refitted on the whole window. The parameters chosen at each refit are
    in ``result.best_params`` (and in columns of ``result.to_frame()``). Give the search
    a ``cv`` that keeps time order, such as
    :class:`~sklearn.model_selection.TimeSeriesSplit` (the return-series baselines need
    their validation rows to follow their training rows), and ``refit=True`` (or a
    scorer name, or a callable). Before any fit, the search's splits of the first
    refit's training rows are made (as scikit-learn's ``check_cv`` makes them) and, if
    one trains on a row after one it validates on (scikit-learn's default ``KFold``
    does), ``walk_forward`` warns once; it warns too if, with an expanding window, the
    splits of the last refit's training rows validate on none of the rows gained since
    the first (a list of splits or a ``PredefinedSplit`` holds fixed positions, so
    every refit would choose by the same early rows). So is every search nested in it
    (in a pipeline, in another search: any that ``get_params(deep=True)`` reaches),
    each named by its path there (``estimator__m``), and every search among a search's
    candidates (an estimator in the lists of its ``param_grid`` or
    ``param_distributions``), named by its place there (``in param_grid['m'][1]``),
    as is each ``cv`` given there to a nested search (``{"estimator__cv": [...]}``; the
    nested search's own ``cv``, if every grid replaces it, is not checked). A search
    held otherwise (in an attribute that is no parameter) is not checked.
    A halving search's default
    ``resource="n_samples"`` trains its first candidates on rows drawn at random, out of
    time order: the return-series baselines warn of it; give it another resource for
    them.

    A warning raised in a refit that runs in a worker process (joblib's default for
    ``n_jobs > 1``) is shown in the caller's process, as with ``n_jobs=1``: the worker
    applies the caller's warning filters (``"ignore"`` and ``"error"`` act there) and
    the warnings they would show are warned again in the caller, refit by refit, with
    their category, message, file and line, where the caller's filters and registries
    decide (Python's default filter shows each once per refit, as with ``n_jobs=1``).
    skqegm's warnings point at the line that called ``walk_forward``, in either case
    (not in the threads of joblib's threading backend, where they point at the thread's
    first frame: a thread has no frame of the caller's).
    The walk stops at the first refit, in time order, that raises.

    An exception raised in a refit (by ``fit``, ``predict_var``, ``predict_es`` or
    ``sample_y``, in any process) keeps its type, message and traceback, and names the
    refit in a note (``exc.add_note``): its number, training rows and forecast rows, with
    their dates. Python 3.10 prints no note: there it ends the exception's message (or,
    where its message is made otherwise, is its cause), and is in ``exc.__notes__``.

    Parameters
    ----------
    estimator : estimator
        Unfitted (it is cloned), with ``fit(X, y)``, ``predict_var(X, level)`` and
        ``predict_es(X, level)``: :class:`~skqegm.TailRiskEstimator`,
        :class:`~skqegm.baselines.GARCHRiskEstimator`,
        :class:`~skqegm.baselines.HistoricalSimulation`, a pipeline ending in one of
        them; or a search over one of them (any estimator with the parameters
        ``estimator`` and ``refit`` and, once fitted, a ``best_estimator_``), or a
        :class:`skqegm.pipeline.Pipeline` ending in such a search.
    X : array-like of shape (n_samples, n_features), DataFrame or sparse matrix
        Features in time order.
    y : array-like of shape (n_samples,) or (n_samples, 1), Series or DataFrame
        Targets (returns) in time order, finite; a single column counts as 1-D. Rows are
        paired with those of ``X`` by position: a pandas ``y`` must have the index of a
        pandas ``X``.
    start : int or date
        The first forecast row, in [1, n_samples). With ``dates`` (or a pandas ``X``) it
        may also be a date (a string, ``datetime64`` or Timestamp): the first row on or
        after it, compared at its own precision (``"2020-01-21 12:00"`` starts on the
        next day of daily dates). An int is always a row number, even when the dates are
        integers.
    refit_every : int, default=20
        Rows forecast by each fitted model (refit frequency), >= 1.
    window : {"expanding", "rolling"}, default="expanding"
        Training rows of a refit at row ``t``: ``[0, t)`` or
        ``[t - window_size, t)``.
    window_size : int or None, default=None
        Rows of the rolling window, in [1, start]; only with ``window="rolling"``.
    levels : sequence of float, default=(0.975, 0.99)
        Confidence levels in (0.5, 1), distinct (not within a relative 1e-5 of each
        other).
    dates : array-like of shape (n_samples,) or None, default=None
        Strictly increasing dates (or any sortable labels) of the rows; ``None`` takes
        the index of a pandas ``X`` (else of a pandas ``y``), which must then be strictly
        increasing too.
    n_draws : int or None, default=None
        Also draw ``n_draws`` values (>= 1) from each forecast's predictive distribution
        with ``sample_y(X_rows, n_draws, random_state=seed)`` (the estimator needs it),
        kept in ``result.draws`` for :func:`~skqegm.metrics.acerbi_szekely_test`.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws: one seed per refit, drawn before the refits run, so the draws
        do not depend on ``n_jobs``. Not used without ``n_draws``.
    n_jobs : int or None, default=None
        Parallel refits (joblib; ``None`` is 1, ``-1`` all cores).
    verbose : int, default=0
        ``>= 1`` prints one line per refit. Every refit is also logged (INFO) to the
        ``skqegm`` logger.
    return_estimator : bool, default=False
        Keep the fitted model of every refit in ``result.estimators``, in refit order
        (as ``fit_time`` and ``best_params``): the fitted clone of ``estimator`` (for a
        search, the search, with its ``cv_results_`` and ``best_estimator_``), to read
        what each refit learned. Opt-in, as in scikit-learn's ``cross_validate``,
        because the walk then holds every refit's model at once, the number of refits
        times the memory of one (a search with its ``best_estimator_`` and scores, a
        torch estimator with its network and fitted ``callbacks``), where by default
        each refit's model is freed once it has forecast. That memory is not estimated
        beforehand: a model's size is known only once it is fitted. With ``n_jobs > 1``
        in worker processes, each model comes back pickled, so it must pickle.

    Returns
    -------
    result : WalkForwardResult
        VaR, ES, realised ``y``, row positions and dates of every forecast row, in time
        order; ``result.to_frame()`` gives a DataFrame. For a search,
        ``result.best_params`` holds its choice at each refit; with
        ``return_estimator=True``, ``result.estimators`` holds each refit's fitted model.

    Raises
    ------
    TypeError
        If ``estimator`` lacks ``fit``, ``predict_var`` or ``predict_es`` (or
        ``sample_y``, with ``n_draws``; for a search, its ``estimator`` does), a
        fitted search has no ``best_estimator_``, or a search's ``cv`` is a one-shot
        iterator of splits (a generator: each refit needs its own pass).
    ValueError
        If ``X`` and ``y`` differ in length or in their pandas index, ``y`` has more
        than one column or holds NaN or infinity, ``start``,
        ``refit_every``, ``window``, ``window_size``, ``levels`` or ``dates`` is invalid,
        ``n_draws``, ``random_state`` or ``return_estimator`` is invalid, a search has
        ``refit=False``, a refitted model forecasts NaN or the wrong number of rows, or
        the refitted models forecast different tails (a search over ``side``).

    Warns
    -----
    UserWarning
        Once per search (nested ones too), before any fit, if its ``cv`` trains on
        rows after rows it validates on (in its splits of the first refit's training
        rows), or if in an expanding window it validates at every refit on the first
        window's rows alone (in its splits of the last refit's training rows): use
        :class:`~sklearn.model_selection.TimeSeriesSplit`. And at a refit where the
        search scored no candidate (each failed to fit or scored NaN on its ``cv``
        splits, and scikit-learn took the first): its forecasts come from a candidate
        no validation chose.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import HistoricalSimulation
    >>> from skqegm.metrics import kupiec_pof_test, var_exceedances
    >>> from skqegm.model_selection import walk_forward
    >>> r = np.random.default_rng(0).standard_t(4, size=1000) / 100
    >>> X, y = r[:-1, None], r[1:]                 # column 0: the previous return
    >>> result = walk_forward(HistoricalSimulation(window=250), X, y, start=500,
    ...                       refit_every=100, window="rolling", window_size=250)
    >>> result.var.shape                           # 499 days, 2 levels
    (499, 2)
    >>> hits = var_exceedances(result.y, result.var_at(0.99))
    >>> bool(kupiec_pof_test(hits, 0.99).p_value > 0.01)
    True

    A search chooses the EWMA decay at every refit, on the rows before it alone:

    >>> from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
    >>> from skqegm.baselines import EWMARiskEstimator
    >>> from skqegm.metrics import RISK_SCORERS
    >>> search = GridSearchCV(EWMARiskEstimator(), {"decay": [0.9, 0.94, 0.97]},
    ...                       scoring=RISK_SCORERS["neg_fz0_loss"], cv=TimeSeriesSplit(3))
    >>> result = walk_forward(search, X, y, start=500, refit_every=250)
    >>> result.best_params                         # one choice per refit
    [{'decay': 0.97}, {'decay': 0.97}]

    ``return_estimator=True`` keeps each refit's fitted search, its scores included:

    >>> result = walk_forward(search, X, y, start=500, refit_every=250,
    ...                       return_estimator=True)
    >>> [s.cv_results_["rank_test_score"].tolist() for s in result.estimators]
    [[3, 2, 1], [3, 2, 1]]
    """
    n_draws = check_int(n_draws, "n_draws", min_value=1, allow_none=True)
    _check_estimator(estimator, n_draws)
    y_index = y.index if hasattr(y, "iloc") else None  # a list's .index is a method
    y = as_1d(check_real_array(y, "y"), "y")  # a single column is 1-D, as in sklearn
    n_rows = y.shape[0]
    n_X = count_rows(X)
    if n_X != n_rows:
        raise ValueError(f"X and y must have the same number of rows; got {n_X} and "
                         f"{n_rows}.")
    _check_same_index(X, y_index)
    if n_rows < 2:
        raise ValueError(f"walk_forward needs at least 2 rows; got {n_rows}.")
    if not (hasattr(X, "iloc") or issparse(X)):
        X = np.asarray(X)
    levels = _check_levels(levels)
    dates = _check_dates(dates, X, n_rows, y_index)
    start = _check_start(start, dates, n_rows)
    refit_every = check_int(refit_every, "refit_every", min_value=1)
    check_option(window, "window", WINDOWS)
    if window == "rolling":
        if window_size is None:
            raise ValueError("window='rolling' needs window_size, the number of training "
                             "rows of every refit.")
        window_size = check_int(window_size, "window_size", min_value=1, max_value=start)
    elif window_size is not None:
        raise ValueError(f"window_size={window_size!r} is only used with window='rolling'; "
                         "an expanding window trains on every row before the refit.")
    verbose = check_int(verbose, "verbose", min_value=0)
    n_jobs = check_int(n_jobs, "n_jobs", allow_none=True)  # joblib read True as 1 job
    if not isinstance(return_estimator, (bool, np.bool_)):
        raise ValueError(f"return_estimator must be True or False; got "
                         f"{return_estimator!r}.")

    blocks = _blocks(n_rows, start, refit_every, window, window_size)
    seeds = [None] * len(blocks)
    if n_draws is not None:
        seeds = check_random_state(random_state).randint(np.iinfo(np.int32).max,
                                                         size=len(blocks)).tolist()
        check_memory(8.0 * (n_rows - start) * n_draws,
                     f"walk_forward draws of {n_rows - start} rows with n_draws={n_draws}",
                     "lower n_draws.")
    logger.info("walk_forward: %d refits of %s, rows %d to %d, %s window", len(blocks),
                type(estimator).__name__, start, n_rows - 1, window)
    warn_about_search_cv(estimator, X, y, blocks)
    wheres = [_refit_text(number, len(blocks), block, dates)
              for number, block in enumerate(blocks, 1)]
    # A worker process shows no warning to the caller: it records them under the
    # caller's filters, and they are replayed here, refit by refit.
    context = caller_context()
    jobs = (delayed(_fit_forecast)(clone(estimator), X, y, block, levels, n_draws, seed,
                                   where, context, bool(return_estimator))
            for block, seed, where in zip(blocks, seeds, wheres))
    # scikit-learn's Parallel: every refit runs under the caller's scikit-learn
    # configuration (config_context, set_config: transform_output, metadata routing...),
    # which joblib's would reset to the defaults in its workers.
    outputs = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    try:
        return _collect(estimator, blocks, _replayed(outputs), wheres, levels, n_draws,
                        dates, start, n_rows, y, verbose, return_estimator)
    except BaseException:
        # The walk stops at its first failed refit, as with n_jobs=1: the refits after
        # it are cancelled, without joblib's warning that they were.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r"\d+ tasks (have been successfully "
                                    "executed|which were still being processed)",
                                    UserWarning)
            outputs.close()
        raise


def _replayed(outputs):
    """Each refit's output, once the warnings its worker process recorded are shown
    (and its exception raised)."""
    for output, records, error in outputs:
        replay_warnings(records)
        if error is not None:
            raise_in_caller(error)
        yield output


def _collect(estimator, blocks, outputs, wheres, levels, n_draws, dates, start, n_rows, y,
             verbose, return_estimator):
    """The refits' forecasts, checked, in one :class:`WalkForwardResult`."""
    var, es, fit_time, draws, best_params, sides, fitted = [], [], [], [], [], [], []
    for number, (block, output, where) in enumerate(zip(blocks, outputs, wheres), 1):
        block_var, block_es, seconds, block_draws, params, side, unscored, model = output
        fitted.append(model)
        if unscored:
            # Warned here, in the caller's process: a joblib worker process's warnings
            # never reach the caller's filters (pytest.warns, logging.captureWarnings),
            # and scikit-learn's own ("non-finite test scores") names no refit.
            warnings.warn(
                f"walk_forward refit at row {block[1]} (training rows [{block[0]}, "
                f"{block[1]})): {type(outer_search(estimator)).__name__} scored no "
                f"candidate (every one failed to fit or scored NaN on its cv splits), so "
                f"its choice {params} is its first candidate, not a validated one; it "
                f"forecasts rows [{block[1]}, {block[2]}). Check the search's "
                "FitFailedWarning (or set error_score='raise'), or start later.",
                UserWarning, stacklevel=caller_stacklevel())
        best_params.append(params)
        sides.append(side)
        var.append(_check_forecast(block_var, "predict_var", estimator, block, len(levels),
                                   where))
        es.append(_check_forecast(block_es, "predict_es", estimator, block, len(levels),
                                  where))
        fit_time.append(seconds)
        if n_draws is not None:
            draws.append(_check_draws(block_draws, estimator, block, n_draws, where))
        message = (f"walk_forward refit {number}/{len(blocks)}: trained on rows "
                   f"[{block[0]}, {block[1]}), forecast rows [{block[1]}, {block[2]}) "
                   f"(fit {seconds:.2f} s)"
                   + ("" if params is None else f", chose {params}"))
        logger.info(message)
        if verbose:
            print(message, flush=True)
    index = np.arange(start, n_rows)
    lengths = [b[2] - b[1] for b in blocks]
    return WalkForwardResult(
        index=index,
        dates=None if dates is None else dates[start:],
        y=y[start:],
        levels=levels,
        var=np.concatenate(var),
        es=np.concatenate(es),
        train_start=np.repeat([b[0] for b in blocks], lengths),
        train_stop=np.repeat([b[1] for b in blocks], lengths),
        fit_time=np.asarray(fit_time),
        draws=np.concatenate(draws) if n_draws is not None else None,
        side=_check_sides(sides, blocks),
        best_params=best_params if outer_search(estimator) is not None else None,
        estimators=fitted if return_estimator else None,
    )
