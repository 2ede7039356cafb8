"""Greater-is-better scorers of VaR and ES forecasts, for ``GridSearchCV``.

A scorer ``scorer(estimator, X, y)`` calls ``estimator.predict_var(X, level)`` (and
``predict_es(X, level)`` for FZ0) on the held-out rows and returns minus the loss against
the held-out ``y``. The forecasts must be one per held-out row (shape ``(n_samples,)``
or ``(n_samples, 1)``): a model returning a single number is refused, where the metrics
themselves read a number as the same forecast for every row. It scores
:class:`~skqegm.TailRiskEstimator`, the baselines of
:mod:`skqegm.baselines` (:class:`~skqegm.baselines.GARCHRiskEstimator`,
:class:`~skqegm.baselines.HistoricalSimulation`), a :class:`skqegm.pipeline.Pipeline`
ending in one of them, or anything else with these methods.

The scorers pickle (a fitted search that holds them can be saved with ``joblib.dump``).

``scorer(estimator, X, y, sample_weight=w)`` returns minus the weighted mean loss, as
:func:`fz0_loss` / :func:`var_pinball_loss` weight it (recent days more, say). In a
search or ``cross_validate`` each fold's weights reach the scorer through scikit-learn's
metadata routing (``sklearn.set_config(enable_metadata_routing=True)`` and
``scorer.set_score_request(sample_weight=True)``); weights passed but not requested
raise, as for scikit-learn's scorers. ``neg_fz0_loss_scorer`` and
``neg_pinball_loss_scorer`` are shared by every user of the module, so their
``set_score_request`` returns a new scorer with the request and leaves them unchanged;
a scorer built by :func:`make_fz0_scorer` / :func:`make_pinball_scorer` is changed and
returned, as scikit-learn's are.
The tail (``side``) is the estimator's own when it has a ``side`` parameter (a pipeline:
its last step's; a :class:`~skqegm.FilteredRiskEstimator`: its fitted model's), else
``"lower"``; a scorer built with an explicit ``side`` refuses an
estimator with another one. ``side`` is the question asked, not a parameter to tune: the
losses of the two tails are different quantities, so a grid over ``side`` would rank a
lower-tail loss against an upper-tail one. Compare models one side at a time (one
search per side, each with ``make_fz0_scorer(side=...)``).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..utils._sampling import pipeline_hint
from ..utils._tails import forecast_side, forecaster
from ..utils._validation import (
    check_confidence_level,
    check_forecast,
    check_option,
    check_real_array,
    check_sample_weight,
)
from ._arrays import check_held_out_y
from ._scorer import BoundScorer, prebuilt
from .scoring_rules import SIDES, fz0_loss, var_pinball_loss

__all__ = ["RISK_SCORERS", "make_fz0_scorer", "make_pinball_scorer", "neg_fz0_loss_scorer",
           "neg_pinball_loss_scorer"]

#: What the scorers score against the held-out y, for the error on y=None.
FORECASTS = "the model's VaR / ES forecasts"


def _estimator_side(estimator, side):
    own = forecast_side(estimator)
    if side is None:
        return own or "lower"
    if own is not None and own != side:
        raise ValueError(f"the scorer was built with side={side!r} but "
                         f"{type(forecaster(estimator)).__name__} forecasts side={own!r}; "
                         "build the scorer with side=None to follow the estimator.")
    return side


def _forecasts(estimator, X, method, level, scorer, n_samples):
    """``estimator.method(X, level)``, one finite forecast per held-out row.

    A bad forecast is the model's fault: the message names the model and the method. A
    single number is refused too: the metrics read a number as the same forecast for
    every row (a constant VaR passed by hand), but a model returning one for many rows
    has lost its rows somewhere, and would be scored on a forecast it never made.
    """
    if not hasattr(estimator, method):
        raise TypeError(f"{scorer} needs an estimator with {method}(X, level); "
                        f"{type(estimator).__name__} has none."
                        + pipeline_hint(estimator, [method]))
    if hasattr(estimator, "fit"):
        check_is_fitted(estimator)
    call = f"{type(estimator).__name__}.{method}(X, {level!r})"
    forecasts = check_real_array(getattr(estimator, method)(X, level), f"the output of {call}")
    wrong_shape = ValueError(f"{call} returned an array of shape {forecasts.shape} for "
                             f"{n_samples} held-out rows; expected ({n_samples},), one "
                             "forecast per row.")
    if forecasts.ndim == 0:
        raise wrong_shape
    try:
        return check_forecast(forecasts, f"the output of {call}", n_samples)
    except ValueError as exc:
        raise wrong_shape from exc


def _bound(function, name, maker, level, side):
    doc = (f"Scorer ``{name}(estimator, X, y, *, sample_weight=None)`` at level {level!r}, "
           "built by "
           f":func:`{maker.__name__}`; see its documentation.")
    return BoundScorer(function, name, doc, level=level, side=side)


def _check_fz0_forecasts(estimator, var, es, level):
    """Forecasts the FZ0 loss cannot score (ES <= 0, ES below the VaR) are the model's
    own: say so, rather than fz0_loss's advice on how to pass an ES."""
    name = type(estimator).__name__
    for bad, what in ((es <= 0, "an ES <= 0 ({es} at row {i}): the FZ0 loss takes log(ES)"),
                      (es < var, "an ES below the VaR of {name}.predict_var(X, {level!r}) "
                                 "({es} < {var} at row {i}): the ES is the mean beyond it")):
        if np.any(bad):
            i = int(np.argmax(bad))
            detail = what.format(es=float(es[i]), var=float(var[i]), i=i, name=name,
                                 level=level)
            raise ValueError(f"{name}.predict_es(X, {level!r}) returned {detail}. The model "
                             "forecasts no loss the FZ0 loss can score there; score it with "
                             "neg_pinball_loss (in a search, error_score=np.nan ranks it last).")


def _held_out_y(y, X, sample_weight, scorer):
    """The held-out ``y``; its weights checked before the model forecasts (the metric
    checks them again, and weights the mean)."""
    y = check_held_out_y(y, X, scorer, FORECASTS)
    check_sample_weight(sample_weight, y.shape[0], against="the held-out y")
    return y


def _fz0_score(estimator, X, y, *, sample_weight=None, level, side):
    y = _held_out_y(y, X, sample_weight, "neg_fz0_loss_scorer")
    n = y.shape[0]
    var = _forecasts(estimator, X, "predict_var", level, "neg_fz0_loss_scorer", n)
    es = _forecasts(estimator, X, "predict_es", level, "neg_fz0_loss_scorer", n)
    _check_fz0_forecasts(estimator, var, es, level)
    return -fz0_loss(y, var, es, level, side=_estimator_side(estimator, side),
                     sample_weight=sample_weight)


def _pinball_score(estimator, X, y, *, sample_weight=None, level, side):
    y = _held_out_y(y, X, sample_weight, "neg_pinball_loss_scorer")
    var = _forecasts(estimator, X, "predict_var", level, "neg_pinball_loss_scorer",
                     y.shape[0])
    return -var_pinball_loss(y, var, level, side=_estimator_side(estimator, side),
                             sample_weight=sample_weight)


def _check_side(side):
    return None if side is None else check_option(side, "side", SIDES)


def make_fz0_scorer(level=0.975, *, side=None):
    """Build a scorer returning minus the mean :func:`fz0_loss` on held-out data.

    The FZ0 loss of returns of about 1% is negative (its ``log(ES)`` term), so the
    score is usually positive; only its differences between models mean something.

    Parameters
    ----------
    level : float, default=0.975
        Confidence level in (0.5, 1) of the VaR and ES scored (97.5% is the ES level of
        the Basel market-risk rules).
    side : {"lower", "upper"} or None, default=None
        The tail; ``None`` follows the estimator's ``side`` (``"lower"`` without one).
        The tail is the question asked, not a parameter to tune: scores of the two tails
        are different losses, not comparable, so search ``side`` by running one search
        per side with this set, never with ``side`` in the grid.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, *, sample_weight=None) -> float``, greater is better;
        ``sample_weight`` weights the mean loss over the held-out rows.

    Raises
    ------
    ValueError
        If ``level`` or ``side`` is invalid. The scorer raises ``NotFittedError`` for an
        unfitted estimator, ``TypeError`` for one without ``predict_var`` /
        ``predict_es``, and ``ValueError`` for ``y=None``, an ``es`` that is not
        positive or not beyond the VaR, NaN, forecasts that are not one per held-out row
        (a single number included), or a ``side`` that contradicts the estimator's.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
    >>> from skqegm.baselines import HistoricalSimulation
    >>> from skqegm.metrics import make_fz0_scorer
    >>> y = np.random.default_rng(0).standard_t(4, size=1200) / 100
    >>> X = np.r_[0.0, y[:-1]][:, None]          # column 0: the previous return
    >>> search = GridSearchCV(HistoricalSimulation(), {"window": [100, 250]},
    ...                       scoring=make_fz0_scorer(0.975), cv=TimeSeriesSplit(3))
    >>> search.fit(X, y).best_params_["window"] in (100, 250)
    True
    """
    level = check_confidence_level(level)
    side = _check_side(side)

    return _bound(_fz0_score, "neg_fz0_loss_scorer", make_fz0_scorer, level, side)


def make_pinball_scorer(level=0.975, *, side=None):
    """Build a scorer returning minus the mean :func:`var_pinball_loss` on held-out data.

    Parameters
    ----------
    level : float, default=0.975
        Confidence level in (0.5, 1) of the VaR scored.
    side : {"lower", "upper"} or None, default=None
        The tail; ``None`` follows the estimator's ``side`` (``"lower"`` without one).
        The tail is the question asked, not a parameter to tune: scores of the two tails
        are different losses, not comparable, so search ``side`` by running one search
        per side with this set, never with ``side`` in the grid.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, *, sample_weight=None) -> float``, greater is better;
        ``sample_weight`` weights the mean loss over the held-out rows.

    Raises
    ------
    ValueError
        If ``level`` or ``side`` is invalid. The scorer raises ``NotFittedError`` for an
        unfitted estimator, ``TypeError`` for one without ``predict_var``, and
        ``ValueError`` for ``y=None``, NaN forecasts, forecasts that are not one per
        held-out row (a single number included) or a ``side`` that contradicts the
        estimator's.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import HistoricalSimulation
    >>> from skqegm.metrics import make_pinball_scorer
    >>> y = np.random.default_rng(0).standard_t(4, size=600) / 100
    >>> X = np.r_[0.0, y[:-1]][:, None]
    >>> model = HistoricalSimulation(window=250).fit(X[:500], y[:500])
    >>> bool(make_pinball_scorer(0.99)(model, X[500:], y[500:]) < 0)
    True
    """
    level = check_confidence_level(level)
    side = _check_side(side)

    return _bound(_pinball_score, "neg_pinball_loss_scorer", make_pinball_scorer, level, side)


def neg_fz0_loss_scorer(estimator, X, y=None, *, sample_weight=None):
    """Minus the mean FZ0 loss of 97.5% VaR and ES forecasts.

    ``neg_fz0_loss_scorer(estimator, X, y)``: :func:`make_fz0_scorer` with its defaults
    (``level=0.975``, the estimator's ``side``). Greater is better. Under metadata
    routing, ``neg_fz0_loss_scorer.set_score_request(sample_weight=True)`` returns a
    copy that takes each fold's ``sample_weight`` (this function is left unchanged).

    Parameters
    ----------
    estimator : object
        A fitted estimator with ``predict_var(X, level)`` and ``predict_es(X, level)``.
    X : array-like of shape (n_samples, n_features)
        Held-out rows.
    y : array-like of shape (n_samples,)
        Held-out targets; required (``None`` raises a ``ValueError``, as for every
        skqegm scorer of a supervised model).
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the held-out rows in the mean loss, >= 0 and not all 0.

    Returns
    -------
    score : float
        Minus :func:`fz0_loss`.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import HistoricalSimulation
    >>> from skqegm.metrics import neg_fz0_loss_scorer
    >>> y = np.random.default_rng(0).standard_t(4, size=600) / 100
    >>> X = np.r_[0.0, y[:-1]][:, None]
    >>> model = HistoricalSimulation(window=250).fit(X[:500], y[:500])
    >>> round(neg_fz0_loss_scorer(model, X[500:], y[500:]), 3)
    2.641
    """
    return _DEFAULT_FZ0(estimator, X, y, sample_weight=sample_weight)


def neg_pinball_loss_scorer(estimator, X, y=None, *, sample_weight=None):
    """Minus the mean pinball loss of 97.5% VaR forecasts.

    ``neg_pinball_loss_scorer(estimator, X, y)``: :func:`make_pinball_scorer` with its
    defaults (``level=0.975``, the estimator's ``side``). Greater is better. Under
    metadata routing, ``neg_pinball_loss_scorer.set_score_request(sample_weight=True)``
    returns a copy that takes each fold's ``sample_weight`` (this function is left
    unchanged).

    Parameters
    ----------
    estimator : object
        A fitted estimator with ``predict_var(X, level)``.
    X : array-like of shape (n_samples, n_features)
        Held-out rows.
    y : array-like of shape (n_samples,)
        Held-out targets; required (``None`` raises a ``ValueError``, as for every
        skqegm scorer of a supervised model).
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the held-out rows in the mean loss, >= 0 and not all 0.

    Returns
    -------
    score : float
        Minus :func:`var_pinball_loss`.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import HistoricalSimulation
    >>> from skqegm.metrics import neg_pinball_loss_scorer
    >>> y = np.random.default_rng(0).standard_t(4, size=600) / 100
    >>> X = np.r_[0.0, y[:-1]][:, None]
    >>> model = HistoricalSimulation(window=250).fit(X[:500], y[:500])
    >>> bool(neg_pinball_loss_scorer(model, X[500:], y[500:]) < 0)
    True
    """
    return _DEFAULT_PINBALL(estimator, X, y, sample_weight=sample_weight)


# The prebuilt scorers are functions (their documentation and doctests are their own),
# calling a scorer built with the defaults, whose routing methods they carry.
_DEFAULT_FZ0 = make_fz0_scorer()
_DEFAULT_PINBALL = make_pinball_scorer()
prebuilt(neg_fz0_loss_scorer, _DEFAULT_FZ0)
prebuilt(neg_pinball_loss_scorer, _DEFAULT_PINBALL)

#: The two scorers of VaR / ES forecasts by name, for ``GridSearchCV(scoring=...)``.
RISK_SCORERS = {
    "neg_fz0_loss": neg_fz0_loss_scorer,
    "neg_pinball_loss": neg_pinball_loss_scorer,
}
