import pickle
import warnings

import joblib
import numpy as np
import pytest
import sklearn
import torch
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from sklearn.base import clone
from sklearn.datasets import make_moons
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skqegm.exceptions import MemoryLimitError
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
        # Booleans are not integers: shots=True ran 1 shot on the exact backend.
        ({"shots": True}, X3, r"'shots' parameter .* \(not a bool\) or None\. Got True"),
        ({"n_layers": np.True_}, X3, r"'n_layers' parameter .* \(not a bool\)"),
        ({"max_retries": True}, X3, r"'max_retries' parameter .* \(not a bool\)"),
        ({"max_shots": False}, X3, r"'max_shots' parameter .* \(not a bool\)"),
        ({"job_timeout": True}, X3, r"'job_timeout' parameter .* \(not a bool\)"),
        # numpy's multinomial failed with an OverflowError (C long) on the exact backend.
        ({"shots": 2**63}, X3, r"'shots' parameter .* range \[1, 9223372036854775807\]"),
        ({"encoding": "basis"}, X3, "'encoding' parameter .* Got 'basis' instead"),
        ({"weights": np.zeros(5)}, X3, "weights must hold 12 finite angles"),
        # Angles are not booleans: a mask of True drew 1-radian rotations.
        ({"weights": np.ones(12, dtype=bool)}, X3, "weights must hold 12 finite angles"),
        ({"weights": [True] + [0.0] * 11}, X3, "weights must hold 12 finite angles"),
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


# -- memory: chunked exact path, refusals, width checks ---------------------------------------

@pytest.mark.parametrize("cls", TRANSFORMERS)
@pytest.mark.parametrize("shots", [None, 50])
def test_exact_rows_in_chunks_equal_one_batch(cls, shots):
    X = rng.uniform(-np.pi, np.pi, size=(60, 4))
    qt = cls(n_layers=2, shots=shots, random_state=4).fit(X)
    W = np.random.default_rng(5).uniform(0, 2 * np.pi, size=(3, qt.weights_.size))
    whole, whole_sets = qt.transform(X), qt.evaluate(X, W)
    with sklearn.config_context(working_memory=0.005):  # a few rows per chunk
        chunked, chunked_sets = qt.transform(X), qt.evaluate(X, W)
    if shots is not None and cls is SamplerTransformer:
        # The shots are drawn in the order of one draw: the same counts.
        np.testing.assert_array_equal(chunked, whole)
        np.testing.assert_array_equal(chunked_sets, whole_sets)
    else:  # products of other shapes may round differently in the last bit
        np.testing.assert_allclose(chunked, whole, atol=1e-14, rtol=0)
        np.testing.assert_allclose(chunked_sets, whole_sets, atol=1e-14, rtol=0)


def test_exact_transform_that_cannot_fit_is_refused(monkeypatch):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    qt = SamplerTransformer(n_layers=1, random_state=0).fit(np.zeros((1, 16)))
    with pytest.raises(MemoryLimitError, match=r"SamplerTransformer \(exact backend, "
                                               r"n_qubits=16\) on 2000 rows needs an "
                                               r"estimated 1\.\d+ GiB"):
        qt.transform(np.zeros((2000, 16)))
    # A small output is computed in chunks; only a chunk of one row that cannot fit (here
    # the probabilities of 64 weight sets at 20 qubits) is refused.
    with pytest.raises(MemoryLimitError, match=r"on 3 rows x 64 weight sets"):
        EstimatorTransformer(n_layers=1, random_state=0).fit(np.zeros((1, 20))).evaluate(
            np.zeros((3, 20)), np.zeros((64, 40)))


def test_qiskit_widths_are_refused_at_fit(monkeypatch):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    with pytest.raises(MemoryLimitError, match=r"fit on X with 30 features \(angle encoding\) "
                                               r"simulates n_qubits=30 .*'aer'"):
        SamplerTransformer(backend="aer", shots=10).fit(np.zeros((2, 30)))
    with pytest.raises(MemoryLimitError, match=r"one row at n_qubits=26"):  # 2**26 outputs
        SamplerTransformer(backend=StatevectorSampler()).fit(np.zeros((2, 26)))
    qt = SamplerTransformer(backend=StatevectorSampler()).fit(np.zeros((2, 22)))
    with pytest.raises(MemoryLimitError, match=r"get_feature_names_out on n_qubits=22 "
                                               r"\(4,194,304 names\)"):
        monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.2")
        qt.get_feature_names_out()


def test_sampled_probabilities_over_too_many_outcomes_are_refused(monkeypatch):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    qt = SamplerTransformer(n_layers=1, backend="aer", shots=10, random_state=0)
    qt.fit(np.zeros((2, 20)))
    with pytest.raises(MemoryLimitError, match=r"probabilities of 100 rows on n_qubits=20"):
        qt.transform(np.zeros((100, 20)))


def test_more_features_than_device_qubits_is_a_clear_error():
    with pytest.raises(ValueError, match=r"X with 6 features \(angle encoding\) needs "
                                         r"n_qubits=6, more than the 5 qubits of device "
                                         r"'fake_manila'"):
        EstimatorTransformer(backend=FakeManilaV2()).fit(rng.uniform(size=(3, 6)))
    amp = EstimatorTransformer(n_layers=1, encoding="amplitude", backend=FakeManilaV2(),
                               random_state=0).fit(rng.uniform(size=(3, 6)))
    assert amp.n_qubits_ == 3  # the amplitude encoding fits


@pytest.mark.parametrize("call, match", [
    (lambda qt, W: qt.run_pairs(X3 * np.nan, W), "X and weights must be finite"),
    (lambda qt, W: qt.sample_outcomes(X3[:, :2], W), r"X must have shape \(n_rows, 3\)"),
    (lambda qt, W: qt.sample_outcomes(X3, W[:4]), r"weights must have shape \(n_rows, 12\) "
                                                  r"with the n_rows of X \(6\)"),
    (lambda qt, W: qt.sample_outcomes(X3, W, seed=-1), "seed must be None or an integer"),
    (lambda qt, W: qt.run_pairs(X3, W, seed=2**40), "seed must be None or an integer"),
    (lambda qt, W: qt.evaluate(X3, W[:0]), r"n_sets >= 1; got \(0, 12\)"),
    (lambda qt, W: qt.evaluate(X3, W * np.nan), "weight_sets must be finite"),
], ids=["nan", "columns", "rows", "seed-negative", "seed-large", "no-sets", "nan-sets"])
def test_invalid_pairs_seeds_and_weight_sets_are_named(call, match):
    qt = SamplerTransformer(backend="statevector", random_state=0).fit(X3)
    with pytest.raises(ValueError, match=match):
        call(qt, np.zeros((6, qt.weights_.size)))


def test_exact_evaluate_rejects_non_finite_weight_sets():
    qt = EstimatorTransformer(random_state=0).fit(X3)
    with pytest.raises(ValueError, match="weight_sets must be finite"):
        qt.evaluate(X3, np.full((2, qt.weights_.size), np.nan))


@pytest.mark.parametrize("cls", TRANSFORMERS)
@pytest.mark.parametrize("backend", [None, "statevector"])
@pytest.mark.parametrize("scale", [1e300, 1e-200, 1e-310])
def test_amplitude_encoding_does_not_depend_on_the_scale_of_a_row(cls, backend, scale):
    # The state is x / ||x||: rows of 1e160 and beyond gave zeros (the squares overflow),
    # rows of 1e-200 were refused as zeros (the squares underflow).
    X = X3 / np.abs(X3).max()
    qt = cls(encoding="amplitude", backend=backend, random_state=0).fit(X)
    np.testing.assert_allclose(qt.transform(X * scale), qt.transform(X), atol=1e-12)


@pytest.mark.parametrize("backend", [None, FakeManilaV2()])
def test_a_too_wide_amplitude_encoding_is_not_told_to_use_the_amplitude_encoding(backend):
    X = np.ones((1, 2**20 + 1)) if backend is None else np.ones((1, 33))
    with pytest.raises(ValueError, match="qubits") as error:
        EstimatorTransformer(encoding="amplitude", backend=backend).fit(X)
    assert "encoding='amplitude'" not in str(error.value)
    assert "fewer features" in str(error.value)


@pytest.mark.parametrize("cls", [SamplerTransformer, EstimatorTransformer])
@pytest.mark.parametrize("backend, shots, change", [
    (None, None, {"shots": 7}),
    (None, 100, {"shots": None}),
    (None, None, {"encoding": "amplitude"}),
    (None, None, {"n_layers": 3}),
    ("aer", 100, {"shots": 7}),
    ("aer", 100, {"backend": None}),
    ("aer", None, {"n_layers": 3}),
    ("statevector", 50, {"backend": "aer", "shots": None}),
])
def test_set_params_after_fit_keeps_the_fitted_circuit(cls, backend, shots, change):
    # The documented rule (user guide, 'Backends after a fit'): backend, shots and the
    # circuit stay the fit's until a refit, also once saved and loaded. The exact path
    # read the current shots and encoding (shots=7 resampled, n_layers=3 failed), and a
    # loaded transformer rebuilt its runner from the current backend and shots.
    X = np.random.default_rng(0).uniform(0, 3, size=(4, 2))
    qt = cls(n_layers=1, backend=backend, shots=shots, random_state=0).fit(X)
    expected = qt.transform(X)
    qt.set_params(**change)
    np.testing.assert_allclose(qt.transform(X), expected)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(qt)).transform(X), expected)
    refit = qt.fit(X).transform(X)  # a refit takes the new parameters
    assert refit.shape != expected.shape or not np.allclose(refit, expected)


@pytest.mark.parametrize("cls", TRANSFORMERS)
def test_device_follows_set_params_after_the_fit(cls):
    # device says where the exact simulator runs, not what it computes (complex128 on
    # either), so it is read at each transform, as max_shots is, and is not one of
    # fitted_params_: a transformer fitted on a GPU and loaded on a machine without one
    # transforms after set_params(device="cpu"), with no refit.
    X = np.random.default_rng(0).uniform(0, 3, size=(4, 2))
    qt = cls(n_layers=1, random_state=0).fit(X)
    expected = qt.transform(X)
    assert "device" not in qt.fitted_params_
    qt.set_params(device="cuda")
    if torch.cuda.is_available():
        np.testing.assert_allclose(qt.transform(X), expected, rtol=0, atol=1e-12)
    else:  # refused by name, at the call
        with pytest.raises(ValueError, match="device='cuda' but torch sees no CUDA device"):
            qt.transform(X)
    loaded = pickle.loads(pickle.dumps(qt)).set_params(device="cpu")
    np.testing.assert_allclose(loaded.transform(X), expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="device must be one of 'cpu', 'cuda', 'auto'"):
        loaded.set_params(device="gpu").transform(X)


@pytest.mark.parametrize("cls", TRANSFORMERS)
def test_fitted_params_are_the_fits_and_survive_saving(cls, tmp_path):
    # The public record of what defines the results (QuantumLayer reads it, as no module
    # reads another's private names): the fit's values, whatever set_params changes.
    sio = pytest.importorskip("skops.io")
    qt = cls(n_layers=1, backend="aer", shots=16, random_state=0).fit(X3)
    expected = {"backend": "aer", "shots": 16, "n_layers": 1, "encoding": "angle",
                "entanglement": "linear"}
    if cls is SamplerTransformer:
        expected["readout_mitigation"] = False
    assert qt.fitted_params_ == expected
    qt.set_params(backend=None, shots=None, n_layers=2, encoding="amplitude",
                  entanglement=None)
    qt.fitted_params_["shots"] = 1  # a copy: changes nothing
    assert qt.fitted_params_ == expected
    joblib.dump(qt, tmp_path / "qt.joblib")
    data = sio.dumps(qt)
    for loaded in (pickle.loads(pickle.dumps(qt)), joblib.load(tmp_path / "qt.joblib"),
                   sio.loads(data, trusted=sio.get_untrusted_types(data=data))):
        assert loaded.fitted_params_ == expected
    assert not hasattr(clone(qt), "fitted_params_")  # unfitted, as the other attributes
    assert clone(qt).fit(X3).fitted_params_["encoding"] == "amplitude"
    # A transformer saved before the fit's values were kept reads the current ones.
    state = qt.__getstate__()
    del state["_fit_params"], state["_fit_backend"]
    old = cls.__new__(cls)
    old.__setstate__(state)
    assert old.fitted_params_ == {**expected, "backend": None, "shots": None, "n_layers": 2,
                                  "encoding": "amplitude", "entanglement": None}


def test_read_only_input_reaches_torch_as_a_writable_array(monkeypatch):
    """pandas' copy-on-write data are read-only: torch.from_numpy warned ("The given NumPy
    array is not writable ... undefined behavior"), once per process, at every user's
    first transform of a DataFrame."""
    real = torch.from_numpy

    def from_numpy(array):
        assert array.flags.writeable, "a read-only array reached torch"
        return real(array)

    X = np.array([[0.1, 0.2], [0.3, -0.4]])
    expected = EstimatorTransformer(n_layers=1, random_state=0).fit(X).transform(X)
    monkeypatch.setattr(torch, "from_numpy", from_numpy)
    read_only = X.copy()
    read_only.flags.writeable = False
    for transformer in (EstimatorTransformer, SamplerTransformer):
        qt = transformer(n_layers=1, random_state=0).fit(X)
        out = qt.transform(read_only)
        if transformer is EstimatorTransformer:
            np.testing.assert_array_equal(out, expected)
