"""Greater-is-better scorers ``scorer(estimator, X, y=None, *, sample_weight=None)``
for model selection.

scikit-learn's ``make_scorer`` cannot score an estimator fitted without ``y``, so these
are plain functions, usable in ``GridSearchCV(..., scoring=SCORERS,
refit="neg_tail_kl")``. They know no model class, only a protocol (duck typing):

- an *unsupervised sampler* has ``sample(n)`` (returning ``X`` or, like
  :class:`~sklearn.mixture.GaussianMixture`, a tuple ``(X, labels)``) and
  ``score_samples(X)``; it is scored against the held-out ``X``, and ``y`` is ignored
  (a frame's columns must be those seen in ``fit``, names and order, as scikit-learn
  requires: its draws are compared with them by position);
- a *supervised tail estimator* has ``sample_y(X, n_draws)`` (conditional draws of shape
  ``(n_samples, n_draws)``), ``predict_rare(X)`` (0/1 predicted rare flags),
  ``rare_events(y)`` (0/1 flags of the observed targets it calls rare) and
  ``predict_interval(X, coverage)`` (shape ``(n_samples, 2)``), as
  :class:`~skqegm.TailRiskEstimator` has; it is scored against the held-out ``y``, which
  is then required.

An estimator with ``sample_y`` or ``predict_interval`` is treated as supervised,
anything else as an unsupervised sampler. A :class:`skqegm.pipeline.Pipeline` has the
methods of its last step (``sample`` maps the draws back to the units of the data, the
other methods transform ``X``), so it is scored as a whole, in the units of the data.
A pipeline (skqegm's or scikit-learn's) whose steps cannot map draws back, such as
one-hot encoding (``make_tail_pipeline(kind="intrusion")``), is scored where its last
step lives: the held-out ``X`` goes through the steps' ``transform``, and the last step
is drawn from and scored on it. A scorer given an estimator without the methods it needs
raises ``TypeError`` (a :class:`sklearn.pipeline.Pipeline` of invertible steps ending in
a sampler has ``score_samples`` but no ``sample``).

Failure is loud, never a good score: an unfitted estimator (one with ``fit``, checked by
:func:`~sklearn.utils.validation.check_is_fitted`, which asks a pipeline about its last
step) raises :class:`~sklearn.exceptions.NotFittedError` before any of its methods is
called, and a model whose draws, densities, flags or intervals hold NaN (or infinite
draws) raises a ``ValueError`` that names the estimator and the method, so that
``GridSearchCV`` records its ``error_score`` instead of ranking a broken model.

Every scorer pickles (a fitted search that holds one can be saved with ``joblib.dump``),
unless it was built with a ``rarity`` that does not (a lambda).

Row weights: ``scorer(estimator, X, y, sample_weight=w)`` weights the held-out rows in
the metric (:func:`coverage_error`, :func:`rare_event_recall`,
:func:`rare_event_precision`), as scikit-learn's scorers do; the model's draws are never
weighted. The coverage scorer weights every estimator's rows; the rare-event scorers
weight those of a supervised tail estimator, and those of a sampler as frequencies (a row
of weight 2 counts as two rows, one of weight 0 as none: integer weights give the score
of the rows repeated), except with several features and no ``rarity`` callable, where
they refuse them (the events' KDE is fitted on the held-out rows, and repeated rows
change it in a way no weighting reproduces); the tail KL scorer refuses weights (so does
:func:`tail_kl_divergence`). A refusal is a
``ValueError`` that says why, never a silently unweighted score. In a search or
``cross_validate`` the weights of each fold reach the scorer through scikit-learn's
metadata routing: ``sklearn.set_config(enable_metadata_routing=True)`` and
``scorer.set_score_request(sample_weight=True)``; weights passed but not requested raise,
as for scikit-learn's scorers. A prebuilt scorer (``neg_tail_kl_scorer``,
``rare_event_recall_scorer``, the values of :data:`SCORERS`) is shared by every user of
the module, so its ``set_score_request`` returns a copy with the request and leaves it
unchanged; a scorer built by a ``make_*_scorer`` function is changed and returned, as
scikit-learn's are.

Determinism: when a scorer draws samples, it passes its ``random_state`` (0 by default)
to ``sample`` / ``sample_y`` if their signature accepts one, so every candidate of a
grid search sees the same random stream. Otherwise the draws are as reproducible as the
estimator makes them (``GaussianMixture.sample`` reuses the estimator's own
``random_state``).
"""

import warnings

import numpy as np
from sklearn.pipeline import Pipeline as SklearnPipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.validation import check_is_fitted

from ..pipeline import Pipeline
from ..utils._memory import check_memory
from ..utils._sampling import call_with_random_state, has_inverse, is_passthrough
from ..utils._tails import SIDES, flag_beyond, tail_thresholds
from ..utils._validation import (
    check_int,
    check_option,
    check_real,
    check_real_array,
    check_sample_weight,
    check_seed,
)
from ..utils._warnings import caller_stacklevel
from ._arrays import (
    check_coverage,
    check_flags,
    check_held_out_y,
    check_intervals,
    check_tail_kl_params,
    check_zero_division,
    undefined_score,
)
from ._rarity import kde_rarity, rarity_scores, resolve_rarity
from ._scorer import BoundScorer, prebuilt, shared
from .intervals import coverage_error
from .rare_events import rare_event_precision, rare_event_recall
from .tail import tail_kl_divergence

#: Copies of the model's draws that a scorer may hold at once (the model's output, its
#: float64 copy, rescaled and binned copies), for the memory estimate.
DRAW_COPIES = 4

#: Most model draws behind the KDE that ranks points for a sampler without a density.
MAX_KDE_DRAWS = 20_000

#: What the scorers score against the held-out y, for the error on y=None.
SUPERVISED = "a supervised tail estimator"

#: The regions of :func:`make_coverage_scorer` for an unsupervised sampler.
REGIONS = ("auto", "central", "hdr")

#: Why the tail KL scorer takes no sample_weight.
TAIL_KL_UNWEIGHTED = (
    "the tail region and its cells are cut from the held-out rows themselves (their "
    "interpolated quantiles, or a KDE and k-means of them), so weights would move the region "
    "as well as the held-out histogram, which tail_kl_divergence does not define (it takes "
    "no sample_weight).")


def _is_supervised(estimator):
    return hasattr(estimator, "sample_y") or hasattr(estimator, "predict_interval")


def _pipeline_hint(estimator):
    # scikit-learn's Pipeline hides its last step's sample and tail API; skqegm's exposes them.
    if isinstance(estimator, SklearnPipeline) and not isinstance(estimator, Pipeline):
        return (" A sklearn.pipeline.Pipeline exposes neither sample nor the tail API of its "
                "last step; build it with skqegm.pipeline.make_pipeline, whose Pipeline does.")
    return ""


def _maps_draws_back(pipeline):
    return all(has_inverse(step) for _, step in pipeline.steps[:-1])


def _check_columns(estimator, X):
    """Refuse held-out columns that are not the ones the sampler was fitted on.

    The tail KL (and a density estimated from draws) compares the model's draws, in the
    order of the columns seen in ``fit``, with the held-out values column by column,
    without passing ``X`` to the model, which would check its names: swapped columns
    scored -6.2 instead of -0.06, silently. Names are compared as scikit-learn's
    ``validate_data`` compares them, where both sides have them.
    """
    fitted = getattr(estimator, "feature_names_in_", None)
    columns = getattr(X, "columns", None)
    if fitted is None or columns is None or not all(isinstance(c, str) for c in columns):
        return
    if list(columns) != list(fitted):
        raise ValueError(f"the columns of X, {list(columns)}, are not those that "
                         f"{type(estimator).__name__} was fitted on, {list(fitted)} (names "
                         "and order): select them, X[list(estimator.feature_names_in_)].")


def _sampler_space(estimator, X):
    """The sampler and held-out rows that an unsupervised scorer compares.

    A pipeline whose steps cannot map draws back to the units of the data (one-hot
    encoding has no inverse) is scored where its last step lives: the held-out rows go
    through the steps' ``transform``, and the last step is drawn from and scored there.
    """
    if (isinstance(estimator, SklearnPipeline) and hasattr(estimator.steps[-1][1], "sample")
            and not _maps_draws_back(estimator)):
        return estimator.steps[-1][1], estimator[:-1].transform(X)  # selects by name
    _check_columns(estimator, X)
    return estimator, X


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


def _held_out(X):
    """The held-out rows as the model gets them, and as a 2-D float array.

    A frame keeps its column names for the model; a 1-D ``X`` (one feature) reaches
    the model as one column, as the model was fitted on.
    """
    values = check_real_array(X, "X")
    if values.ndim > 2 or values.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 1-D or 2-D array; got an array of shape "
                         f"{values.shape}.")
    if values.ndim == 1:
        values = values.reshape(-1, 1)
        return values, values
    return X, values


def _call_name(estimator, call):
    return f"{type(estimator).__name__}.{call}"


def _model_output(values, estimator, call, *, allow_inf=False):
    """A model's output as float64; NaN (or infinity) is the model's fault, so say whose."""
    return check_real_array(values, f"the output of {_call_name(estimator, call)}",
                            allow_inf=allow_inf)


def _check_draws_fit(n_values, call):
    """Refuse draws that would not fit in memory before the model makes them."""
    check_memory(DRAW_COPIES * 8.0 * n_values, f"{call} for the scorer",
                 "Lower the scorer's n_draws (model draws per held-out row) or score fewer "
                 "held-out rows.")


def _draw_samples(estimator, n_samples, n_features, random_state):
    _check_draws_fit(n_samples * n_features, _call_name(estimator, f"sample({n_samples})"))
    draws = call_with_random_state(estimator.sample, n_samples, random_state=random_state)
    if isinstance(draws, tuple):  # GaussianMixture returns (X, component labels)
        draws = draws[0]
    draws = _model_output(draws, estimator, f"sample({n_samples})")
    if draws.size != n_samples * n_features:
        raise ValueError(f"{type(estimator).__name__}.sample({n_samples}) returned an array of "
                         f"shape {draws.shape}; expected ({n_samples}, {n_features}).")
    return draws.reshape(n_samples, n_features)


def _draw_conditional(estimator, X_raw, n_samples, n_draws, random_state):
    _check_draws_fit(n_samples * n_draws,
                     _call_name(estimator, f"sample_y(X, {n_draws}) on {n_samples} rows"))
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


def _weighted_quantiles(values, weights, quantiles):
    """``np.quantile(np.repeat(values, weights), quantiles)`` without the repeated array.

    numpy's default ("linear") quantile of the data with each row counted ``weights[i]``
    times: its virtual index ``h`` in the sorted repeated data, and the values at
    ``floor(h)`` and ``floor(h) + 1`` interpolated by numpy's own formulas, so that
    integer weights give numpy's quantile of the repeated rows bit for bit. Position ``j``
    of the repeated data is the row whose cumulative weight first exceeds ``j``, which
    extends the rule to weights that are not integers. Rows of weight 0 must be left out.
    """
    order = np.argsort(values, kind="stable")
    ordered, cumulative = values[order], np.cumsum(weights[order])
    total, last = cumulative[-1], values.shape[0] - 1

    def at(position):
        return ordered[min(int(np.searchsorted(cumulative, position, side="right")), last)]

    out = np.empty(len(quantiles))
    for k, q in enumerate(quantiles):
        virtual = (total - 1) * q  # numpy's virtual index for its "linear" method
        if virtual >= total - 1:
            out[k] = ordered[-1]
            continue
        if virtual < 0:
            out[k] = ordered[0]
            continue
        previous = np.floor(virtual)
        a, b, t = at(previous), at(previous + 1), virtual - previous
        diff = b - a  # numpy's _lerp, exact at both ends
        out[k] = b - diff * (1 - t) if t >= 0.5 else a + diff * t
    return out


def _weighted_thresholds(values, weights, tail_fraction):
    """:func:`tail_thresholds` (the quantile rule) of a column counted with frequency
    ``weights``."""
    return _weighted_quantiles(values, weights, [tail_fraction, 1 - tail_fraction])[:, None]


def _true_rare_unsupervised(X, tail_fraction, side, rarity, weights=None):
    """The true rare events among held-out points X (unsupervised case).

    Defined by the scorer's parameters and the held-out data alone, never by the model
    scored: candidates of a grid search (over ``tail_fraction``, say) must be scored
    against the same events. ``weights`` (all > 0, or None) are frequency weights: the
    cut is the quantile of the data with each row repeated ``weights[i]`` times.
    """
    if X.shape[1] == 1 and rarity is None:
        thresholds = (tail_thresholds(X, "quantile", tail_fraction=tail_fraction)
                      if weights is None else
                      _weighted_thresholds(X[:, 0], weights, tail_fraction))
        return flag_beyond(X, thresholds, side)[:, 0].astype(int)
    if side != "both":
        raise ValueError("with several features (or a rarity callable) the rare points are "
                         f"the most rare overall, so side must be 'both'; got {side!r}.")
    rarity = resolve_rarity(rarity, X, name="the held-out X",
                            hint=" Pass a rarity callable to the scorer's maker instead.")
    scores = rarity_scores(rarity, X, "the held-out X", allow_inf=False)[:, None]
    # Higher rarity is rarer, so only the upper threshold of the rarity scores applies.
    thresholds = (tail_thresholds(scores, "quantile", tail_fraction=tail_fraction)
                  if weights is None else
                  _weighted_thresholds(scores[:, 0], weights, tail_fraction))
    return flag_beyond(scores, thresholds, "upper")[:, 0].astype(int)


def _model_log_density(estimator, X, n_rows, call):
    """``estimator.score_samples(X)`` checked: one score per row, never NaN."""
    # A log-density of -inf is a zero density (a tophat kernel's outside), a valid "rarest".
    scores = _model_output(np.ravel(estimator.score_samples(X)), estimator, call,
                           allow_inf=True)
    if scores.shape[0] != n_rows:
        raise ValueError(f"{_call_name(estimator, call)} returned {scores.shape[0]} scores "
                         f"for {n_rows} rows.")
    return scores


def _draws_kde(draws, estimator):
    """A Gaussian KDE log-density of a sampler's draws, for a sampler without one."""
    rarity = kde_rarity(draws, name=f"the draws of {_call_name(estimator, 'sample')}",
                        hint="")
    return lambda points: -rarity(points)


#: Steps whose map is affine per feature: a constant Jacobian, so the density of the
#: transformed data ranks points as the density of the data does.
_AFFINE_SCALERS = (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler)


def _is_affine(step):
    if is_passthrough(step):
        return True
    if isinstance(step, SklearnPipeline):
        return all(_is_affine(inner) for _, inner in step.steps)
    if isinstance(step, FunctionTransformer):
        return step.func is None
    return isinstance(step, _AFFINE_SCALERS)


def _density_ranks_data(estimator):
    """Whether ``score_samples`` ranks points as the model's density in the data's units
    does: not for a pipeline that maps ``X`` through a step that is not affine (a log, a
    power or quantile transform), whose ``score_samples`` is a density of the transformed
    data, missing the Jacobian that varies from point to point."""
    return not (isinstance(estimator, SklearnPipeline)
                and not all(_is_affine(step) for _, step in estimator.steps[:-1]))


def _log_density(estimator, X_raw, X, n_draws, random_state, n_rows=None):
    """``score_samples``, or for a sampler without a density in the data's units (see
    :func:`_density_ranks_data`) the log of a Gaussian KDE of
    ``min(n_draws * n_rows, MAX_KDE_DRAWS)`` of its draws (``n_rows`` defaults to
    ``len(X)``)."""
    ranks = _density_ranks_data(estimator)
    if not (ranks or hasattr(estimator, "sample")):
        # A sklearn.pipeline.Pipeline hides its last step's sample: nothing to rank by.
        raise TypeError(
            f"{type(estimator).__name__} maps X through a step that is not an affine scaler "
            "before its model, so its score_samples is a density of the transformed data, "
            "which ranks rows otherwise than their density; it is ranked by a KDE of its "
            "draws instead, and has no sample." + _pipeline_hint(estimator))
    if not (ranks and hasattr(estimator, "score_samples")):
        n_rows = X.shape[0] if n_rows is None else n_rows
        n_samples = min(n_draws * n_rows, MAX_KDE_DRAWS)
        draws = _draw_samples(estimator, n_samples, X.shape[1], random_state)
        return _draws_kde(draws, estimator)(X)
    return _model_log_density(estimator, X_raw, X.shape[0], "score_samples(X)")


def _mass_level(log_density, coverage):
    """The highest level whose superlevel set holds at least ``coverage`` of the points."""
    k = int(np.floor((1 - coverage) * log_density.shape[0]))
    return np.partition(log_density, k)[k]


def _hdr_inside(estimator, X_raw, X, coverage, n_draws, random_state):
    """How much of each held-out row lies in the model's highest-density region of mass
    ``coverage`` (the scorer's coverage is their share, weighted or not).

    The region is ``{x : log p(x) >= level}``, with ``level`` set so that it holds
    ``coverage`` of the model's own draws (a level set tied at ``level`` counts in part:
    see :func:`_inside`); any score works there (the region of a
    pipeline's score in transformed units holds the same mass), a density makes it the
    smallest such region.
    """
    n_samples, n_features = n_draws * X.shape[0], X.shape[1]
    if hasattr(estimator, "score_samples"):
        draws = _draw_samples(estimator, n_samples, n_features, random_state)
        at_draws = _model_log_density(estimator, draws, n_samples,
                                      f"score_samples(sample({n_samples}))")
        at_rows = _model_log_density(estimator, X_raw, X.shape[0], "score_samples(X)")
    else:
        # A KDE scoring its own kernels' centres overrates them: fit on one half of the
        # draws, set the level on the other half.
        n_samples = min(n_samples, 2 * MAX_KDE_DRAWS)
        draws = _draw_samples(estimator, n_samples, n_features, random_state)
        log_density = _draws_kde(draws[: n_samples // 2], estimator)
        at_draws, at_rows = log_density(draws[n_samples // 2:]), log_density(X)
    return _inside(at_rows, at_draws, coverage)


def _inside(at_rows, at_draws, coverage):
    """How much of each row lies inside the region ``{score >= level}`` of mass
    ``coverage``: 1 above the level, 0 below it, and ``part`` on it.

    Where the model's score is constant on a region (a flat or stepped density), every
    point of it ties at the level and ``{score >= level}`` holds more than ``coverage``
    of the draws. The region then takes that level set in part: the share ``part`` of it
    that brings the draws' mass to ``coverage``, and the same share of each row on it. A
    continuous score has no ties, and this is ``at_rows >= level``.
    """
    level = _mass_level(at_draws, coverage)
    above, on = np.mean(at_draws > level), np.mean(at_draws == level)
    part = min(1.0, (coverage - above) / on)
    return (at_rows > level) + part * (at_rows == level)


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


def _bound(function, name, factory, /, *, unweighted=None, **params):
    doc = (f"Scorer ``{name}(estimator, X, y=None, *, sample_weight=None)`` built by "
           f":func:`{factory.__name__}`; see its documentation.")
    return BoundScorer(function, name, doc, unweighted, **params)


def _check_seed(random_state):
    """``random_state`` as an int seed or None; a ``RandomState`` is refused.

    A generator advances with every call, so each candidate of a grid search (and each
    call on one model) would be scored on other draws: the seed keeps them the same.
    """
    if isinstance(random_state, np.random.RandomState | np.random.Generator):
        raise ValueError(
            "random_state must be None or an integer in [0, 2**32 - 1]; got a "
            f"{type(random_state).__name__}, which would give every call, and so every "
            "candidate of a grid search, other draws.")
    return check_seed(random_state, "random_state")


def _check_rarity_side(rarity, side):
    if rarity is None:
        return None
    if not callable(rarity):
        raise ValueError(f"rarity must be None or a callable; got {rarity!r}.")
    if side != "both":
        raise ValueError("with a rarity callable the rare points are the most rare overall, "
                         f"so side must be 'both'; got {side!r}.")
    return rarity


def make_tail_kl_scorer(*, tail_fraction=0.05, side="both", bins=20, smoothing=1e-4,
                        n_draws=10, random_state=0, rarity=None):
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
        Passed to ``sample`` / ``sample_y`` when they accept it. A ``RandomState`` is
        refused: it would give every call other draws.
    rarity : callable or None, default=None
        Passed on unchanged (see :func:`tail_kl_divergence`): ``rarity(X) -> scores``,
        higher meaning rarer, defines the tail region instead of a KDE of the held-out
        rows. On rows a continuous model cannot reach (one-hot columns) pass a rarity on a
        space where model and data overlap, e.g. a density of principal components fitted
        on training rows.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None, *, sample_weight=None) -> float``, at most 0. It
        refuses a ``sample_weight`` (a ``ValueError``): the tail region and its cells are
        cut from the held-out rows themselves (interpolated quantiles, or a KDE and
        k-means of them), so weights would move the region as well as the histogram,
        which :func:`tail_kl_divergence` does not define.

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
    check_tail_kl_params(tail_fraction, side, bins, smoothing,
                         multivariate=_check_rarity_side(rarity, side) is not None)
    n_draws = check_int(n_draws, "n_draws", min_value=1)
    kl_params = dict(tail_fraction=tail_fraction, side=side, bins=bins, smoothing=smoothing,
                     rarity=rarity)

    random_state = _check_seed(random_state)
    return _bound(_tail_kl_score, "neg_tail_kl_scorer", make_tail_kl_scorer,
                  unweighted=TAIL_KL_UNWEIGHTED, n_draws=n_draws, random_state=random_state,
                  kl_params=kl_params)


def _tail_kl_score(estimator, X, y, *, n_draws, random_state, kl_params):
    _check_fitted(estimator)
    if _is_supervised(estimator):
        _require(estimator, ["sample_y"], "neg_tail_kl_scorer", "a supervised estimator")
        y = check_held_out_y(y, X, "neg_tail_kl_scorer", SUPERVISED)
        draws = _draw_conditional(estimator, X, y.shape[0], n_draws, random_state)
        return _neg_tail_kl(y, draws, kl_params, "y")
    estimator, X = _sampler_space(estimator, X)
    _require(estimator, ["sample"], "neg_tail_kl_scorer", "a sampler")
    X = _held_out(X)[1]
    draws = _draw_samples(estimator, n_draws * X.shape[0], X.shape[1], random_state)
    return _neg_tail_kl(X, draws, kl_params, "X")


def _expected_hits(true, scores):
    """Rare events among the ``true.sum()`` lowest scores, averaged over orders of ties.

    A stable sort would break ties by row order, so a model with a flat density could
    score whatever recall the row order happens to give (1.0 on sorted data); averaging
    over every order of the tied rows gives each of them an equal share of the flags left.
    """
    n_flags = int(true.sum())
    cutoff = np.sort(scores)[n_flags - 1]
    below, tied = scores < cutoff, scores == cutoff
    weights = below.astype(np.float64)
    weights[tied] = (n_flags - below.sum()) / tied.sum()
    return float(np.sum(weights[true == 1]))


def _weighted_expected_hits(true, scores, weights):
    """:func:`_expected_hits` of the rows counted with frequency ``weights`` (all > 0).

    The model flags the rows of lowest score up to the weight of the true events; the
    rows tied at the cut share what is left in proportion to their weights, as copies of
    a row would share it under :func:`_expected_hits`.
    """
    mass = float(weights @ true)
    order = np.argsort(scores, kind="stable")
    cumulative = np.cumsum(weights[order])
    # The first row at which the flagged weight reaches the events' (rounding aside).
    cut = min(int(np.searchsorted(cumulative, mass * (1 - 1e-12))), scores.shape[0] - 1)
    cutoff = scores[order[cut]]
    below, tied = scores < cutoff, scores == cutoff
    share = min(1.0, max(0.0, (mass - weights @ below) / (weights @ tied)))
    return float(weights @ (true * (below + share * tied)))


def _make_rare_event_scorer(metric, name, maker, tail_fraction, side, n_draws, random_state,
                            rarity, zero_division):
    """The recall or precision scorer: ``metric(true_flags, predicted_flags)``."""
    _check_tail_side(tail_fraction, side)
    n_draws = check_int(n_draws, "n_draws", min_value=1)
    rarity = _check_rarity_side(rarity, side)
    zero_division = check_zero_division(zero_division)

    random_state = _check_seed(random_state)
    return _bound(_rare_event_score, name, maker, metric=metric, name=name,
                  tail_fraction=tail_fraction, side=side, n_draws=n_draws,
                  random_state=random_state, rarity=rarity, zero_division=zero_division)


#: Why the rare-event scorers weight no rows of a sampler ranked by the default rarity.
KDE_EVENTS_UNWEIGHTED = (
    "with several features and no rarity callable, the rare events of a sampler are the "
    "rarest rows under a Gaussian KDE fitted on the held-out rows themselves; repeating "
    "rows changes that KDE's bandwidth and its seeded 2,000-row subsample, which no "
    "weighting of the rows reproduces, so frequency weights are not defined there. Pass "
    "a rarity callable fitted on training rows (rarity=lambda X: -reference.score_samples(X)) "
    "to weight the rows.")


def _sampler_weights(sample_weight, X, rarity, name, estimator):
    """Frequency weights of the held-out rows of a sampler (as given, not rescaled: a
    row of weight 2 counts as two rows), or None; refused with the default KDE rarity."""
    check_sample_weight(sample_weight, X.shape[0], against="the held-out X")
    if sample_weight is None:
        return None
    if X.shape[1] > 1 and rarity is None:
        raise ValueError(f"{name} cannot weight the rows of {type(estimator).__name__}, "
                         f"scored as a sampler on {X.shape[1]} features: "
                         f"{KDE_EVENTS_UNWEIGHTED}")
    weights = np.broadcast_to(np.asarray(sample_weight, dtype=np.float64), X.shape[:1])
    total = float(weights.sum())
    # Below two rows the quantile's interpolation spans the whole data (one row's worth
    # of weights spread over many rows puts both cuts at the smallest value): no count
    # of repeated rows means that, and weights that are proportions land there.
    if not np.isfinite(total) or total < 2:
        raise ValueError(f"{name} counts the sample_weight of a sampler's rows as "
                         f"frequencies (a row of weight 2 counts as two rows); these sum to "
                         f"{total!r} rows, {'too many' if total >= 2 else 'too few'} to cut "
                         f"a tail from. Weights that are proportions count as rows once "
                         f"scaled to sum to the number of rows: w * len(w) / w.sum().")
    return weights


def _rare_event_score(estimator, X, y, *, sample_weight=None, metric, name, tail_fraction,
                      side, n_draws, random_state, rarity, zero_division):
    _check_fitted(estimator)
    if _is_supervised(estimator):
        _require(estimator, ["rare_events", "predict_rare"], name, "a supervised estimator")
        y = check_held_out_y(y, X, name, SUPERVISED)
        n = y.shape[0]
        _check_weights(sample_weight, n, "y")
        true = _model_flags(estimator.rare_events(y), estimator, "rare_events(y)", n)
        pred = _model_flags(estimator.predict_rare(X), estimator, "predict_rare(X)", n)
        return metric(true, pred, sample_weight=sample_weight, zero_division=zero_division)
    estimator, X = _sampler_space(estimator, X)
    if not (hasattr(estimator, "score_samples") or hasattr(estimator, "sample")):
        raise TypeError(f"{name} needs a sampler with score_samples or sample; "
                        f"{type(estimator).__name__} lacks both."
                        + _pipeline_hint(estimator))
    X_raw, X = _held_out(X)
    weights = _sampler_weights(sample_weight, X, rarity, name, estimator)
    if weights is None:
        true = _true_rare_unsupervised(X, tail_fraction, side, rarity)
        scores = _log_density(estimator, X_raw, X, n_draws, random_state)
    else:
        # Frequency weights: a row of weight 0 is a row left out, one of weight 2 two rows.
        kept = weights > 0
        weights = weights[kept]
        true = _true_rare_unsupervised(X[kept], tail_fraction, side, rarity, weights)
        scores = _log_density(estimator, X_raw, X, n_draws, random_state,
                              n_rows=int(kept.sum()))[kept]
    if not true.any():  # undefined: a warning naming the held-out data, not a y_true
        what = "values" if X.shape[1] == 1 and rarity is None else "rarity scores"
        counted = ("" if weights is None else
                   f" (each row counted sample_weight times: {float(weights.sum()):.6g} rows)")
        return undefined_score(
            zero_division,
            f"{name} is undefined: the held-out data{counted} hold no rare event (none of "
            f"their {what} lies strictly beyond their tail_fraction={tail_fraction} "
            "quantile: they tie there). Score on more held-out rows, or pass a rarity "
            "callable.")
    # The model flags as many rows as are rare, so its recall is its precision.
    if weights is None:
        return _expected_hits(true, scores) / int(true.sum())
    return _weighted_expected_hits(true, scores, weights) / float(weights @ true)


_RARE_EVENT_DOC = """
    - supervised tail estimator: true rare events are ``estimator.rare_events(y)`` (for
      :class:`~skqegm.TailRiskEstimator`, the ``y`` strictly beyond its rare-event
      threshold on its ``side``); predictions are ``estimator.predict_rare(X)``.
      ``tail_fraction``, ``side`` and ``rarity`` are not used: the estimator defines its
      events.
    - unsupervised sampler (the paper's definition): true rare events are defined by the
      scorer's parameters and the held-out data alone, never by the sampler (whose own
      ``tail_threshold_`` is not read), so every candidate of a grid search is scored
      against the same events:

      * one feature, no ``rarity``: the points of the held-out ``X`` strictly beyond its
        empirical ``tail_fraction`` quantile(s) on ``side``;
      * several features, or a ``rarity`` callable: the points whose rarity is strictly
        above its ``1 - tail_fraction`` quantile over the held-out ``X``, about the
        ``tail_fraction`` of ``X`` that is rarest. The default rarity is minus the
        log-density of a Gaussian KDE fitted on the held-out ``X`` itself (Scott's
        bandwidth, on a seeded subsample of 2,000 rows when there are more); pass
        ``rarity`` (e.g. ``lambda X: -reference.score_samples(X)`` with a density fitted
        on training rows) to define the events by another reference.

      The model flags the same number of points, those with the lowest ``score_samples``
      (``-inf``, a zero density, is the lowest): its own rarity ranking, so that recall
      and precision are equal here. Points tied at the cut share the flags left equally
      (the score averaged over every order of the ties), so a flat density scores the
      chance level whatever the order of the rows. These flags ignore ``side``: with a
      one-sided rule, low-density points on the other side (or in a valley between
      modes) count as misses. An over-smoothed, unimodal density ranks points by
      distance from the centre and can score well here; read it together with the tail
      KL. A sampler without ``score_samples`` (a GAN, a diffusion model) is ranked by a
      Gaussian KDE of ``min(n_draws * len(X), MAX_KDE_DRAWS)`` of its draws (``len(X)``
      counting the rows of positive weight), and so is a pipeline with a step before its
      model that is not an affine scaler (``StandardScaler``, ``MinMaxScaler``,
      ``MaxAbsScaler``, ``RobustScaler``): its ``score_samples`` is a density of the
      transformed data, which a log or power transform ranks otherwise (a
      ``sklearn.pipeline.Pipeline`` of such steps, which hides ``sample``, is refused).

      ``sample_weight`` counts a sampler's held-out rows as frequencies: a row of weight
      ``w`` is ``w`` rows, so integer weights give exactly the score of the rows repeated
      that many times (for a sampler with ``score_samples``), and weight 0 the score
      without the row. The events are the rows beyond the quantile (numpy's default,
      interpolated) of the repeated data, or of their rarity; the model flags the same
      weight of rows, and rows tied at its cut share the weight left in proportion to
      their weights. Weights of another scale are other counts (a weight of 0.5 is half a
      row): weights that are proportions must be scaled to sum to the number of rows
      (``w * len(w) / w.sum()``), and weights summing to less than 2 rows are refused
      (a tail quantile of one row's worth of data is not defined). With several
      features and no ``rarity`` callable the weights are refused: the default rarity, a
      KDE fitted on the held-out rows, changes with repeated rows (its bandwidth and
      seeded subsample) in a way no weighting reproduces. Since the scorer takes weights
      in every other case, it answers yes when a search without metadata routing asks
      whether it accepts them, and such a sampler's candidates then fail with that
      reason (``error_score``).

    Where the score is undefined (the held-out data hold no rare event or, for precision, a
    supervised estimator flags nothing), it is the ``zero_division`` score: NaN with an
    ``UndefinedMetricWarning`` by default, which ``GridSearchCV`` ranks last (and warns
    of).

    Parameters
    ----------
    tail_fraction : float, default=0.05
        Share of rare points: per side for the 1-D quantile rule (in (0, 0.5) for
        "both"), overall for the rarity rule.
    side : {"lower", "upper", "both"}, default="both"
        Side for the 1-D quantile rule; must be "both" with a ``rarity`` (several
        features use the rarity rule, and need "both" too).
    n_draws : int, default=10
        Model draws per held-out point for a sampler without ``score_samples`` (>= 1).
    random_state : int or None, default=0
        Passed to ``sample`` when it accepts one. A ``RandomState`` is refused: it
        would give every call other draws.
    rarity : callable or None, default=None
        ``rarity(X) -> scores`` of shape (n_rows,), higher meaning rarer, finite on the
        held-out ``X``; defines the true rare events by the rarity rule, in any number of
        dimensions. ``None``: the quantile rule in 1-D, a KDE of the held-out ``X``
        otherwise.
    zero_division : {"warn", 0.0, 1.0, np.nan}, default=np.nan
        The score where it is undefined, as in :func:`rare_event_recall`: NaN (the
        default) with an ``UndefinedMetricWarning``; ``"warn"`` is 0.0 with the warning,
        0.0 and 1.0 are returned silently (scikit-learn's meanings, except that its
        ``np.nan`` is silent).
"""


def make_rare_event_recall_scorer(*, tail_fraction=0.05, side="both", n_draws=10,
                                  random_state=0, rarity=None, zero_division=np.nan):
    return _make_rare_event_scorer(rare_event_recall, "rare_event_recall_scorer",
                                   make_rare_event_recall_scorer, tail_fraction, side, n_draws,
                                   random_state, rarity, zero_division)


make_rare_event_recall_scorer.__doc__ = (
    "Build a scorer returning :func:`rare_event_recall` on held-out data.\n"
    + _RARE_EVENT_DOC + """
    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None, *, sample_weight=None) -> float`` in [0, 1], or
        the ``zero_division`` score where recall is undefined. ``sample_weight`` weights
        the held-out rows of a supervised tail estimator (weighted recall), and counts
        those of a sampler as frequencies (see above); a sampler on several features
        without a ``rarity`` callable refuses them with a ``ValueError`` that says why.

    Raises
    ------
    ValueError
        If a parameter is out of range. The scorer raises ``NotFittedError`` for an
        unfitted estimator, ``TypeError`` for one without the methods it needs, and
        ``ValueError`` for weights of a sampler on several features without ``rarity``,
        or if the model's ``score_samples`` hold NaN, its draws NaN or
        infinity, its ``rare_events`` / ``predict_rare`` anything but one 0/1 flag per
        held-out row, or ``rarity`` anything but one finite score per row.

    See Also
    --------
    make_rare_event_precision_scorer : the share of flagged points that are rare.

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
    """)


def make_rare_event_precision_scorer(*, tail_fraction=0.05, side="both", n_draws=10,
                                     random_state=0, rarity=None, zero_division=np.nan):
    return _make_rare_event_scorer(rare_event_precision, "rare_event_precision_scorer",
                                   make_rare_event_precision_scorer, tail_fraction, side,
                                   n_draws, random_state, rarity, zero_division)


make_rare_event_precision_scorer.__doc__ = (
    """Build a scorer returning :func:`rare_event_precision` on held-out data.

    The same events and flags as :func:`make_rare_event_recall_scorer`; precision
    differs from recall only for a supervised tail estimator, whose ``predict_rare``
    flags as many rows as it sees fit (a sampler flags as many rows as are rare).
""" + _RARE_EVENT_DOC + """
    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None, *, sample_weight=None) -> float`` in [0, 1], or
        the ``zero_division`` score where precision is undefined; ``sample_weight`` as
        for :func:`make_rare_event_recall_scorer`.

    Raises
    ------
    ValueError
        If a parameter is out of range; see :func:`make_rare_event_recall_scorer` for
        what the scorer raises.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from skqegm.metrics import make_rare_event_precision_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.standard_normal((4000, 2))
    >>> gmm = GaussianMixture(random_state=0).fit(X[:2000])
    >>> scorer = make_rare_event_precision_scorer(tail_fraction=0.02)
    >>> bool(scorer(gmm, X[2000:]) > 0.8)
    True
    """)


def make_coverage_scorer(coverage=0.9, *, region="auto", n_draws=10, random_state=0):
    """Build a scorer returning minus :func:`coverage_error` at nominal ``coverage``.

    - supervised tail estimator: intervals are ``estimator.predict_interval(X, coverage)``,
      checked against the held-out ``y``; ``region`` is not used.
    - unsupervised sampler, ``region="central"`` (the default with one feature): one
      *marginal* interval for every row, the central ``coverage`` interval
      (``(1 -+ coverage) / 2`` empirical quantiles) of ``n_draws * len(X)`` fresh draws,
      checked against the held-out ``X``. Where a bound falls on an atom of the draws (a
      discrete model), the interval holds that atom in part, the share that leaves
      ``(1 - coverage) / 2`` of the draws beyond the bound, and a held-out row on the
      bound counts with that share, as the highest-density region does with a tied level
      set; a continuous model's interval is the closed interval between the quantiles.
    - unsupervised sampler, ``region="hdr"`` (the default with several features): the
      share of held-out rows inside the model's highest-density region of mass
      ``coverage``, ``{x : log p(x) >= level}`` with ``level`` the ``1 - coverage``
      quantile of ``log p`` over ``n_draws * len(X)`` fresh draws; where ``log p`` is
      constant on a region at that level (a flat or stepped density), the region counts
      in the share that brings the draws' mass to ``coverage``. ``log p`` is the
      model's ``score_samples``; for a sampler without one, a Gaussian KDE fitted on one
      half of ``min(n_draws * len(X), 2 * MAX_KDE_DRAWS)`` draws, the level set on the
      other half (a KDE overrates its own centres).

    Both ask whether ``coverage`` of the held-out data falls where the model puts
    ``coverage`` of its mass. In 1-D they differ where the model is skewed or multimodal:
    the central interval leaves ``(1 - coverage) / 2`` of the mass on each side, the
    highest-density region may leave more on the lighter tail, or be a union of intervals
    that excludes a valley between modes. For a symmetric unimodal model they are the
    same interval.

    Parameters
    ----------
    coverage : float, default=0.9
        Nominal coverage, in (0, 1): e.g. 0.9 for 90% intervals. Below 0.5 a warning asks
        whether the miscoverage ``1 - coverage`` was meant.
    region : {"auto", "central", "hdr"}, default="auto"
        The region of an unsupervised sampler: "auto" is "central" with one feature and
        "hdr" with several; "central" needs one feature.
    n_draws : int, default=10
        Model draws per held-out point for the unsupervised region (>= 1).
    random_state : int or None, default=0
        Passed to ``sample`` when it accepts one. A ``RandomState`` is refused: it
        would give every call other draws.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None, *, sample_weight=None) -> float`` in [-1, 0]; 0 is
        perfect calibration. ``sample_weight`` weights the held-out rows (a weighted share
        inside the intervals or region, as :func:`interval_coverage`); the model's
        interval or region is drawn as without weights.

    Raises
    ------
    ValueError
        If ``coverage`` is not in (0, 1), ``region`` is unknown or ``n_draws`` is not a
        positive integer. The scorer raises ``NotFittedError`` for an unfitted estimator,
        ``TypeError`` for one without ``predict_interval`` / ``sample``, and
        ``ValueError`` for ``region="central"`` on several features, or if the model's
        intervals hold NaN, have the wrong shape or a lower bound above the upper one,
        its densities hold NaN, or its draws hold NaN or infinity.

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

    In two dimensions, the highest-density region of a Gaussian mixture:

    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> X2 = np.random.RandomState(0).standard_normal((4000, 2))
    >>> gmm = GaussianMixture(random_state=0).fit(X2[:2000])
    >>> bool(-0.02 < make_coverage_scorer(0.9)(gmm, X2[2000:]) <= 0)
    True
    """
    coverage = check_coverage(coverage)
    if coverage < 0.5:
        warnings.warn(f"coverage={coverage!r} scores {coverage:.0%} intervals; coverage is the "
                      "nominal coverage (0.9 for 90% intervals), not the miscoverage "
                      f"1 - coverage = {1 - coverage:.3g}.", UserWarning,
                      stacklevel=caller_stacklevel())
    check_option(region, "region", REGIONS)
    n_draws = check_int(n_draws, "n_draws", min_value=1)

    random_state = _check_seed(random_state)
    return _bound(_coverage_score, "neg_coverage_error_scorer", make_coverage_scorer,
                  coverage=coverage, region=region, n_draws=n_draws, random_state=random_state)


def _check_weights(sample_weight, n_rows, held_out):
    """Refuse bad weights before the model is called (its draws can be slow)."""
    check_sample_weight(sample_weight, n_rows, against=f"the held-out {held_out}")


def _coverage_score(estimator, X, y, *, sample_weight=None, coverage, region, n_draws,
                    random_state):
    _check_fitted(estimator)
    if _is_supervised(estimator):
        _require(estimator, ["predict_interval"], "neg_coverage_error_scorer",
                 "a supervised estimator")
        y = check_held_out_y(y, X, "neg_coverage_error_scorer", SUPERVISED)
        _check_weights(sample_weight, y.shape[0], "y")
        intervals = _model_intervals(estimator, X, y, coverage)
        return -coverage_error(y, intervals, coverage, sample_weight=sample_weight)
    estimator, X = _sampler_space(estimator, X)
    _require(estimator, ["sample"], "neg_coverage_error_scorer", "a sampler")
    X_raw, X = _held_out(X)
    # Checked before the model draws; the weights weight the held-out rows, never the draws.
    weights = check_sample_weight(sample_weight, X.shape[0], against="the held-out X")
    if region == "hdr" or (region == "auto" and X.shape[1] > 1):
        inside = _hdr_inside(estimator, X_raw, X, coverage, n_draws, random_state)
        return -abs(float(np.average(inside, weights=weights)) - coverage)
    if X.shape[1] != 1:
        raise ValueError("region='central' builds a central interval, so an unsupervised "
                         f"sampler must have 1 feature; X has {X.shape[1]}. Use "
                         "region='hdr' (or 'auto') for several features.")
    draws = _draw_samples(estimator, n_draws * X.shape[0], 1, random_state).ravel()
    bounds = np.quantile(draws, [(1 - coverage) / 2, (1 + coverage) / 2])
    values = X.ravel()
    if not np.any((values == bounds[0]) | (values == bounds[1])):
        # No held-out row on a bound (a continuous model's): the closed interval, as ever.
        intervals = np.tile(bounds, (X.shape[0], 1))
        return -coverage_error(values, intervals, coverage, sample_weight=sample_weight)
    inside = _central_inside(values, draws, bounds, coverage)
    return -abs(float(np.average(inside, weights=weights)) - coverage)


def _central_inside(values, draws, bounds, coverage):
    """How much of each value lies inside the central interval of mass ``coverage``: 1
    strictly between the bounds, 0 outside, and a part on a bound.

    A discrete model puts an atom of its draws on a bound, and the closed interval holds
    all of it, more than ``coverage`` of the draws. As :func:`_inside` does for the tied
    level set of a highest-density region, the interval takes an atom in part: it leaves
    out of the atom at the lower bound the share that brings the draws' mass below the
    interval to ``(1 - coverage) / 2``, the same at the upper bound, and each value on a
    bound counts with the part of its atom kept. A bound that holds no draw (between two
    atoms) keeps a value on it whole, as the closed interval does.
    """
    tail = (1 - coverage) / 2
    lower, upper = bounds
    below, above = np.mean(draws < lower), np.mean(draws > upper)
    at_lower, at_upper = np.mean(draws == lower), np.mean(draws == upper)
    # The share of each bound's atom that lies beyond the interval.
    out_lower = min(1.0, max(0.0, tail - below) / at_lower) if at_lower else 0.0
    out_upper = min(1.0, max(0.0, tail - above) / at_upper) if at_upper else 0.0
    if lower == upper:  # one atom holds both bounds
        return np.where(values == lower, max(0.0, 1 - out_lower - out_upper), 0.0)
    strictly = (values > lower) & (values < upper)
    return strictly + (1 - out_lower) * (values == lower) + (1 - out_upper) * (values == upper)


def _prebuilt_doc(text, maker, weights):
    """The docstring of a prebuilt scorer: ``text`` with the Parameters and Raises that
    every scorer shares, and ``weights`` describing its ``sample_weight``."""
    shared = f"""Parameters
----------
estimator : object
    A fitted sampler or supervised tail estimator (see the module documentation).
X : array-like of shape (n_samples, n_features)
    Held-out data.
y : array-like of shape (n_samples,) or None, default=None
    Held-out targets; required for a supervised tail estimator, ignored otherwise.
sample_weight : array-like of shape (n_samples,) or None, default=None
{weights}
"""
    raises = f"""Raises
------
NotFittedError
    If ``estimator`` has ``fit`` but is not fitted.
TypeError
    If ``estimator`` lacks the methods the scorer needs.
ValueError
    If ``X``, ``y`` or ``sample_weight`` is invalid (or refused), or the model's output
    holds NaN (see :func:`{maker}`).
"""
    return text.replace("{parameters}", shared).replace("{raises}", raises)


# The prebuilt scorers are functions (their documentation and doctests are their own),
# calling a scorer built with the defaults.
_DEFAULT_TAIL_KL = make_tail_kl_scorer()
_DEFAULT_RECALL = make_rare_event_recall_scorer()


def neg_tail_kl_scorer(estimator, X, y=None, *, sample_weight=None):
    return _DEFAULT_TAIL_KL(estimator, X, y, sample_weight=sample_weight)


neg_tail_kl_scorer.__doc__ = """Minus the tail KL of held-out data vs fresh model draws.

``neg_tail_kl_scorer(estimator, X, y=None)``: :func:`make_tail_kl_scorer` with its
defaults (``tail_fraction=0.05``, ``side="both"``, ``bins=20``, ``smoothing=1e-4``, 10 model draws
per held-out point, ``random_state=0``). Greater is better; 0 is the best possible
score, but even the true model scores above 0 on a finite held-out set (about 0.2 at
1,000 points of the tail mixture, 0.02 at 20,000): compare models on the same data.

It takes no row weights (see ``sample_weight``); under metadata routing,
``neg_tail_kl_scorer.set_score_request(sample_weight=False)`` returns a copy that scores
unweighted beside weighted scorers.

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
neg_tail_kl_scorer.__doc__ = _prebuilt_doc(
    neg_tail_kl_scorer.__doc__, "make_tail_kl_scorer",
    "    Refused (a ``ValueError``): the tail region and its cells are cut from the held-out\n"
    "    rows themselves, so weights would move the region as well as the histogram, which\n"
    "    :func:`tail_kl_divergence` does not define.")
prebuilt(neg_tail_kl_scorer, _DEFAULT_TAIL_KL)


def rare_event_recall_scorer(estimator, X, y=None, *, sample_weight=None):
    return _DEFAULT_RECALL(estimator, X, y, sample_weight=sample_weight)


rare_event_recall_scorer.__doc__ = """Rare-event recall of a model on held-out data.

``rare_event_recall_scorer(estimator, X, y=None)``: :func:`make_rare_event_recall_scorer`
with its defaults (``tail_fraction=0.05`` per side and ``side="both"``, the rare events of
samplers). Greater is better. Under metadata routing,
``rare_event_recall_scorer.set_score_request(sample_weight=True)`` returns a copy that
takes the ``sample_weight`` of each fold (the function itself is left unchanged).

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
rare_event_recall_scorer.__doc__ = _prebuilt_doc(
    rare_event_recall_scorer.__doc__, "make_rare_event_recall_scorer",
    "    Weights of the held-out rows: for a supervised tail estimator, weighted recall\n"
    "    (as :func:`rare_event_recall`); for a sampler, frequencies (a row of weight 2\n"
    "    counts twice, integer weights score as the rows repeated), refused (a\n"
    "    ``ValueError``) with several features, whose default rarity cannot be weighted.")
prebuilt(rare_event_recall_scorer, _DEFAULT_RECALL)

#: The three scorers by name, for ``GridSearchCV(..., scoring=SCORERS, refit=...)``.
SCORERS = {
    "neg_tail_kl": neg_tail_kl_scorer,
    "rare_event_recall": rare_event_recall_scorer,
    # Shared by every user of the module: its set_score_request returns a copy.
    "neg_coverage_error": shared(make_coverage_scorer(0.9)),
}
