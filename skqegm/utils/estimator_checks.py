"""Checks of the sampler protocol, on top of scikit-learn's estimator checks.

scikit-learn's checks never call ``sample``. A *sampler* here is an estimator with
``fit(X)`` and ``sample(n_samples=1, random_state=None)`` returning an array of shape
``(n_samples, n_features_in_)``, and optionally ``score_samples`` / ``score``. Run every
check on an estimator with :func:`check_sampler`, or one pytest case per check with
:func:`parametrize_with_sampler_checks`.
"""

import functools
import io
import pickle

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

# Small data with two features and a rare cluster, so that every sampler can fit it.
_N_SAMPLES = 120


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(_N_SAMPLES, 2))
    X[:6] += 4.0
    return X


def _fitted(sampler):
    return clone(sampler).fit(_data())


def check_sampler_not_fitted(name, sampler):
    """``sample`` (and ``score_samples``) before ``fit`` raise ``NotFittedError``.

    Parameters
    ----------
    name : str
        The sampler's name, used in the failure messages.
    sampler : estimator
        An unfitted sampler; it is cloned, never changed.

    Raises
    ------
    AssertionError
        If the sampler fails the check.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import check_sampler_not_fitted
    >>> check_sampler_not_fitted("GPDTailSampler", GPDTailSampler())
    >>> class Careless(GPDTailSampler):
    ...     def sample(self, n_samples=1, random_state=None):
    ...         return np.zeros((n_samples, 2))
    >>> check_sampler_not_fitted("Careless", Careless())
    Traceback (most recent call last):
        ...
    AssertionError: Careless did not raise NotFittedError before fit.
    """
    sampler = clone(sampler)
    methods = [lambda: sampler.sample(2, random_state=0)]
    if hasattr(sampler, "score_samples"):
        methods.append(lambda: sampler.score_samples(_data()))
    for method in methods:
        try:
            method()
        except NotFittedError:
            continue
        raise AssertionError(f"{name} did not raise NotFittedError before fit.")


def check_sampler_sample_shape(name, sampler):
    """``sample(n)`` is a finite float array ``(n, n_features_in_)``; ``sample()`` has one row.

    The sampler is fitted on a small two-feature data set.

    Parameters
    ----------
    name : str
        The sampler's name, used in the failure messages.
    sampler : estimator
        An unfitted sampler; it is cloned, never changed.

    Raises
    ------
    AssertionError
        If the sampler fails the check.

    Examples
    --------
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import check_sampler_sample_shape
    >>> check_sampler_sample_shape("GPDTailSampler", GPDTailSampler())
    >>> class Flat(GPDTailSampler):
    ...     def sample(self, n_samples=1, random_state=None):
    ...         return super().sample(n_samples, random_state).ravel()
    >>> try:
    ...     check_sampler_sample_shape("Flat", Flat())
    ... except AssertionError as exc:
    ...     print(str(exc).splitlines()[0])
    Flat.sample(7) has shape (14,), expected (7, 2)
    """
    fitted = _fitted(sampler)
    X = fitted.sample(7, random_state=0)
    assert isinstance(X, np.ndarray), f"{name}.sample returned {type(X).__name__}, not ndarray"
    assert X.shape == (7, 2), f"{name}.sample(7) has shape {X.shape}, expected (7, 2)"
    assert X.dtype.kind == "f", f"{name}.sample returned dtype {X.dtype}, not a float dtype"
    assert np.all(np.isfinite(X)), f"{name}.sample returned non-finite values"
    assert fitted.sample().shape == (1, 2), f"{name}.sample() must return one row"


def check_sampler_reproducible(name, sampler):
    """The same ``random_state`` gives the same draws; another one gives other draws.

    Parameters
    ----------
    name : str
        The sampler's name, used in the failure messages.
    sampler : estimator
        An unfitted sampler; it is cloned, never changed.

    Raises
    ------
    AssertionError
        If the sampler fails the check.

    Examples
    --------
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import check_sampler_reproducible
    >>> check_sampler_reproducible("GPDTailSampler", GPDTailSampler())
    >>> class Unseeded(GPDTailSampler):
    ...     def sample(self, n_samples=1, random_state=None):
    ...         return super().sample(n_samples)  # ignores random_state
    >>> try:
    ...     check_sampler_reproducible("Unseeded", Unseeded())
    ... except AssertionError as exc:
    ...     print("random_state=0) is not reproducible" in str(exc))
    True
    """
    fitted = _fitted(sampler)
    first = fitted.sample(50, random_state=0)
    np.testing.assert_array_equal(first, fitted.sample(50, random_state=0),
                                  err_msg=f"{name}.sample(random_state=0) is not reproducible")
    assert not np.array_equal(first, fitted.sample(50, random_state=1)), (
        f"{name}.sample gives the same draws for random_state=0 and 1"
    )


def check_sampler_fit_reproducible(name, sampler):
    """Two fits with the same ``random_state`` sample identically.

    Both fitted samplers draw with ``random_state=0``; the draws must agree to a relative
    tolerance of 1e-6.

    Parameters
    ----------
    name : str
        The sampler's name, used in the failure messages.
    sampler : estimator
        An unfitted sampler with a fixed ``random_state`` (if it has one); it is cloned,
        never changed.

    Raises
    ------
    AssertionError
        If the sampler fails the check.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import check_sampler_fit_reproducible
    >>> check_sampler_fit_reproducible("GPDTailSampler", GPDTailSampler())
    >>> class Jittery(GPDTailSampler):
    ...     def fit(self, X, y=None):  # fits on jittered data, from an unseeded generator
    ...         return super().fit(X + np.random.default_rng().normal(size=X.shape))
    >>> try:
    ...     check_sampler_fit_reproducible("Jittery", Jittery())
    ... except AssertionError as exc:
    ...     print("two fits with one random_state differ" in str(exc))
    True
    """
    first = _fitted(sampler).sample(20, random_state=0)
    second = _fitted(sampler).sample(20, random_state=0)
    np.testing.assert_allclose(first, second, rtol=1e-6, atol=1e-9,
                               err_msg=f"{name}: two fits with one random_state differ")


def check_sampler_n_features_in(name, sampler):
    """``n_features_in_`` is set, and scoring data with other features is a ``ValueError``.

    The second part runs only if the sampler has ``score_samples``.

    Parameters
    ----------
    name : str
        The sampler's name, used in the failure messages.
    sampler : estimator
        An unfitted sampler; it is cloned, never changed.

    Raises
    ------
    AssertionError
        If the sampler fails the check.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import check_sampler_n_features_in
    >>> check_sampler_n_features_in("GPDTailSampler", GPDTailSampler())
    >>> class Unchecked(GPDTailSampler):
    ...     def score_samples(self, X):
    ...         return np.zeros(len(X))
    >>> check_sampler_n_features_in("Unchecked", Unchecked())
    Traceback (most recent call last):
        ...
    AssertionError: Unchecked.score_samples accepted 3 features after a fit on 2.
    """
    fitted = _fitted(sampler)
    assert fitted.n_features_in_ == 2, f"{name}.n_features_in_ is {fitted.n_features_in_}, not 2"
    if hasattr(fitted, "score_samples"):
        try:
            fitted.score_samples(np.zeros((3, 3)))
        except ValueError:
            return
        raise AssertionError(f"{name}.score_samples accepted 3 features after a fit on 2.")


def check_sampler_invalid_n_samples(name, sampler):
    """``sample(0)`` and ``sample(-1)`` raise a ``ValueError`` naming ``n_samples``.

    Parameters
    ----------
    name : str
        The sampler's name, used in the failure messages.
    sampler : estimator
        An unfitted sampler; it is cloned, never changed.

    Raises
    ------
    AssertionError
        If the sampler fails the check.

    Examples
    --------
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import check_sampler_invalid_n_samples
    >>> check_sampler_invalid_n_samples("GPDTailSampler", GPDTailSampler())
    >>> class Lenient(GPDTailSampler):
    ...     def sample(self, n_samples=1, random_state=None):
    ...         return super().sample(max(n_samples, 1), random_state)
    >>> check_sampler_invalid_n_samples("Lenient", Lenient())
    Traceback (most recent call last):
        ...
    AssertionError: Lenient.sample(0) did not raise ValueError.
    """
    fitted = _fitted(sampler)
    for bad in (0, -1):
        try:
            fitted.sample(bad)
        except ValueError as exc:
            assert "n_samples" in str(exc), f"{name}: the error does not name n_samples: {exc}"
            continue
        raise AssertionError(f"{name}.sample({bad}) did not raise ValueError.")


def check_sampler_pickle(name, sampler):
    """A pickled and unpickled fitted sampler draws exactly the same samples.

    Parameters
    ----------
    name : str
        The sampler's name, used in the failure messages.
    sampler : estimator
        An unfitted sampler; it is cloned, never changed.

    Raises
    ------
    AssertionError
        If the sampler fails the check.

    Examples
    --------
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import check_sampler_pickle
    >>> check_sampler_pickle("GPDTailSampler", GPDTailSampler())
    """
    fitted = _fitted(sampler)
    buffer = io.BytesIO()
    pickle.dump(fitted, buffer)
    buffer.seek(0)
    restored = pickle.load(buffer)
    np.testing.assert_array_equal(fitted.sample(20, random_state=0),
                                  restored.sample(20, random_state=0),
                                  err_msg=f"{name} samples differently after pickling")


def check_sampler_score(name, sampler):
    """``score(X)`` is the mean of ``score_samples(X)``, and both are finite.

    Skipped (it passes) when the sampler has no ``score_samples``.

    Parameters
    ----------
    name : str
        The sampler's name, used in the failure messages.
    sampler : estimator
        An unfitted sampler; it is cloned, never changed.

    Raises
    ------
    AssertionError
        If the sampler fails the check.

    Examples
    --------
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import check_sampler_score
    >>> check_sampler_score("GPDTailSampler", GPDTailSampler())
    >>> class Summed(GPDTailSampler):
    ...     def score(self, X, y=None):
    ...         return float(self.score_samples(X).sum())
    >>> try:
    ...     check_sampler_score("Summed", Summed())
    ... except AssertionError as exc:
    ...     print("score is not the mean of score_samples" in str(exc))
    True
    """
    if not hasattr(sampler, "score_samples"):
        return
    assert hasattr(sampler, "score"), f"{name} has score_samples but no score"
    fitted = _fitted(sampler)
    X = _data()
    log_density = fitted.score_samples(X)
    assert log_density.shape == (len(X),), f"{name}.score_samples has shape {log_density.shape}"
    assert np.all(np.isfinite(log_density)), f"{name}.score_samples is not finite"
    np.testing.assert_allclose(fitted.score(X), log_density.mean(), rtol=1e-7,
                               err_msg=f"{name}.score is not the mean of score_samples")


SAMPLER_CHECKS = (
    check_sampler_not_fitted,
    check_sampler_sample_shape,
    check_sampler_reproducible,
    check_sampler_fit_reproducible,
    check_sampler_n_features_in,
    check_sampler_invalid_n_samples,
    check_sampler_pickle,
    check_sampler_score,
)


def sampler_checks(sampler):
    """Yield every sampler check, each a callable ``check(sampler)``.

    Parameters
    ----------
    sampler : estimator
        The sampler to be checked; only its class name is used here, in the checks'
        failure messages.

    Yields
    ------
    check : functools.partial
        A check function of this module with its ``name`` argument bound; call it with
        the sampler.

    See Also
    --------
    check_sampler : Run every check.
    parametrize_with_sampler_checks : One pytest case per check.

    Examples
    --------
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import sampler_checks
    >>> sampler = GPDTailSampler()
    >>> checks = list(sampler_checks(sampler))
    >>> len(checks), checks[0].func.__name__, checks[0].args
    (8, 'check_sampler_not_fitted', ('GPDTailSampler',))
    >>> for check in checks:
    ...     check(sampler)
    """
    for check in SAMPLER_CHECKS:
        yield functools.partial(check, type(sampler).__name__)


def check_sampler(sampler):
    """Run every sampler check on ``sampler``; the first failure raises.

    Parameters
    ----------
    sampler : estimator
        An unfitted sampler with a fixed ``random_state`` (the checks compare fits).

    Examples
    --------
    >>> from skqegm import QEGMSampler
    >>> from skqegm.utils.estimator_checks import check_sampler
    >>> check_sampler(QEGMSampler(max_epochs=2, random_state=0))
    """
    for check in sampler_checks(sampler):
        check(sampler)


def parametrize_with_sampler_checks(samplers):
    """A pytest decorator with one case per (sampler, check), like sklearn's.

    The decorated test takes the arguments ``estimator`` and ``check`` and calls
    ``check(estimator)``.

    Parameters
    ----------
    samplers : iterable of estimator
        Unfitted samplers, each with a fixed ``random_state`` (if it has one).

    Returns
    -------
    decorator : pytest.MarkDecorator
        ``pytest.mark.parametrize("estimator, check", ...)`` with the ids
        ``"<sampler repr>-<check name>"``.

    See Also
    --------
    sampler_checks : The checks of one sampler.

    Examples
    --------
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.utils.estimator_checks import parametrize_with_sampler_checks
    >>> @parametrize_with_sampler_checks([GPDTailSampler()])
    ... def test_sampler(estimator, check):
    ...     check(estimator)
    >>> mark = test_sampler.pytestmark[0]
    >>> mark.args[0], len(mark.args[1]), mark.kwargs["ids"][0]
    ('estimator, check', 8, 'GPDTailSampler()-check_sampler_not_fitted')
    >>> for estimator, check in mark.args[1]:
    ...     test_sampler(estimator, check)
    """
    import pytest

    cases = [(sampler, check) for sampler in samplers for check in sampler_checks(sampler)]
    ids = [f"{sampler!r}-{check.func.__name__}" for sampler, check in cases]
    return pytest.mark.parametrize("estimator, check", cases, ids=ids)
