"""The input contract, property-based: a clear error naming the culprit, or a finite answer.

Hypothesis generates awkward data (extreme magnitudes, ties, constant columns, tiny and
empty inputs, NaN/inf, other dtypes) and parameters at and beyond their bounds, and every
estimator must either refuse with a ``ValueError`` / ``TypeError`` that names the input or
parameter, or fit and return finite results of the right shape: never NaN from a
successful fit, never a traceback from inside numpy or torch, never a hang (each example
runs under a time limit). Derandomised, with a fixed number of examples, for CI.
"""

import contextlib
import signal
import traceback
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.baselines import GPDTailSampler, StudentTSampler, VAESampler

TINY = dict(hidden_layer_sizes=(4,), max_epochs=2, random_state=0)
SAMPLERS = {
    "QEGMSampler": lambda: QEGMSampler(n_qubits=2, n_layers=1, **TINY),
    "twin": lambda: QEGMSampler(n_qubits=2, latent="gaussian", **TINY),
    "VAESampler": lambda: VAESampler(**TINY),
    "StudentTSampler": lambda: StudentTSampler(max_iter=20),
    "GPDTailSampler": lambda: GPDTailSampler(),
}
CONTRACT = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
# Words of a clear message about the data: the argument's name or what is wrong with it.
DATA_WORDS = ("X", "y", "sample", "feature", "column", "NaN", "infinity", "finite", "array",
              "dtype", "numeric", "constant", "rows", "tail", "rare")
SECONDS = 20


@contextlib.contextmanager
def time_limit(seconds=SECONDS):
    """Fail an example that runs longer than ``seconds`` (a hang, not a slow fit)."""

    def expire(signum, frame):
        raise TimeoutError(f"the call ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def assert_clear(exc, words):
    """A refusal is clear when it is a ValueError / TypeError raised by our code or by
    scikit-learn's validation, and its message names one of ``words``."""
    assert isinstance(exc, (ValueError, TypeError)), repr(exc)
    message = str(exc)
    assert any(word in message for word in words), message
    frame = traceback.extract_tb(exc.__traceback__)[-1].filename
    assert "/skqegm/" in frame or "/sklearn/" in frame, (frame, message)


@st.composite
def awkward_arrays(draw, max_rows=40, max_columns=2):
    """2-D data with the awkward cases mixed into ordinary normal values."""
    n_rows = draw(st.integers(0, max_rows))
    n_columns = draw(st.integers(1, max_columns))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(size=(n_rows, n_columns))
    special = st.sampled_from([0.0, 1e155, -1e155, 1e300, -1e300, 1e-300, 1e10, np.nan,
                               np.inf, -np.inf, 7.0])
    for _ in range(draw(st.integers(0, 3))):
        if n_rows:
            X[draw(st.integers(0, n_rows - 1)), draw(st.integers(0, n_columns - 1))] = \
                draw(special)
    if n_rows and draw(st.booleans()):  # a constant column, or ties
        X[:, draw(st.integers(0, n_columns - 1))] = draw(st.sampled_from([0.0, 3.0, 1e155]))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, object]))
    with np.errstate(invalid="ignore", over="ignore"):
        if dtype is np.int64:
            X = np.where(np.isfinite(X) & (np.abs(X) < 1e15), X, 0).astype(np.int64)
        else:
            X = X.astype(dtype)
    return X


def fit_quietly(estimator, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and small-tail warnings are allowed
        return estimator.fit(*args)


@pytest.mark.parametrize("name", list(SAMPLERS))
@settings(CONTRACT, max_examples=25)
@given(X=awkward_arrays())
def test_samplers_refuse_clearly_or_return_finite_results(name, X):
    model = SAMPLERS[name]()
    with time_limit():
        try:
            fit_quietly(model, X)
        except (ValueError, TypeError) as exc:
            assert_clear(exc, DATA_WORDS)
            return
        draws = model.sample(50, random_state=0)
        assert draws.shape == (50, X.shape[1])
        assert np.all(np.isfinite(draws)), draws
        log_density = model.score_samples(np.asarray(X[:5], dtype=np.float64))
        assert log_density.shape == (min(5, len(X)),)
        assert not np.any(np.isnan(log_density))


@settings(CONTRACT, max_examples=40)
@given(Xy=awkward_arrays(max_rows=60, max_columns=3))
def test_tail_risk_refuses_clearly_or_predicts_finite_values(Xy):
    X, y = Xy[:, :-1], Xy[:, -1]
    assume(X.shape[1] >= 1)
    model = TailRiskEstimator(n_qubits=2, n_layers=1, **TINY)
    with time_limit():
        try:
            fit_quietly(model, X, y)
        except (ValueError, TypeError) as exc:
            assert_clear(exc, DATA_WORDS)
            return
        X_test = np.asarray(X[:5], dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # extrapolation warnings are allowed
            predictions = [model.predict(X_test), model.predict_var(X_test, 0.99),
                           model.predict_es(X_test, 0.99), model.predict_tail_proba(X_test)]
        for values in predictions:
            assert values.shape == (len(X_test),)
            assert np.all(np.isfinite(values)), values


NUMBERS = st.sampled_from([-(2**40), -1, 0, 1, 2, 3, 21, 2**40, -1.5, 0.0, 1e-9, 0.5,
                           1e3, 1e300, np.nan, np.inf, "1", None, True])
PARAMETERS = ["n_qubits", "n_layers", "learning_rate", "batch_size", "max_epochs",
              "noise_scale", "tail_fraction", "random_state", "validation_fraction", "tol"]


@settings(CONTRACT, max_examples=60)
@given(parameter=st.sampled_from(PARAMETERS), value=NUMBERS)
def test_parameters_beyond_their_bounds_are_named(parameter, value):
    X = np.random.default_rng(0).standard_t(4, size=(120, 1))
    model = QEGMSampler(n_qubits=2, n_layers=1, **TINY).set_params(**{parameter: value})
    with time_limit():
        try:
            fit_quietly(model, X)
        except (ValueError, TypeError) as exc:
            assert_clear(exc, (parameter,))
            return
    assert np.all(np.isfinite(model.sample(20, random_state=0)))


@CONTRACT
@given(n_samples=st.sampled_from([0, -1, 1.5, "3", None, 10**13]),
       random_state=st.sampled_from([-1, 2**40, "a", 0]))
def test_sampling_arguments_are_named(n_samples, random_state):
    model = SAMPLERS["twin"]()
    fit_quietly(model, np.random.default_rng(0).normal(size=(60, 1)))
    with time_limit():
        with pytest.raises((ValueError, TypeError)) as caught:
            model.sample(n_samples, random_state=random_state)
    assert_clear(caught.value, ("n_samples", "random_state"))
