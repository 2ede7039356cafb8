"""Greater-is-better scorers ``scorer(estimator, X, y=None)`` for model selection.

scikit-learn's ``make_scorer`` cannot score an estimator fitted without ``y``, so these
are plain functions, usable in ``GridSearchCV(..., scoring=SCORERS,
refit="neg_tail_kl")``. They know no model class, only a protocol (duck typing):

- an *unsupervised sampler* has ``sample(n)`` (returning ``X`` or, like
  :class:`~sklearn.mixture.GaussianMixture`, a tuple ``(X, labels)``) and
  ``score_samples(X)``; it is scored against the held-out ``X``, and ``y`` is ignored;
- a *supervised tail estimator* has ``sample_y(X, n_draws)`` (conditional draws of shape
  ``(n_samples, n_draws)``), ``predict_rare(X)`` (0/1 predicted rare flags),
  ``rare_events(y)`` (0/1 flags of the observed targets it calls rare) and
  ``predict_interval(X, coverage)`` (shape ``(n_samples, 2)``), as
  :class:`~skqegm.TailRiskEstimator` has; it is scored against the held-out ``y``, which
  is then required.

An estimator with ``sample_y`` or ``predict_interval`` is treated as supervised,
anything else as an unsupervised sampler. No pipeline is unwrapped: a
:class:`skqegm.pipeline.Pipeline` has the methods of its last step (``sample`` maps the
draws back to the units of the data, the other methods transform ``X``), so it is scored
as that step would be on the transformed ``X``. A scorer given an estimator without the
methods it needs raises ``TypeError`` (a :class:`sklearn.pipeline.Pipeline` ending in a
sampler has ``score_samples`` but no ``sample``).

Failure is loud, never a good score: an unfitted estimator (one with ``fit``, checked by
:func:`~sklearn.utils.validation.check_is_fitted`, which asks a pipeline about its last
step) raises :class:`~sklearn.exceptions.NotFittedError` before any of its methods is
called, and a model whose draws, densities, flags or intervals hold NaN (or infinite
draws) raises a ``ValueError`` that names the estimator and the method, so that
``GridSearchCV`` records its ``error_score`` instead of ranking a broken model.

Determinism: when a scorer draws samples, it passes its ``random_state`` (0 by default)
to ``sample`` / ``sample_y`` if their signature accepts one, so every candidate of a
grid search sees the same random stream. Otherwise the draws are as reproducible as the
estimator makes them (``GaussianMixture.sample`` reuses the estimator's own
``random_state``).
"""

import warnings

import numpy as np
from sklearn.pipeline import Pipeline as SklearnPipeline
from sklearn.utils.validation import check_is_fitted

from skqegm.metrics._arrays import (
    check_coverage,
    check_flags,
    check_intervals,
    check_real_array,
    check_tail_kl_params,
)
from skqegm.metrics._rarity import kde_rarity
from skqegm.metrics.intervals import coverage_error
from skqegm.metrics.rare_events import rare_event_recall
from skqegm.metrics.tail import tail_kl_divergence
from skqegm.pipeline import Pipeline
from skqegm.utils._sampling import call_with_random_state
from skqegm.utils._tails import SIDES, flag_beyond, tail_thresholds
from skqegm.utils._validation import check_int, check_option, check_real

#: Most model draws behind the KDE that ranks points for a sampler without a density.
MAX_KDE_DRAWS = 20_000


def _is_supervised(estimator):
    return hasattr(estimator, "sample_y") or hasattr(estimator, "predict_interval")


def _pipeline_hint(estimator):
    # scikit-learn's Pipeline hides its last step's sample and tail API; skqegm's exposes them.
    if isinstance(estimator, SklearnPipeline) and not isinstance(estimator, Pipeline):
        return (" A sklearn.pipeline.Pipeline exposes neither sample nor the tail API of its "
                "last step; build it with skqegm.pipeline.make_pipeline, whose Pipeline does.")
    return ""


def _require(estimator, methods, scorer, role):
    missing = [m for m in methods if not hasattr(estimator, m)]
    if missing:
        raise TypeError(
            f"{scorer} needs {role} with {', '.join(methods)}; "
            f"{type(estimator).__name__} lacks {', '.join(missing)}."
            + _pipeline_hint(estimator)
        )


def _check_fitted(estimator):
    # Duck-typed samplers without fit (preset draws, say) have no fitted state to check.
    if hasattr(estimator, "fit"):
        check_is_fitted(estimator)


def _require_y(y, scorer):
    if y is None:
        raise ValueError(f"{scorer} needs the held-out y to score a supervised tail "
                         "estimator; got y=None.")
    y = check_real_array(y, "y")
    if y.ndim != 1 or y.shape[0] == 0:
        raise ValueError(f"y must be a non-empty 1-D array; got an array of shape {y.shape}.")
    return y


def _as_2d(X):
    X = check_real_array(X, "X")
    if X.ndim > 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 1-D or 2-D array; got an array of shape "
                         f"{X.shape}.")
    return X.reshape(-1, 1) if X.ndim == 1 else X


def _call_name(estimator, call):
    return f"{type(estimator).__name__}.{call}"


def _model_output(values, estimator, call, *, allow_inf=False):
    """A model's output as float64; NaN (or infinity) is the model's fault, so say whose."""
    return check_real_array(values, f"the output of {_call_name(estimator, call)}",
                            allow_inf=allow_inf)


def _draw_samples(estimator, n_samples, n_features, random_state):
    draws = call_with_random_state(estimator.sample, n_samples, random_state=random_state)
    if isinstance(draws, tuple):  # GaussianMixture returns (X, component labels)
        draws = draws[0]
    draws = _model_output(draws, estimator, f"sample({n_samples})")
    if draws.size != n_samples * n_features:
        raise ValueError(f"{type(estimator).__name__}.sample({n_samples}) returned an array of "
                         f"shape {draws.shape}; expected ({n_samples}, {n_features}).")
    return draws.reshape(n_samples, n_features)


def _draw_conditional(estimator, X_raw, n_samples, n_draws, random_state):
    draws = call_with_random_state(estimator.sample_y, X_raw, n_draws,
                                   random_state=random_state)
    draws = _model_output(draws, estimator, f"sample_y(X, {n_draws})")
    if draws.size != n_samples * n_draws:
        raise ValueError(f"{type(estimator).__name__}.sample_y(X, {n_draws}) returned an array "
                         f"of shape {draws.shape}; expected ({n_samples}, {n_draws}).")
    return draws.ravel()


def _model_flags(flags, estimator, call, n_samples):
    flags = check_flags(flags, f"the output of {_call_name(estimator, call)}", "1 = rare")
    if flags.shape[0] != n_samples:
        raise ValueError(f"{_call_name(estimator, call)} returned {flags.shape[0]} flags for "
                         f"{n_samples} held-out rows.")
    return flags.astype(int)


def _true_rare_unsupervised(X, tail_fraction, side):
    """The true rare events among held-out points X (unsupervised case).

    Defined by the scorer's parameters and the held-out data alone, never by the model
    scored: candidates of a grid search (over ``tail_fraction``, say) must be scored
    against the same events.
    """
    if X.shape[1] == 1:
        thresholds = tail_thresholds(X, "quantile", tail_fraction=tail_fraction)
        return flag_beyond(X, thresholds, side)[:, 0].astype(int)
    if side != "both":
        raise ValueError("with several features the rare points are the most rare overall, "
                         f"so side must be 'both'; got {side!r}.")
    rarity = kde_rarity(X, name="the held-out X", hint="")(X)[:, None]
    # Higher rarity is rarer, so only the upper threshold of the rarity scores applies.
    thresholds = tail_thresholds(rarity, "quantile", tail_fraction=tail_fraction)
    return flag_beyond(rarity, thresholds, "upper")[:, 0].astype(int)


def _log_density(estimator, X_raw, X, n_draws, random_state):
    """``score_samples``, or for a sampler without a density the log of a Gaussian KDE of
    ``min(n_draws * len(X), MAX_KDE_DRAWS)`` of its draws."""
    if not hasattr(estimator, "score_samples"):
        n_samples = min(n_draws * X.shape[0], MAX_KDE_DRAWS)
        draws = _draw_samples(estimator, n_samples, X.shape[1], random_state)
        name = f"the draws of {_call_name(estimator, f'sample({n_samples})')}"
        return -kde_rarity(draws, name=name, hint="")(X)
    # A log-density of -inf is a zero density (a tophat kernel's outside), a valid "rarest".
    scores = _model_output(np.ravel(estimator.score_samples(X_raw)), estimator,
                           "score_samples(X)", allow_inf=True)
    if scores.shape[0] != X.shape[0]:
        raise ValueError(f"{type(estimator).__name__}.score_samples returned "
                         f"{scores.shape[0]} scores for {X.shape[0]} rows.")
    return scores


def _expected_recall(true, scores):
    """Recall of flagging the ``true.sum()`` lowest scores, averaged over orders of ties.

    A stable sort would break ties by row order, so a model with a flat density could
    score whatever recall the row order happens to give (1.0 on sorted data); averaging
    over every order of the tied rows gives each of them an equal share of the flags left.
    """
    n_flags = int(true.sum())
    cutoff = np.sort(scores)[n_flags - 1]
    below, tied = scores < cutoff, scores == cutoff
    weights = below.astype(np.float64)
    weights[tied] = (n_flags - below.sum()) / tied.sum()
    return float(np.sum(weights[true == 1]) / n_flags)


def _model_intervals(estimator, X, y, coverage):
    call = f"predict_interval(X, {coverage!r})"
    # Infinite bounds are legitimate (an unbounded interval); NaN is the model's fault.
    intervals = _model_output(estimator.predict_interval(X, coverage), estimator, call,
                              allow_inf=True)
    return check_intervals(y, intervals, names=("y", _call_name(estimator, call)))[1]


def _check_tail_side(tail_fraction, side):
    check_option(side, "side", SIDES)
    check_real(tail_fraction, "tail_fraction", low=0, high=0.5 if side == "both" else 1.0,
               low_open=True, high_open=True)


def _neg_tail_kl(reference, draws, kl_params, held_out):
    try:
        return -tail_kl_divergence(reference, draws, **kl_params)
    except ValueError as exc:  # the held-out data cannot define a tail: say which data
        raise ValueError(f"neg_tail_kl_scorer cannot score on this held-out {held_out} "
                         f"(x_true is the held-out {held_out}, x_model the model's draws): "
                         f"{exc}") from exc


def _named(scorer, name, factory):
    scorer.__name__ = scorer.__qualname__ = name
    scorer.__doc__ = (f"Scorer ``{name}(estimator, X, y=None)`` built by "
                      f":func:`{factory.__name__}`; see its documentation.")
    return scorer


def make_tail_kl_scorer(*, tail_fraction=0.05, side="both", bins=20, smoothing=1e-4,
                        n_draws=10, random_state=0):
    """Build a scorer returning minus :func:`tail_kl_divergence` (greater is better).

    - unsupervised sampler: the held-out ``X`` against ``n_draws * len(X)`` fresh draws of
      ``estimator.sample``;
    - supervised tail estimator: the held-out ``y`` against the ``n_draws`` conditional
      draws per row of ``estimator.sample_y(X, n_draws)``, pooled (the model's marginal
      predictive distribution over ``X``).

    Parameters
    ----------
    tail_fraction, side, bins, smoothing : see :func:`tail_kl_divergence`
        Passed on unchanged.
    n_draws : int, default=10
        Model draws per held-out point (>= 1). With one draw per point, model bins left
        empty by chance dominate the score on small held-out sets (measured on the tail
        mixture: the true model scores about 0.6 at 1,000 held-out points with 1 draw per
        point, 0.2 with 10), so the default spends sampling time to lower that noise.
    random_state : int or None, default=0
        Passed to ``sample`` / ``sample_y`` when they accept it.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``, at most 0.

    Raises
    ------
    ValueError
        If a parameter is out of range (here, or on the first call where it depends on the
        number of features). The scorer raises ``NotFittedError`` for an unfitted
        estimator, ``TypeError`` for one without ``sample`` / ``sample_y``, and
        ``ValueError`` if the model's draws hold NaN or infinity, or if the held-out data
        cannot define a tail (see :func:`tail_kl_divergence`).

    Examples
    --------
    >>> from sklearn.neighbors import KernelDensity
    >>> from skqegm.datasets import make_tail_mixture
    >>> from skqegm.metrics import make_tail_kl_scorer
    >>> X, _ = make_tail_mixture(4000, random_state=0)
    >>> scorer = make_tail_kl_scorer(side="lower", n_draws=2)
    >>> kde = KernelDensity(bandwidth=0.3).fit(X[:2000])
    >>> bool(scorer(kde, X[2000:]) <= 0)
    True
    """
    check_tail_kl_params(tail_fraction, side, bins, smoothing, multivariate=False)
    n_draws = check_int(n_draws, "n_draws", min_value=1)
    kl_params = dict(tail_fraction=tail_fraction, side=side, bins=bins, smoothing=smoothing)

    def scorer(estimator, X, y=None):
        _check_fitted(estimator)
        if _is_supervised(estimator):
            _require(estimator, ["sample_y"], "neg_tail_kl_scorer", "a supervised estimator")
            y = _require_y(y, "neg_tail_kl_scorer")
            draws = _draw_conditional(estimator, X, y.shape[0], n_draws, random_state)
            return _neg_tail_kl(y, draws, kl_params, "y")
        _require(estimator, ["sample"], "neg_tail_kl_scorer", "a sampler")
        X = _as_2d(X)
        draws = _draw_samples(estimator, n_draws * X.shape[0], X.shape[1], random_state)
        return _neg_tail_kl(X, draws, kl_params, "X")

    return _named(scorer, "neg_tail_kl_scorer", make_tail_kl_scorer)


def make_rare_event_recall_scorer(*, tail_fraction=0.05, side="both", n_draws=10,
                                  random_state=0):
    """Build a scorer returning :func:`rare_event_recall` on held-out data.

    - supervised tail estimator: true rare events are ``estimator.rare_events(y)`` (for
      :class:`~skqegm.TailRiskEstimator`, the ``y`` strictly beyond its rare-event
      threshold on its ``side``); predictions are ``estimator.predict_rare(X)``.
      ``tail_fraction`` and ``side`` are not used: the estimator defines its events.
    - unsupervised sampler (the paper's definition): true rare events are the points of
      the held-out ``X`` strictly beyond its empirical ``tail_fraction`` quantile(s) on
      ``side`` (with several features: the points whose Gaussian-KDE rarity is strictly
      above its ``1 - tail_fraction`` quantile, about the ``tail_fraction`` of ``X`` that
      is rarest). They depend on the scorer's parameters and the held-out data only, not
      on the sampler (whose own ``tail_threshold_`` is not read), so every candidate of a
      grid search is scored against the same events. The model flags the same number
      of points, those with the lowest ``score_samples`` (``-inf``, a zero density, is
      the lowest); recall therefore also equals precision. Points tied at the cut share
      the flags left equally (the recall averaged over every order of the ties), so a
      flat density scores the chance level whatever the order of the rows. These flags
      ignore ``side``: with a one-sided rule, low-density points on the other side (or in
      a valley between modes) count as misses. An over-smoothed, unimodal density ranks
      points by distance from the centre and can score well here; read recall together
      with the tail KL. A sampler without
      ``score_samples`` (a GAN, a diffusion model) is ranked by a Gaussian KDE
      (``scipy.stats.gaussian_kde``) of ``min(n_draws * len(X), MAX_KDE_DRAWS)`` of its
      draws.

    The score is ``nan`` (with a warning) when the held-out data hold no rare event.

    Parameters
    ----------
    tail_fraction : float, default=0.05
        Tail fraction per side for the quantile rule (in (0, 0.5) for "both").
    side : {"lower", "upper", "both"}, default="both"
        Side for the quantile rule.
    n_draws : int, default=10
        Model draws per held-out point for a sampler without ``score_samples`` (>= 1).
    random_state : int or None, default=0
        Passed to ``sample`` when it accepts one.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float`` in [0, 1].

    Raises
    ------
    ValueError
        If a parameter is out of range. The scorer raises ``NotFittedError`` for an
        unfitted estimator, ``TypeError`` for one without the methods it needs, and
        ``ValueError`` if the model's ``score_samples`` hold NaN, its draws NaN or
        infinity, or its ``rare_events`` / ``predict_rare`` anything but one 0/1 flag per
        held-out row.

    Examples
    --------
    >>> from sklearn.neighbors import KernelDensity
    >>> from skqegm.datasets import make_tail_mixture
    >>> from skqegm.metrics import make_rare_event_recall_scorer
    >>> X, _ = make_tail_mixture(4000, random_state=0)
    >>> scorer = make_rare_event_recall_scorer(side="upper")
    >>> kde = KernelDensity(bandwidth=0.3).fit(X[:2000])
    >>> round(scorer(kde, X[2000:]), 3)
    0.55
    """
    _check_tail_side(tail_fraction, side)
    n_draws = check_int(n_draws, "n_draws", min_value=1)

    def scorer(estimator, X, y=None):
        _check_fitted(estimator)
        if _is_supervised(estimator):
            _require(estimator, ["rare_events", "predict_rare"], "rare_event_recall_scorer",
                     "a supervised estimator")
            y = _require_y(y, "rare_event_recall_scorer")
            n = y.shape[0]
            true = _model_flags(estimator.rare_events(y), estimator, "rare_events(y)", n)
            pred = _model_flags(estimator.predict_rare(X), estimator, "predict_rare(X)", n)
            return rare_event_recall(true, pred)
        if not (hasattr(estimator, "score_samples") or hasattr(estimator, "sample")):
            raise TypeError("rare_event_recall_scorer needs a sampler with score_samples or "
                            f"sample; {type(estimator).__name__} lacks both."
                            + _pipeline_hint(estimator))
        X_raw, X = X, _as_2d(X)
        true = _true_rare_unsupervised(X, tail_fraction, side)
        scores = _log_density(estimator, X_raw, X, n_draws, random_state)
        if not true.any():
            return rare_event_recall(true, true)  # undefined: nan, with a warning
        return _expected_recall(true, scores)

    return _named(scorer, "rare_event_recall_scorer", make_rare_event_recall_scorer)


def make_coverage_scorer(coverage=0.9, *, n_draws=10, random_state=0):
    """Build a scorer returning minus :func:`coverage_error` at nominal ``coverage``.

    - supervised tail estimator: intervals are ``estimator.predict_interval(X, coverage)``,
      checked against the held-out ``y``;
    - unsupervised sampler with one feature: one *marginal* interval for every row, the
      central ``coverage`` interval (``(1 -+ coverage) / 2`` empirical quantiles) of
      ``n_draws * len(X)`` fresh draws, checked against the held-out ``X``. Samplers of
      several features raise ``ValueError`` (a central interval is 1-D).

    Parameters
    ----------
    coverage : float, default=0.9
        Nominal coverage, in (0, 1): e.g. 0.9 for 90% intervals. Below 0.5 a warning asks
        whether the miscoverage ``1 - coverage`` was meant.
    n_draws : int, default=10
        Model draws per held-out point for the unsupervised interval (>= 1).
    random_state : int or None, default=0
        Passed to ``sample`` when it accepts one.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float`` in [-1, 0]; 0 is perfect calibration.

    Raises
    ------
    ValueError
        If ``coverage`` is not in (0, 1) or ``n_draws`` is not a positive integer. The
        scorer raises ``NotFittedError`` for an unfitted estimator, ``TypeError`` for one
        without ``predict_interval`` / ``sample``, and ``ValueError`` if the model's
        intervals hold NaN, have the wrong shape or a lower bound above the upper one, or
        its draws hold NaN or infinity.

    Warns
    -----
    UserWarning
        If ``coverage < 0.5``.

    Examples
    --------
    >>> from sklearn.neighbors import KernelDensity
    >>> from skqegm.datasets import make_tail_mixture
    >>> from skqegm.metrics import make_coverage_scorer
    >>> X, _ = make_tail_mixture(4000, random_state=0)
    >>> kde = KernelDensity(bandwidth=0.3).fit(X[:2000])
    >>> bool(-0.02 < make_coverage_scorer(0.9)(kde, X[2000:]) <= 0)
    True
    """
    coverage = check_coverage(coverage)
    if coverage < 0.5:
        warnings.warn(f"coverage={coverage!r} scores {coverage:.0%} intervals; coverage is the "
                      "nominal coverage (0.9 for 90% intervals), not the miscoverage "
                      f"1 - coverage = {1 - coverage:.3g}.", UserWarning, stacklevel=2)
    n_draws = check_int(n_draws, "n_draws", min_value=1)

    def scorer(estimator, X, y=None):
        _check_fitted(estimator)
        if _is_supervised(estimator):
            _require(estimator, ["predict_interval"], "coverage scorer",
                     "a supervised estimator")
            y = _require_y(y, "coverage scorer")
            intervals = _model_intervals(estimator, X, y, coverage)
            return -coverage_error(y, intervals, coverage)
        _require(estimator, ["sample"], "coverage scorer", "a sampler")
        X = _as_2d(X)
        if X.shape[1] != 1:
            raise ValueError("the coverage scorer builds a central interval, so an "
                             f"unsupervised sampler must have 1 feature; X has {X.shape[1]}.")
        draws = _draw_samples(estimator, n_draws * X.shape[0], 1, random_state).ravel()
        bounds = np.quantile(draws, [(1 - coverage) / 2, (1 + coverage) / 2])
        intervals = np.tile(bounds, (X.shape[0], 1))
        return -coverage_error(X.ravel(), intervals, coverage)

    return _named(scorer, "neg_coverage_error_scorer", make_coverage_scorer)


def _prebuilt_doc(text, maker):
    """The docstring of a prebuilt scorer: ``text`` with the Parameters and Raises that
    every scorer shares."""
    shared = """Parameters
----------
estimator : object
    A fitted sampler or supervised tail estimator (see the module documentation).
X : array-like of shape (n_samples, n_features)
    Held-out data.
y : array-like of shape (n_samples,) or None, default=None
    Held-out targets; required for a supervised tail estimator, ignored otherwise.
"""
    raises = f"""Raises
------
NotFittedError
    If ``estimator`` has ``fit`` but is not fitted.
TypeError
    If ``estimator`` lacks the methods the scorer needs.
ValueError
    If ``X`` or ``y`` is invalid, or the model's output holds NaN (see
    :func:`{maker}`).
"""
    return text.replace("{parameters}", shared).replace("{raises}", raises)


neg_tail_kl_scorer = make_tail_kl_scorer()
neg_tail_kl_scorer.__doc__ = """Minus the tail KL of held-out data vs fresh model draws.

``neg_tail_kl_scorer(estimator, X, y=None)``: :func:`make_tail_kl_scorer` with its
defaults (``tail_fraction=0.05``, ``side="both"``, ``bins=20``, ``smoothing=1e-4``, 10 model draws
per held-out point, ``random_state=0``). Greater is better; 0 is the best possible
score, but even the true model scores above 0 on a finite held-out set (about 0.2 at
1,000 points of the tail mixture, 0.02 at 20,000): compare models on the same data.

{parameters}
Returns
-------
score : float
    Minus the tail KL divergence, at most 0.

{raises}
Examples
--------
>>> from sklearn.neighbors import KernelDensity
>>> from skqegm.datasets import make_tail_mixture
>>> from skqegm.metrics import neg_tail_kl_scorer
>>> X, _ = make_tail_mixture(4000, random_state=0)
>>> good = neg_tail_kl_scorer(KernelDensity(bandwidth=0.3).fit(X[:2000]), X[2000:])
>>> bad = neg_tail_kl_scorer(KernelDensity(bandwidth=3.0).fit(X[:2000]), X[2000:])
>>> bool(good > bad)
True
"""
neg_tail_kl_scorer.__doc__ = _prebuilt_doc(neg_tail_kl_scorer.__doc__, "make_tail_kl_scorer")

rare_event_recall_scorer = make_rare_event_recall_scorer()
rare_event_recall_scorer.__doc__ = """Rare-event recall of a model on held-out data.

``rare_event_recall_scorer(estimator, X, y=None)``: :func:`make_rare_event_recall_scorer`
with its defaults (``tail_fraction=0.05`` per side and ``side="both"``, the rare events of
samplers). Greater is better.

{parameters}
Returns
-------
score : float
    The rare-event recall, in [0, 1] (``nan``, with a warning, when the held-out
    data hold no rare event).

{raises}
Examples
--------
>>> from sklearn.neighbors import KernelDensity
>>> from skqegm.datasets import make_tail_mixture
>>> from skqegm.metrics import rare_event_recall_scorer
>>> X, _ = make_tail_mixture(4000, random_state=0)
>>> kde = KernelDensity(bandwidth=0.3).fit(X[:2000])
>>> round(rare_event_recall_scorer(kde, X[2000:]), 3)
0.745
"""
rare_event_recall_scorer.__doc__ = _prebuilt_doc(rare_event_recall_scorer.__doc__,
                                                  "make_rare_event_recall_scorer")

#: The three scorers by name, for ``GridSearchCV(..., scoring=SCORERS, refit=...)``.
SCORERS = {
    "neg_tail_kl": neg_tail_kl_scorer,
    "rare_event_recall": rare_event_recall_scorer,
    "neg_coverage_error": make_coverage_scorer(0.9),
}
