"""Drawing samples through a scikit-learn Pipeline."""

import numpy as np
from sklearn.pipeline import Pipeline

from ..utils._validation import check_int


def sample_pipeline(pipeline, n_samples, random_state=None):
    """Draw from a fitted Pipeline whose last step is a sampler, in the data's own units.

    The last step's ``sample`` draws in the space it was fitted on; the draws are then
    mapped back through the preceding steps' ``inverse_transform``, last step first
    (``Pipeline`` itself exposes ``score_samples`` but not ``sample``).

    Parameters
    ----------
    pipeline : Pipeline
        Fitted; every step before the last needs ``inverse_transform``.
    n_samples : int
        Number of samples, >= 1.
    random_state : int, RandomState instance or None, default=None
        Passed to the sampler's ``sample``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Samples in the units of the data the pipeline was fitted on.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skqegm import QEGMSampler
    >>> from skqegm.datasets import make_tail_mixture
    >>> from skqegm.models import sample_pipeline
    >>> X = 100 + 10 * make_tail_mixture(1000, random_state=0)[0]
    >>> pipe = make_pipeline(StandardScaler(), QEGMSampler(max_epochs=3, random_state=0)).fit(X)
    >>> draws = sample_pipeline(pipe, 2000, random_state=0)
    >>> bool(abs(draws.mean() - X.mean()) < 2)
    True
    """
    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"pipeline must be a sklearn Pipeline; got {type(pipeline).__name__}.")
    n_samples = check_int(n_samples, "n_samples", min_value=1)
    *steps, (last_name, sampler) = [(n, s) for n, s in pipeline.steps
                                    if s not in (None, "passthrough")]
    if not hasattr(sampler, "sample"):
        raise TypeError(f"The last step {last_name!r} ({type(sampler).__name__}) has no sample "
                        "method; it must be a sampler.")
    for name, step in steps:
        if not hasattr(step, "inverse_transform"):
            raise TypeError(f"Step {name!r} ({type(step).__name__}) has no inverse_transform, "
                            "so draws cannot be mapped back through it.")
    draws = sampler.sample(n_samples, random_state=random_state)
    if isinstance(draws, tuple):  # GaussianMixture returns (X, labels)
        draws = draws[0]
    for _, step in reversed(steps):
        draws = step.inverse_transform(draws)
    return np.asarray(draws)
