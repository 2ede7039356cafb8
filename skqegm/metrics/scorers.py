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

Determinism: when a scorer draws samples, it passes its ``random_state`` (0 by default)
to ``sample`` / ``sample_y`` if their signature accepts one, so every candidate of a
grid search sees the same random stream. Otherwise the draws are as reproducible as the
estimator makes them (``GaussianMixture.sample`` reuses the estimator's own
``random_state``).
"""

import numpy as np
from sklearn.pipeline import Pipeline as SklearnPipeline
from sklearn.utils.validation import check_array

from skqegm.metrics._rarity import kde_rarity
from skqegm.metrics.intervals import coverage_error
from skqegm.metrics.rare_events import rare_event_recall
from skqegm.metrics.tail import tail_kl_divergence
from skqegm.pipeline import Pipeline
from skqegm.utils._sampling import call_with_random_state
from skqegm.utils._tails import flag_beyond, tail_thresholds
from skqegm.utils._validation import check_int, check_option, check_real

SIDES = ("lower", "upper", "both")
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


def _draw_samples(estimator, n_samples, n_features, random_state):
    draws = call_with_random_state(estimator.sample, n_samples, random_state=random_state)
    if isinstance(draws, tuple):  # GaussianMixture returns (X, component labels)
        draws = draws[0]
    draws = check_array(draws, ensure_2d=False, allow_nd=True, dtype=np.float64,
                        input_name="sample(n)")
    if draws.size != n_samples * n_features:
        raise ValueError(f"{type(estimator).__name__}.sample({n_samples}) returned an array of "
                         f"shape {draws.shape}; expected ({n_samples}, {n_features}).")
    return draws.reshape(n_samples, n_features)


def _draw_conditional(estimator, X_raw, n_samples, n_draws, random_state):
    draws = call_with_random_state(estimator.sample_y, X_raw, n_draws,
                                   random_state=random_state)
    draws = check_array(draws, ensure_2d=False, allow_nd=True, dtype=np.float64,
                        input_name="sample_y(X, n_draws)")
    if draws.size != n_samples * n_draws:
        raise ValueError(f"{type(estimator).__name__}.sample_y(X, {n_draws}) returned an array "
                         f"of shape {draws.shape}; expected ({n_samples}, {n_draws}).")
    return draws.ravel()


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
    rarity = kde_rarity(X)(X)[:, None]
    # Higher rarity is rarer, so only the upper threshold of the rarity scores applies.
    thresholds = tail_thresholds(rarity, "quantile", tail_fraction=tail_fraction)
    return flag_beyond(rarity, thresholds, "upper")[:, 0].astype(int)


def _log_density(estimator, X_raw, X, n_draws, random_state):
    """``score_samples``, or for a sampler without a density the log of a Gaussian KDE of
    ``min(n_draws * len(X), MAX_KDE_DRAWS)`` of its draws."""
    if not hasattr(estimator, "score_samples"):
        n_samples = min(n_draws * X.shape[0], MAX_KDE_DRAWS)
        draws = _draw_samples(estimator, n_samples, X.shape[1], random_state)
        return -kde_rarity(draws)(X)
    scores = np.asarray(estimator.score_samples(X_raw), dtype=np.float64).ravel()
    if scores.shape[0] != X.shape[0]:
        raise ValueError(f"{type(estimator).__name__}.score_samples returned "
                         f"{scores.shape[0]} scores for {X.shape[0]} rows.")
    return scores


def _lowest_scores(scores, n_flags):
    flags = np.zeros(len(scores), dtype=int)
    flags[np.argsort(scores, kind="stable")[:n_flags]] = 1
    return flags


def _check_tail_side(tail_fraction, side):
    check_option(side, "side", SIDES)
    check_real(tail_fraction, "tail_fraction", low=0, high=0.5 if side == "both" else 1.0,
               low_open=True, high_open=True)


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
    _check_tail_side(tail_fraction, side)
    check_int(bins, "bins", min_value=1)
    check_real(smoothing, "smoothing", low=0)
    n_draws = check_int(n_draws, "n_draws", min_value=1)
    kl_params = dict(tail_fraction=tail_fraction, side=side, bins=bins, smoothing=smoothing)

    def scorer(estimator, X, y=None):
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
      of points, those with the lowest ``score_samples``; recall therefore also equals
      precision. These flags ignore ``side``: with a one-sided rule, low-density points
      on the other side (or in a valley between modes) count as misses. An
      over-smoothed, unimodal density ranks points by distance from the centre and can
      score well here; read recall together with the tail KL. A sampler without
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
        if _is_supervised(estimator):
            _require(estimator, ["rare_events", "predict_rare"], "rare_event_recall_scorer",
                     "a supervised estimator")
            y = _require_y(y, "rare_event_recall_scorer")
            true = np.asarray(estimator.rare_events(y)).ravel()
            return rare_event_recall(true, np.asarray(estimator.predict_rare(X)).ravel())
        if not (hasattr(estimator, "score_samples") or hasattr(estimator, "sample")):
            raise TypeError("rare_event_recall_scorer needs a sampler with score_samples or "
                            f"sample; {type(estimator).__name__} lacks both."
                            + _pipeline_hint(estimator))
        X_raw, X = X, _as_2d(X)
        true = _true_rare_unsupervised(X, tail_fraction, side)
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
defaults (``tail_fraction=0.05``, ``side="both"``, ``bins=20``, ``smoothing=1e-4``, 10 model draws
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
with its defaults (``tail_fraction=0.05`` per side and ``side="both"``, the rare events of
samplers). Greater is better.

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
