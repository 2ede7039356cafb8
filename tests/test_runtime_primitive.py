"""qiskit-ibm-runtime's primitives on the hardware path: the client-side Sampler and
Estimator (qiskit-ibm-runtime 0.50 and later), the legacy SamplerV2 / EstimatorV2 before,
seeded in local testing mode, and no deprecation warning of theirs reaching the user."""

import sys
import warnings

import numpy as np
import pytest
import qiskit_ibm_runtime
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_ibm_runtime import Batch, Session
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from skqegm import QEGMSampler
from skqegm.quantum import SamplerTransformer
from skqegm.quantum.runtime import runtime_primitive

DEVICE = FakeManilaV2()
X = np.random.default_rng(0).normal(size=(20, 1))
SMALL = dict(n_qubits=1, n_layers=1, max_epochs=1, batch_size=20, hidden_layer_sizes=(4,),
             early_stopping=False, random_state=0)
# The client-side modules: made unimportable, they leave the legacy classes.
CLIENT_SIDE = ("qiskit_ibm_runtime.executor_sampler", "qiskit_ibm_runtime.executor_estimator")


def _client_side_classes():
    """The client-side Sampler and Estimator (qiskit-ibm-runtime 0.50+; 0.49 has a preview
    under other names, which skqegm does not use), or None."""
    try:
        from qiskit_ibm_runtime.executor_estimator import Estimator
        from qiskit_ibm_runtime.executor_sampler import Sampler
    except ImportError:
        return None
    return Sampler, Estimator


CLIENT_SIDE_CLASSES = _client_side_classes()
needs_client_side = pytest.mark.skipif(
    CLIENT_SIDE_CLASSES is None, reason="qiskit-ibm-runtime < 0.50: no client-side Sampler")
LEGACY = getattr(qiskit_ibm_runtime, "SamplerV2", None)
needs_legacy = pytest.mark.skipif(
    LEGACY is None or LEGACY.__module__ != "qiskit_ibm_runtime.sampler",
    reason="this qiskit-ibm-runtime no longer has the legacy SamplerV2")


@pytest.fixture(params=[pytest.param("client-side", marks=needs_client_side),
                        pytest.param("legacy", marks=needs_legacy)])
def flavour(request, monkeypatch):
    """Which of qiskit-ibm-runtime's primitives runtime_primitive finds."""
    if request.param == "legacy":
        for module in CLIENT_SIDE:  # an import of None raises ImportError
            monkeypatch.setitem(sys.modules, module, None)
    return request.param


def _isa_circuit(measured=True):
    theta = Parameter("t")
    qc = QuantumCircuit(2)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    if measured:
        qc.measure_all()
    pm = generate_preset_pass_manager(optimization_level=1, backend=DEVICE, seed_transpiler=1)
    return pm.run(qc)


VALUES = np.array([[0.0], [np.pi], [np.pi / 2]])


def _counts(sampler, shots=400):
    bits = sampler.run([(_isa_circuit(), VALUES)], shots=shots).result()[0].data.meas
    assert bits.shape == (3,) and bits.num_shots == shots
    return [bits.get_counts(i) for i in range(3)]


def _runtime_deprecations(caught):
    return [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)
            and ("qiskit-ibm-runtime" in str(w.message) or "qiskit_ibm_runtime" in w.filename)]


@needs_client_side
def test_the_client_side_sampler_is_preferred_where_it_exists():
    sampler, estimator = CLIENT_SIDE_CLASSES
    assert type(runtime_primitive("sampler", DEVICE)) is sampler
    assert type(runtime_primitive("estimator", DEVICE)) is estimator


@needs_legacy
def test_older_versions_fall_back_to_the_legacy_classes_without_a_warning(monkeypatch):
    for module in CLIENT_SIDE:
        monkeypatch.setitem(sys.modules, module, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = runtime_primitive("sampler", DEVICE, seed=0)
        estimator = runtime_primitive("estimator", DEVICE, seed=3)
    assert type(sampler) is qiskit_ibm_runtime.SamplerV2
    assert type(estimator) is qiskit_ibm_runtime.EstimatorV2
    assert not _runtime_deprecations(caught)
    # The legacy local mode drops a seed of 0: it is shifted to one it keeps.
    assert sampler.options.simulator.seed_simulator == 2**31
    assert estimator.options.simulator.seed_simulator == 3


def test_a_seed_reproduces_the_counts_in_local_mode(flavour):
    first = _counts(runtime_primitive("sampler", DEVICE, seed=5))
    assert _counts(runtime_primitive("sampler", DEVICE, seed=5)) == first
    assert _counts(runtime_primitive("sampler", DEVICE, seed=6)) != first
    assert _counts(runtime_primitive("sampler", DEVICE, seed=0)) == _counts(
        runtime_primitive("sampler", DEVICE, seed=0))
    # Counts of the device's noisy Bell-like states: mostly the ideal outcomes.
    ideal = [{"00"}, {"11"}, {"00", "11"}]
    for counts, outcomes in zip(first, ideal, strict=True):
        assert sum(counts.values()) == 400
        assert sum(counts.get(o, 0) for o in outcomes) > 0.85 * 400
        assert set(counts) - outcomes  # the device's noise shows
    if flavour == "client-side":  # a seed is passed as given: 0 is a seed like any other
        assert runtime_primitive("sampler", DEVICE, seed=0).options.simulator.seed_simulator == 0
    # Hardware takes no seed (the legacy options say Unset, the client-side ones None).
    hardware = runtime_primitive("sampler", DEVICE, seed=5, local=False)
    assert not isinstance(hardware.options.simulator.seed_simulator, int)


def test_the_sampler_runs_in_a_batch_and_a_session(flavour):
    alone = _counts(runtime_primitive("sampler", DEVICE, seed=5))
    for opener in (Batch, Session):
        mode = opener(backend=DEVICE)
        try:
            assert _counts(runtime_primitive("sampler", mode, seed=5)) == alone
        finally:
            mode.close()


def test_the_estimator_gives_expectation_values_of_the_pub_shape(flavour):
    isa = _isa_circuit(measured=False)
    observables = [SparsePauliOp(label).apply_layout(isa.layout) for label in ("IZ", "ZZ")]
    pub = (isa, [[obs] for obs in observables], VALUES)  # (2, 1) x (3,): shape (2, 3)

    def evs(seed):
        estimator = runtime_primitive("estimator", DEVICE, seed=seed)
        return np.asarray(estimator.run([pub], precision=0.05).result()[0].data.evs)

    first = evs(4)
    assert first.shape == (2, 3)
    np.testing.assert_array_equal(evs(4), first)
    # <Z0> = cos(theta), <Z0 Z1> = 1, up to the device's noise and 400 shots.
    np.testing.assert_allclose(first, [[1, -1, 0], [1, 1, 1]], atol=0.3)


def test_a_bad_kind_is_named():
    with pytest.raises(ValueError, match="kind must be one of 'sampler', 'estimator'"):
        runtime_primitive("qrng", DEVICE)


@pytest.mark.parametrize("hardware_path", [False, True], ids=["fake-device", "hardware-path"])
def test_no_deprecation_of_qiskit_ibm_runtime_escapes_a_fit_or_transform(
        flavour, hardware_path, monkeypatch):
    """Through the public API: a model's fit and a transformer's fit and transform on a
    fake device, as it runs (locally) and taken for hardware (qiskit-ibm-runtime's
    Sampler in a Batch)."""
    from skqegm.models import _base
    from skqegm.quantum import backends

    monkeypatch.setattr(_base, "DENSITY_DRAWS", 64)  # the fitted density: a small job
    made = []
    if hardware_path:
        monkeypatch.setattr(backends, "_is_ibm_hardware", lambda device: True)

        def spy(*args, **kwargs):
            made.append(runtime_primitive(*args, **kwargs))
            return made[-1]
        monkeypatch.setattr(backends, "runtime_primitive", spy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = QEGMSampler(backend=FakeManilaV2(), shots=8, **SMALL).fit(X)
        qt = SamplerTransformer(n_layers=1, backend=FakeManilaV2(), shots=16, random_state=0)
        Z = qt.fit(X).transform(X)
    escaped = _runtime_deprecations(caught)
    if hardware_path and flavour == "legacy":
        # qiskit-ibm-runtime 0.40 (not 0.49, 0.51): Qiskit's BackendSamplerV2, which the
        # legacy local testing mode runs, reads a fake device's deprecated max_circuits.
        # Only this rehearsal runs it: hardware does not, and skqegm samples a fake
        # device in this process.
        escaped = [m for m in escaped if not m.startswith("max_circuits is deprecated")]
    assert not escaped
    assert np.isfinite(model.score_samples(X)).all()
    assert Z.shape == (20, 2) and np.allclose(Z.sum(axis=1), 1.0)
    assert qt.runner_.jobs.jobs  # the transform's jobs ran through the job manager
    if hardware_path:
        kinds = {type(primitive).__module__ for primitive in made}
        expected = ("qiskit_ibm_runtime.executor_sampler.sampler" if flavour == "client-side"
                    else "qiskit_ibm_runtime.sampler")
        assert kinds == {expected}
    else:
        assert not made  # a fake device samples in this process


@needs_client_side
def test_the_client_side_sampler_draws_the_fake_devices_own_distribution(monkeypatch):
    """On a fake device, the hardware code path (qiskit-ibm-runtime's client-side Sampler,
    Aer with ``NoiseModel.from_backend``) and skqegm's own local sampling (the exact noisy
    probabilities, readout included) draw the same distribution: an independent check of
    both. The legacy SamplerV2's local mode is 0.035 to 0.04 away (other readout errors)."""
    from skqegm.quantum import CircuitRunner, backends, variational_circuit

    qc, inputs, weights = variational_circuit(3, n_layers=1)
    params = inputs + weights
    values = np.random.default_rng(1).uniform(-1, 1, size=(2, len(params)))
    shots = 40_000

    def frequencies():
        outcomes = CircuitRunner(FakeManilaV2(), shots=shots, seed=0).sample_outcomes(
            qc, params, values)
        return np.stack([np.bincount(row, minlength=8) / shots for row in outcomes])

    local = frequencies()
    monkeypatch.setattr(backends, "_is_ibm_hardware", lambda device: True)
    # Seeded as in local testing mode, so that the test is reproducible.
    monkeypatch.setattr(backends, "runtime_primitive", lambda kind, mode, seed, local:
                        runtime_primitive(kind, mode, seed, local=True))
    hardware_path = frequencies()
    tvd = 0.5 * np.abs(hardware_path - local).sum(axis=1)
    # Measured: 0.009 and 0.005 (two samples of 40,000 shots); 0.037 and 0.039 with the
    # legacy SamplerV2.
    assert (tvd < 0.015).all(), tvd
