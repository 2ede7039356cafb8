import pickle
import warnings

import joblib
import numpy as np
import pytest
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from sklearn.base import clone
from sklearn.datasets import make_moons
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skqegm.quantum import EstimatorTransformer, SamplerTransformer

TRANSFORMERS = [EstimatorTransformer, SamplerTransformer]
rng = np.random.default_rng(0)
X3 = rng.uniform(-np.pi, np.pi, size=(6, 3))


@pytest.fixture(autouse=True)
def _quiet_runtime_deprecations():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.mark.parametrize("cls", TRANSFORMERS)
@pytest.mark.parametrize("encoding", ["angle", "amplitude"])
@pytest.mark.parametrize("backend", ["statevector", "aer", "ready_estimator"])
def test_exact_backends_agree_with_the_torch_simulator(cls, encoding, backend):
    if backend == "ready_estimator":
        backend = StatevectorEstimator()
    reference = cls(encoding=encoding, random_state=1).fit(X3).transform(X3)
    out = cls(encoding=encoding, backend=backend, random_state=1).fit(X3).transform(X3)
    np.testing.assert_allclose(out, reference, atol=1e-10)


def test_output_shapes_and_normalisation():
    Z = EstimatorTransformer(random_state=0).fit(X3).transform(X3)
    P = SamplerTransformer(random_state=0).fit(X3).transform(X3)
    assert Z.shape == (6, 3) and np.all(np.abs(Z) <= 1)
    assert P.shape == (6, 8)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    # <Z_0> is the probability that qubit 0 reads 0 minus that it reads 1.
    bit0 = np.arange(8) & 1
    np.testing.assert_allclose(P[:, bit0 == 0].sum(1) - P[:, bit0 == 1].sum(1), Z[:, 0],
                               atol=1e-12)


@pytest.mark.parametrize("backend", [None, "statevector", "aer"])
def test_shots_estimates_are_within_shot_noise(backend):
    shots = 20_000
    exact = EstimatorTransformer(random_state=2).fit(X3).transform(X3)
    sampled_t = EstimatorTransformer(backend=backend, shots=shots, random_state=2).fit(X3)
    sampled = sampled_t.transform(X3)
    assert not np.allclose(sampled, exact, atol=1e-6)  # real shot noise ...
    assert np.abs(sampled - exact).max() < 5 / np.sqrt(shots)  # ... of the right size
    np.testing.assert_array_equal(sampled_t.transform(X3), sampled)  # and reproducible

    probs = SamplerTransformer(backend=backend, shots=shots, random_state=2).fit(X3).transform(X3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs * shots, np.round(probs * shots), atol=1e-9)


def test_equal_rows_get_independent_shot_noise():
    X = np.tile(X3[:1], (4, 1))
    for backend in [None, "statevector", "aer"]:
        P = SamplerTransformer(backend=backend, shots=500, random_state=0).fit(X).transform(X)
        assert len({row.tobytes() for row in P}) == 4, backend


def test_ready_sampler_primitive_samples_with_its_default_shots():
    out = SamplerTransformer(backend=StatevectorSampler(default_shots=100, seed=3),
                             random_state=0).fit(X3).transform(X3)
    np.testing.assert_allclose(out * 100, np.round(out * 100), atol=1e-9)


@pytest.mark.parametrize("cls", TRANSFORMERS)
def test_a_batch_is_one_primitive_call(cls, counting_estimator, counting_sampler):
    X = rng.uniform(size=(40, 3))
    cls(backend=counting_estimator, random_state=0).fit(X).transform(X)
    assert counting_estimator.calls == 1
    cls(backend=counting_sampler, shots=10, random_state=0).fit(X).transform(X)
    assert counting_sampler.calls == 1


def test_fake_device_runs_under_its_noise_model():
    X = X3[:3]
    ideal = EstimatorTransformer(n_layers=1, random_state=0).fit(X).transform(X)
    noisy_t = EstimatorTransformer(n_layers=1, backend=FakeManilaV2(), random_state=0).fit(X)
    noisy = noisy_t.transform(X)
    np.testing.assert_array_equal(noisy_t.transform(X), noisy)  # exact noisy expectation
    deviation = np.abs(noisy - ideal).max()
    assert 1e-3 < deviation < 0.3  # noise is there, and small on 3 qubits x 1 layer

    sampled = SamplerTransformer(n_layers=1, backend=FakeManilaV2(), shots=4000,
                                 random_state=0).fit(X).transform(X)
    ideal_p = SamplerTransformer(n_layers=1, random_state=0).fit(X).transform(X)
    assert 1e-3 < np.abs(sampled - ideal_p).max() < 0.3


def test_fake_device_transpiles_once_and_caches():
    qt = EstimatorTransformer(n_layers=1, backend=FakeManilaV2(), random_state=0).fit(X3)
    qt.transform(X3)
    qt.transform(X3[:2])
    assert len(qt.runner_._prepared) == 1


def test_fitted_attributes():
    qt = EstimatorTransformer(n_layers=2, random_state=0).fit(X3)
    assert qt.n_qubits_ == 3 and qt.n_features_in_ == 3
    assert qt.circuit_.num_qubits == 3
    assert [p.name for p in qt.input_params_] == ["x[0]", "x[1]", "x[2]"]
    assert len(qt.weight_params_) == qt.weights_.size == 12
    assert np.all((qt.weights_ >= 0) & (qt.weights_ < 2 * np.pi))
    amp = SamplerTransformer(encoding="amplitude").fit(np.ones((2, 5)))
    assert amp.n_qubits_ == 3 and len(amp.input_params_) == 7
    assert amp.get_feature_names_out()[5] == "p_101"


def test_given_weights_are_used_and_random_weights_are_reproducible():
    weights = np.linspace(0, 1, 12)
    qt = EstimatorTransformer(weights=weights).fit(X3)
    np.testing.assert_array_equal(qt.weights_, weights)
    a = EstimatorTransformer(random_state=5).fit(X3).weights_
    b = EstimatorTransformer(random_state=5).fit(X3).weights_
    c = EstimatorTransformer(random_state=6).fit(X3).weights_
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_feature_names_follow_pandas_input():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X3, columns=["a", "b", "c"])
    qt = EstimatorTransformer(random_state=0).fit(df)
    np.testing.assert_array_equal(qt.feature_names_in_, ["a", "b", "c"])
    assert qt.get_feature_names_out().tolist() == ["z_0", "z_1", "z_2"]
    with pytest.raises(ValueError, match="input_features"):
        qt.get_feature_names_out(["x", "y", "z"])


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_input_is_rejected(bad_value):
    X = X3.copy()
    X[1, 1] = bad_value
    with pytest.raises(ValueError, match="NaN|infinity"):
        EstimatorTransformer().fit(X)
    fitted = EstimatorTransformer().fit(X3)
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.transform(X)


@pytest.mark.parametrize(
    "params, X, match",
    [
        ({"n_layers": 0}, X3, r"'n_layers' parameter of EstimatorTransformer must be an int "
                              r"in the range \[1, inf\)"),
        ({"n_layers": 1.5}, X3, "'n_layers' parameter .* Got 1.5 instead"),
        ({"backend": "qpu"}, X3, "'backend' parameter of EstimatorTransformer must be None, a "
                                 "str among .*'statevector'.* an instance of '.*BackendV2'"),
        ({"backend": 42}, X3, "'backend' parameter .* Got 42 instead"),
        ({"shots": 0}, X3, "'shots' parameter .* Got 0 instead"),
        ({"shots": -5}, X3, "'shots' parameter .* Got -5 instead"),
        ({"encoding": "basis"}, X3, "'encoding' parameter .* Got 'basis' instead"),
        ({"weights": np.zeros(5)}, X3, "weights must hold 12 finite angles"),
        ({}, np.zeros((2, 21)), "exact backend simulates at most 20"),
        ({"encoding": "amplitude"}, np.array([[1.0, 2.0], [0.0, 0.0]]), "non-zero norm"),
    ],
)
def test_bad_parameters_raise_clear_errors(params, X, match):
    with pytest.raises(ValueError, match=match):
        EstimatorTransformer(**params).fit(X)


def test_wrong_number_of_features_at_transform():
    qt = EstimatorTransformer().fit(X3)
    with pytest.raises(ValueError, match="features"):
        qt.transform(X3[:, :2])


def test_unfitted_use_raises_not_fitted():
    with pytest.raises(NotFittedError):
        SamplerTransformer().transform(X3)


@pytest.mark.parametrize("backend", [None, "aer", FakeManilaV2()])
def test_clone_pickle_and_joblib_round_trips(backend, tmp_path):
    qt = EstimatorTransformer(n_layers=1, backend=backend, random_state=0).fit(X3)
    expected = qt.transform(X3)
    restored = pickle.loads(pickle.dumps(qt))
    np.testing.assert_array_equal(restored.transform(X3), expected)
    joblib.dump(qt, tmp_path / "qt.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "qt.joblib").transform(X3), expected)
    np.testing.assert_array_equal(clone(qt).fit(X3).transform(X3), expected)


def test_inside_a_pipeline_and_grid_search():
    X, y = make_moons(200, noise=0.1, random_state=0)
    pipe = make_pipeline(
        MinMaxScaler((0, np.pi)),
        SamplerTransformer(random_state=0),
        LogisticRegression(),
    )
    search = GridSearchCV(pipe, {"samplertransformer__n_layers": [1, 2]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.6
    assert search.predict(X).shape == (200,)
