"""Calling a sampling method with a seed, whatever its signature.

Samplers disagree on how they are seeded: skqegm's ``sample(n, random_state=None)`` and
:meth:`~sklearn.neighbors.KernelDensity.sample` take a ``random_state``, while
:meth:`~sklearn.mixture.GaussianMixture.sample` takes none and draws from the estimator's
own ``random_state``. Code that draws from any of them (the scorers, the pipeline's
``sample``) passes its seed through :func:`call_with_random_state`.

skqegm's own draw methods share one rule, :func:`draw_random_state`: a method's
``random_state=None`` means the estimator's ``random_state`` (as in
:meth:`~sklearn.mixture.GaussianMixture.sample`).
"""

import inspect

from ._validation import check_random_state


def draw_random_state(estimator, random_state):
    """The ``RandomState`` of a draw method (``sample``, ``sample_y``) of ``estimator``.

    The method's own ``random_state`` when it is given, else the estimator's
    ``random_state`` parameter (None for an estimator without one): an estimator built
    with an int draws the same at every call, one built with None draws afresh, and a
    ``RandomState`` instance, the method's or the estimator's, advances at each call.
    """
    if random_state is None:
        random_state = getattr(estimator, "random_state", None)
    return check_random_state(random_state)


def accepts_random_state(method):
    """Whether ``method`` has a parameter named ``random_state``.

    A ``**kwargs`` catch-all does not count: it may forward the seed to something that
    rejects it. A callable whose signature cannot be read counts as not accepting one.
    """
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    parameter = parameters.get("random_state")
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def call_with_random_state(method, *args, random_state=None, **kwargs):
    """``method(*args, **kwargs, random_state=random_state)`` if it accepts a seed.

    Otherwise ``method(*args, **kwargs)``: ``random_state`` is dropped, and the draws are
    as reproducible as the method makes them.
    """
    if accepts_random_state(method):
        return method(*args, random_state=random_state, **kwargs)
    return method(*args, **kwargs)


def has_inverse(step):
    """Whether ``inverse_transform`` of a pipeline step maps its output back to its input.

    Steps without the method have none, and so has a
    :class:`~sklearn.preprocessing.FunctionTransformer` given a ``func`` but no
    ``inverse_func``: its ``inverse_transform`` is then the identity, which would leave
    draws in the transformed units (the logarithms of the data, say) without a word. A
    feature selector (``VarianceThreshold``, ``SelectKBest``, ...) that dropped columns
    has none either: its ``inverse_transform`` fills them with zeros, not their values.
    A nested pipeline has one when each of its steps has. ``"passthrough"`` and ``None``
    are the identity both ways.
    """
    from sklearn.feature_selection import SelectorMixin
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return True
    if isinstance(step, Pipeline):
        return all(has_inverse(inner) for _, inner in step.steps)
    if isinstance(step, FunctionTransformer):
        return step.func is None or step.inverse_func is not None
    if isinstance(step, SelectorMixin):
        try:
            return bool(all(step.get_support()))
        except ValueError:  # not fitted (NotFittedError is a ValueError)
            return False
    return hasattr(step, "inverse_transform")


def is_passthrough(step):
    """Whether a pipeline step is skipped (``None`` or ``"passthrough"``)."""
    return step is None or (isinstance(step, str) and step == "passthrough")


def pipeline_hint(estimator, methods):
    """Advice for a scikit-learn ``Pipeline`` whose last step has ``methods`` it hides.

    skqegm's :class:`~skqegm.pipeline.Pipeline` (the same class name) exposes them: an
    error saying only "Pipeline has no predict_var" does not tell the two apart. Empty
    when ``estimator`` is no such pipeline.
    """
    from sklearn.pipeline import Pipeline

    if not (isinstance(estimator, Pipeline) and estimator.steps):
        return ""
    hidden = [m for m in methods
              if not hasattr(estimator, m) and hasattr(estimator.steps[-1][1], m)]
    if not hidden:
        return ""
    return (f" Its last step has {', '.join(hidden)}, which a sklearn.pipeline.Pipeline "
            "hides; build it with skqegm.pipeline.make_pipeline (or "
            "skqegm.pipeline.Pipeline), which exposes them.")
