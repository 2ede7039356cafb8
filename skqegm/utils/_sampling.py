"""Calling a sampling method with a seed, whatever its signature.

Samplers disagree on how they are seeded: skqegm's ``sample(n, random_state=None)`` and
:meth:`~sklearn.neighbors.KernelDensity.sample` take a ``random_state``, while
:meth:`~sklearn.mixture.GaussianMixture.sample` takes none and draws from the estimator's
own ``random_state``. Code that draws from any of them (the scorers, the pipeline's
``sample``) passes its seed through :func:`call_with_random_state`.
"""

import inspect


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
