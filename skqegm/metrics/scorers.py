"""Greater-is-better scorers ``scorer(estimator, X, y=None)`` for model selection.

scikit-learn's ``make_scorer`` cannot score an estimator fitted without ``y``, so these
are plain functions, usable in ``GridSearchCV(..., scoring=SCORERS,
refit="neg_tail_kl")``. They know no model class, only a protocol (duck typing):

- an *unsupervised sampler* has ``sample(n)`` (returning ``X`` or, like
  :class:`~sklearn.mixture.GaussianMixture`, a tuple ``(X, labels)``) and
  ``score_samples(X)``; it is scored against the held-out ``X``, and ``y`` is ignored;
- a *supervised tail estimator* has ``sample_y(X, n_draws)`` (conditional draws of shape
  ``(n_samples, n_draws)``), ``predict(X)`` (0/1 rare flags), ``predict_interval(X,
  coverage)`` (shape ``(n_samples, 2)``), ``tail_threshold_`` and optionally ``side``
  ("lower" when absent); it is scored against the held-out ``y``, which is then required.

An estimator with ``sample_y`` or ``predict_interval`` is treated as supervised,
anything else as an unsupervised sampler; a :class:`~sklearn.pipeline.Pipeline` whose
last step is supervised is scored through that step, on ``X`` transformed by the steps
before it. A scorer given an estimator without the methods it needs raises
``TypeError`` (a Pipeline ending in a sampler has ``score_samples`` but no ``sample``).

Determinism: when a scorer draws samples, it passes its ``random_state`` (0 by default)
to ``sample`` / ``sample_y`` if their signature accepts one, so every candidate of a
grid search sees the same random stream. Otherwise the draws are as reproducible as the
estimator makes them (``GaussianMixture.sample`` reuses the estimator's own
``random_state``).
"""

import inspect

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_array

from skqegm.metrics.intervals import coverage_error
from skqegm.metrics.rare_events import rare_event_recall
from skqegm.metrics.tail import _kde_rarity, tail_kl_divergence
from skqegm.utils._validation import check_int, check_option, check_real

SIDES = ("lower", "upper", "both")
#: Most model draws behind the KDE that ranks points for a sampler without a density.
MAX_KDE_DRAWS = 20_000


def _is_supervised(estimator):
    return hasattr(estimator, "sample_y") or hasattr(estimator, "predict_interval")


def _unwrap_pipeline(estimator, X):
    """A Pipeline ending in a supervised tail estimator: that estimator, and X transformed
    by the steps before it (Pipeline exposes neither sample_y nor predict_interval)."""
    if isinstance(estimator, Pipeline) and _is_supervised(estimator[-1]):
        return estimator[-1], estimator[:-1].transform(X)
    return estimator, X


def _require(estimator, methods, scorer, role):
    missing = [m for m in methods if not hasattr(estimator, m)]
    if missing:
        raise TypeError(
            f"{scorer} needs {role} with {', '.join(methods)}; "
            f"{type(estimator).__name__} lacks {', '.join(missing)}."
        )


def _require_y(y, scorer):
    if y is None:
        raise ValueError(f"{scorer} needs the held-out y to score a supervised tail "
                         "estimator; got y=None.")
    y = check_array(y, ensure_2d=False, allow_nd=True, dtype=np.float64, input_name="y")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got an array of shape {y.shape}.")
    return y


def _as_2d(X):
    X = check_array(X, ensure_2d=False, allow_nd=True, dtype=np.float64, input_name="X")
    if X.ndim > 2:
        raise ValueError(f"X must be 1-D or 2-D; got an array of shape {X.shape}.")
    return X.reshape(-1, 1) if X.ndim == 1 else X


def _call_with_seed(method, *args, random_state):
    try:
        accepts_seed = "random_state" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        accepts_seed = False
    if accepts_seed:
        return method(*args, random_state=random_state)
    return method(*args)


def _draw_samples(estimator, n_samples, n_features, random_state):
    draws = _call_with_seed(estimator.sample, n_samples, random_state=random_state)
    if isinstance(draws, tuple):  # GaussianMixture returns (X, component labels)
        draws = draws[0]
    draws = check_array(draws, ensure_2d=False, allow_nd=True, dtype=np.float64,
                        input_name="sample(n)")
    if draws.size != n_samples * n_features:
        raise ValueError(f"{type(estimator).__name__}.sample({n_samples}) returned an array of "
                         f"shape {draws.shape}; expected ({n_samples}, {n_features}).")
    return draws.reshape(n_samples, n_features)


def _draw_conditional(estimator, X_raw, n_samples, n_draws, random_state):
    draws = _call_with_seed(estimator.sample_y, X_raw, n_draws, random_state=random_state)
    draws = check_array(draws, ensure_2d=False, allow_nd=True, dtype=np.float64,
                        input_name="sample_y(X, n_draws)")
    if draws.size != n_samples * n_draws:
        raise ValueError(f"{type(estimator).__name__}.sample_y(X, {n_draws}) returned an array "
                         f"of shape {draws.shape}; expected ({n_samples}, {n_draws}).")
    return draws.ravel()


def _beyond(values, threshold, side):
    """0/1 flags of ``values`` strictly beyond ``threshold`` on ``side``."""
    threshold = np.asarray(threshold, dtype=np.float64).ravel()
    if threshold.size != (2 if side == "both" else 1):
        raise ValueError("tail_threshold_ must be one number for side 'lower' or 'upper' and "
                         f"a (lower, upper) pair for 'both'; got {threshold.tolist()} with "
                         f"side={side!r}.")
    if side == "lower":
        return (values < threshold[0]).astype(int)
    if side == "upper":
        return (values > threshold[0]).astype(int)
    return ((values < threshold[0]) | (values > threshold[1])).astype(int)


def _estimator_side(estimator):
    return check_option(getattr(estimator, "side", "lower"), "estimator.side", SIDES)


def _true_rare_unsupervised(estimator, X, tail, side):
    """The paper's true rare events among held-out points X (unsupervised case)."""
    if hasattr(estimator, "tail_threshold_"):
        if X.shape[1] != 1:
            raise ValueError("tail_threshold_ defines rare events on 1-D data only; X has "
                             f"{X.shape[1]} features.")
        threshold = np.asarray(estimator.tail_threshold_, dtype=np.float64)
        # A sampler without a side holds (lower, upper) thresholds, as QEGMSampler does.
        default = "both" if threshold.size == 2 else "lower"
        side = check_option(getattr(estimator, "side", default), "estimator.side", SIDES)
        return _beyond(X.ravel(), threshold, side)
    if X.shape[1] == 1:
        x = X.ravel()
        thresholds = {"lower": np.quantile(x, tail), "upper": np.quantile(x, 1 - tail),
                      "both": (np.quantile(x, tail), np.quantile(x, 1 - tail))}
        return _beyond(x, thresholds[side], side)
    if side != "both":
        raise ValueError("with several features the rare points are the most rare overall, "
                         f"so side must be 'both'; got {side!r}.")
    rarity = _kde_rarity(X)(X)
    return (rarity >= np.quantile(rarity, 1 - tail)).astype(int)


def _log_density(estimator, X_raw, X, n_draws, random_state):
    """``score_samples``, or for a sampler without a density the log of a Gaussian KDE of
    ``min(n_draws * len(X), MAX_KDE_DRAWS)`` of its draws."""
    if not hasattr(estimator, "score_samples"):
        n_samples = min(n_draws * X.shape[0], MAX_KDE_DRAWS)
        draws = _draw_samples(estimator, n_samples, X.shape[1], random_state)
        return -_kde_rarity(draws)(X)
    scores = np.asarray(estimator.score_samples(X_raw), dtype=np.float64).ravel()
    if scores.shape[0] != X.shape[0]:
        raise ValueError(f"{type(estimator).__name__}.score_samples returned "
                         f"{scores.shape[0]} scores for {X.shape[0]} rows.")
    return scores


def _lowest_scores(scores, n_flags):
    flags = np.zeros(len(scores), dtype=int)
    flags[np.argsort(scores, kind="stable")[:n_flags]] = 1
    return flags


def _check_tail_side(tail, side):
    check_option(side, "side", SIDES)
    check_real(tail, "tail", low=0, high=0.5 if side == "both" else 1.0, low_open=True,
               high_open=True)


def _named(scorer, name, factory):
    scorer.__name__ = scorer.__qualname__ = name
    scorer.__doc__ = (f"Scorer ``{name}(estimator, X, y=None)`` built by "
                      f":func:`{factory.__name__}`; see its documentation.")
    return scorer


def make_tail_kl_scorer(*, tail=0.05, side="both", bins=20, smoothing=1e-4, n_draws=10,
                        random_state=0):
    """Build a scorer returning minus :func:`tail_kl_divergence` (greater is better).

    - unsupervised sampler: the held-out ``X`` against ``n_draws * len(X)`` fresh draws of
      ``estimator.sample``;
    - supervised tail estimator: the held-out ``y`` against the ``n_draws`` conditional
      draws per row of ``estimator.sample_y(X, n_draws)``, pooled (the model's marginal
      predictive distribution over ``X``).

    Parameters
    ----------
    tail, side, bins, smoothing : see :func:`tail_kl_divergence`
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
        ``scorer(estimator, X, y=None) -> float``.

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
    _check_tail_side(tail, side)
    check_int(bins, "bins", min_value=1)
    check_real(smoothing, "smoothing", low=0)
    n_draws = check_int(n_draws, "n_draws", min_value=1)
    kl_params = dict(tail=tail, side=side, bins=bins, smoothing=smoothing)

    def scorer(estimator, X, y=None):
        estimator, X = _unwrap_pipeline(estimator, X)
        if _is_supervised(estimator):
            _require(estimator, ["sample_y"], "neg_tail_kl_scorer", "a supervised estimator")
            y = _require_y(y, "neg_tail_kl_scorer")
            draws = _draw_conditional(estimator, X, y.shape[0], n_draws, random_state)
            return -tail_kl_divergence(y, draws, **kl_params)
        _require(estimator, ["sample"], "neg_tail_kl_scorer", "a sampler")
        X = _as_2d(X)
        draws = _draw_samples(estimator, n_draws * X.shape[0], X.shape[1], random_state)
        return -tail_kl_divergence(X, draws, **kl_params)

    return _named(scorer, "neg_tail_kl_scorer", make_tail_kl_scorer)


def make_rare_event_recall_scorer(*, tail=0.05, side="both", n_draws=10, random_state=0):
    """Build a scorer returning :func:`rare_event_recall` on held-out data.

    - supervised tail estimator: true rare events are the ``y`` strictly beyond
      ``estimator.tail_threshold_`` on ``estimator.side`` ("lower" when absent; a
      ``(lower, upper)`` pair for "both"); predictions are ``estimator.predict(X)``.
    - unsupervised sampler (the paper's definition): true rare events are the points of
      ``X`` strictly beyond ``estimator.tail_threshold_`` (on ``estimator.side``; without
      a ``side``, a pair of thresholds means lower and upper, as in
      :class:`~skqegm.QEGMSampler`, and one threshold means "lower") if the estimator
      has one, else beyond the empirical ``tail`` quantile(s) of ``X`` on
      ``side`` (with several features: the ``tail`` fraction of ``X`` with the highest
      Gaussian-KDE rarity). The model flags the same number of points, those with the
      lowest ``score_samples``; recall therefore also equals precision. These flags
      ignore ``side``: with a one-sided rule, low-density points on the other side (or
      in a valley between modes) count as misses. An over-smoothed, unimodal density
      ranks points by distance from the centre and can score well here; read recall
      together with the tail KL. A sampler without ``score_samples`` (a GAN, a
      diffusion model) is ranked by a Gaussian KDE (``scipy.stats.gaussian_kde``) of
      ``min(n_draws * len(X), MAX_KDE_DRAWS)`` of its draws.

    The score is ``nan`` (with a warning) when the held-out data hold no rare event.

    Parameters
    ----------
    tail : float, default=0.05
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
    _check_tail_side(tail, side)
    n_draws = check_int(n_draws, "n_draws", min_value=1)

    def scorer(estimator, X, y=None):
        estimator, X = _unwrap_pipeline(estimator, X)
        if _is_supervised(estimator):
            _require(estimator, ["predict", "tail_threshold_"], "rare_event_recall_scorer",
                     "a supervised estimator")
            y = _require_y(y, "rare_event_recall_scorer")
            true = _beyond(y, estimator.tail_threshold_, _estimator_side(estimator))
            return rare_event_recall(true, np.asarray(estimator.predict(X)).ravel())
        if not (hasattr(estimator, "score_samples") or hasattr(estimator, "sample")):
            raise TypeError("rare_event_recall_scorer needs a sampler with score_samples or "
                            f"sample; {type(estimator).__name__} lacks both.")
        X_raw, X = X, _as_2d(X)
        true = _true_rare_unsupervised(estimator, X, tail, side)
        scores = _log_density(estimator, X_raw, X, n_draws, random_state)
        flags = _lowest_scores(scores, int(true.sum()))
        return rare_event_recall(true, flags)

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
        Nominal coverage, in (0, 1).
    n_draws : int, default=10
        Model draws per held-out point for the unsupervised interval (>= 1).
    random_state : int or None, default=0
        Passed to ``sample`` when it accepts one.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float`` in [-1, 0]; 0 is perfect calibration.

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
    coverage = check_real(coverage, "coverage", low=0, high=1, low_open=True, high_open=True)
    n_draws = check_int(n_draws, "n_draws", min_value=1)

    def scorer(estimator, X, y=None):
        estimator, X = _unwrap_pipeline(estimator, X)
        if _is_supervised(estimator):
            _require(estimator, ["predict_interval"], "coverage scorer",
                     "a supervised estimator")
            y = _require_y(y, "coverage scorer")
            return -coverage_error(y, estimator.predict_interval(X, coverage), coverage)
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


neg_tail_kl_scorer = make_tail_kl_scorer()
neg_tail_kl_scorer.__doc__ = """Minus the tail KL of held-out data vs fresh model draws.

``neg_tail_kl_scorer(estimator, X, y=None)``: :func:`make_tail_kl_scorer` with its
defaults (``tail=0.05``, ``side="both"``, ``bins=20``, ``smoothing=1e-4``, 10 model draws
per held-out point, ``random_state=0``). Greater is better; 0 is the best possible
score, but even the true model scores above 0 on a finite held-out set (about 0.2 at
1,000 points of the tail mixture, 0.02 at 20,000): compare models on the same data.

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

rare_event_recall_scorer = make_rare_event_recall_scorer()
rare_event_recall_scorer.__doc__ = """Rare-event recall of a model on held-out data.

``rare_event_recall_scorer(estimator, X, y=None)``: :func:`make_rare_event_recall_scorer`
with its defaults (``tail=0.05`` per side, ``side="both"`` for samplers without
``tail_threshold_``). Greater is better.

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

#: The three scorers by name, for ``GridSearchCV(..., scoring=SCORERS, refit=...)``.
SCORERS = {
    "neg_tail_kl": neg_tail_kl_scorer,
    "rare_event_recall": rare_event_recall_scorer,
    "neg_coverage_error": make_coverage_scorer(0.9),
}
