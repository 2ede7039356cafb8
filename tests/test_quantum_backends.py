"""CircuitRunner: memory estimates, chunked post-processing and argument checks."""

import numpy as np
import pytest
import sklearn

from skqegm.exceptions import MemoryLimitError
from skqegm.quantum import CircuitRunner, variational_circuit
from skqegm.quantum.backends import _outcome_frequencies
from skqegm.utils._validation import check_seed

QC, INPUTS, WEIGHTS = variational_circuit(3, n_layers=1)
PARAMS = INPUTS + WEIGHTS
VALUES = np.random.default_rng(0).uniform(0, np.pi, size=(40, len(PARAMS)))


def test_outcome_frequencies_in_chunks_equal_one_batch():
    outcomes = np.random.default_rng(1).integers(0, 16, size=(50, 30))
    whole = _outcome_frequencies(outcomes, 4)
    with sklearn.config_context(working_memory=0.001):  # one row per chunk
        chunked = _outcome_frequencies(outcomes, 4)
    np.testing.assert_array_equal(chunked, whole)
    np.testing.assert_array_equal(whole[3] * 30, np.bincount(outcomes[3], minlength=16))


def test_exact_probabilities_in_several_estimator_calls_equal_one_call(counting_estimator):
    runner = CircuitRunner(counting_estimator)
    whole = runner.probabilities(QC, PARAMS, VALUES)
    assert counting_estimator.calls == 1  # an ordinary batch is one call
    with sklearn.config_context(working_memory=0.005):  # a few rows (2**n values each) a call
        chunked = runner.probabilities(QC, PARAMS, VALUES)
    assert counting_estimator.calls > 2
    np.testing.assert_allclose(chunked, whole, atol=1e-12)


@pytest.mark.parametrize("output", ["expval_z", "probabilities"])
def test_an_estimator_holds_a_few_rows_of_each_call(counting_estimator, output):
    # An estimator holds every parameter set of a call (about 24 KiB each at 2 qubits on
    # Aer; 200,000 rows at 4 qubits took 6.5 GB): expval_z sent every row in one call,
    # probabilities counted 160 B per outcome.
    run = getattr(CircuitRunner(counting_estimator), output)
    whole = run(QC, PARAMS, VALUES)
    assert counting_estimator.calls == 1  # an ordinary batch is one call
    with sklearn.config_context(working_memory=0.2):  # a few rows a call
        chunked = run(QC, PARAMS, VALUES)
    assert counting_estimator.calls > 4
    np.testing.assert_allclose(chunked, whole, atol=1e-12)


def test_the_sampling_estimate_counts_each_parameter_set(monkeypatch):
    # Aer's sampler holds about 30 KiB per parameter set at 4 qubits: 20,000 rows of one
    # shot took 600 MB, estimated at 5 MB (the shots only).
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.2")
    with pytest.raises(MemoryLimitError, match=r"sampling 20000 rows x shots=1 .* 53\d MiB"):
        CircuitRunner("aer", shots=1).sample_outcomes(QC, PARAMS, np.zeros((20_000, 9)))


def test_sampled_expectations_in_chunks_equal_one_batch():
    runner = CircuitRunner("aer", shots=64, seed=3)
    whole = runner.expval_z(QC, PARAMS, VALUES)
    with sklearn.config_context(working_memory=0.005):
        np.testing.assert_array_equal(runner.expval_z(QC, PARAMS, VALUES), whole)


def test_probabilities_over_too_many_outcomes_are_refused_before_sampling(monkeypatch,
                                                                          counting_sampler):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    qc, inputs, weights = variational_circuit(24, n_layers=1)
    values = np.zeros((10, len(inputs) + len(weights)))
    with pytest.raises(MemoryLimitError, match=r"probabilities of 10 rows on n_qubits=24 "
                                               r"\(2\*\*24 outcomes per row, float64\) needs an "
                                               r"estimated 1\.25 GiB"):
        CircuitRunner(counting_sampler, shots=10).probabilities(qc, inputs + weights, values)
    assert counting_sampler.calls == 0
    with pytest.raises(MemoryLimitError, match=r"40 rows x shots=10000000 on n_qubits=3"):
        CircuitRunner(counting_sampler, shots=10**7).sample_outcomes(QC, PARAMS, VALUES)
    assert counting_sampler.calls == 0


def test_exact_probabilities_are_bounded_in_qubits():
    qc, inputs, weights = variational_circuit(13, n_layers=1)
    with pytest.raises(ValueError, match=r"n_qubits=13 need 2\*\*13 expectation values"):
        CircuitRunner("aer").probabilities(qc, inputs + weights,
                                           np.zeros((1, len(inputs) + len(weights))))


def test_a_simulated_state_that_cannot_fit_is_refused(monkeypatch):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    with pytest.raises(MemoryLimitError, match=r"simulates n_qubits=30 .*'aer'.* 24 GiB"):
        CircuitRunner("aer").check_width(30, "test")
    CircuitRunner("aer").check_width(20, "test")  # 24 MiB


def test_statevector_sampling_counts_qiskits_label_of_every_outcome(monkeypatch):
    # StatevectorSampler builds a string label for each of the 2**n outcomes of each row
    # (Statevector.sample_memory): about 260 * n bytes per amplitude, measured. At 22
    # qubits the estimate of 64 B per amplitude accepted a job of about 24 GB (killed).
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "1")
    with pytest.raises(MemoryLimitError, match=r"simulates n_qubits=20 .*'statevector'"):
        CircuitRunner("statevector", shots=10).check_width(20, "test")
    CircuitRunner("statevector").check_width(20, "test")  # exact expectation values
    qc, inputs, weights = variational_circuit(20, n_layers=1)
    runner = CircuitRunner("statevector")  # a model's draws sample with shots=1
    with pytest.raises(MemoryLimitError, match=r"sampling 1 rows x shots=1 on n_qubits=20"):
        runner.sample_outcomes(qc, inputs + weights, np.zeros((1, len(inputs + weights))),
                               shots=1)
    assert runner.jobs.shots_submitted == 0


@pytest.mark.parametrize("values, match", [
    (VALUES[:, :-1], r"values must have shape \(n_rows, 9\)"),
    (VALUES[0], r"values must have shape \(n_rows, 9\)"),
    (np.where(VALUES > 3, np.nan, VALUES), "values must be finite"),
], ids=["columns", "1-D", "nan"])
def test_invalid_values_are_named(values, match):
    with pytest.raises(ValueError, match=match):
        CircuitRunner("statevector", shots=8).sample_outcomes(QC, PARAMS, values)


@pytest.mark.parametrize("kwargs, match", [
    ({"shots": 0}, "shots must be >= 1"),
    ({"shots": -3}, "shots must be >= 1"),
    ({"seed": -1}, r"seed must be None or an integer in \[0, 2\*\*32 - 1\]; got -1"),
    ({"seed": 2**64}, "seed must be None or an integer"),
], ids=["shots-0", "shots-negative", "seed-negative", "seed-64-bit"])
def test_invalid_shots_and_seeds_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CircuitRunner("aer", shots=8).sample_outcomes(QC, PARAMS, VALUES[:2], **kwargs)
    with pytest.raises(ValueError, match=match):
        CircuitRunner("aer", **kwargs)


@pytest.mark.parametrize("backend, shots", [("aer", None), ("aer", 8), ("statevector", 8),
                                           ("fake", 8)])
def test_no_rows_give_empty_outputs_without_a_job(backend, shots):
    # Aer's estimator crashed the process (segmentation fault) on a sweep of no rows, its
    # sampler failed inside its bit array.
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    device = FakeManilaV2() if backend == "fake" else backend
    runner = CircuitRunner(device, shots=shots, seed=0, readout_mitigation=backend == "fake")
    none = np.zeros((0, len(PARAMS)))
    n = QC.num_qubits
    assert runner.expval_z(QC, PARAMS, none).shape == (0, n)
    assert runner.probabilities(QC, PARAMS, none).shape == (0, 2**n)
    if shots is not None:
        assert runner.sample_outcomes(QC, PARAMS, none).shape == (0, shots)
    assert runner.jobs.jobs == []


def test_check_seed_accepts_the_random_state_range():
    assert check_seed(0) == 0 and check_seed(np.int64(2**32 - 1)) == 2**32 - 1
    for bad in (True, 1.0, "1", 2**32):
        with pytest.raises(ValueError, match="seed must be None or an integer"):
            check_seed(bad)


def _mixed_direction_target():
    """3 qubits: cx only as (1, 0), ecr only as (1, 2), as FakeCairoV2 mixes them."""
    from qiskit.circuit import Parameter
    from qiskit.circuit.library import CXGate, ECRGate, Measure, RZGate, SXGate, XGate
    from qiskit.transpiler import InstructionProperties, Target

    target = Target(num_qubits=3)
    for gate in (RZGate(Parameter("a")), SXGate(), XGate(), Measure()):
        target.add_instruction(gate, {(q,): None for q in range(3)})
    target.add_instruction(CXGate(), {(1, 0): InstructionProperties(error=0.01)})
    target.add_instruction(ECRGate(), {(1, 2): InstructionProperties(error=0.01)})
    return target


def test_qiskit_cannot_flip_a_cx_on_a_target_mixing_cx_and_ecr():
    # The cause of FakeCairoV2's failure, without skqegm: if a Qiskit release fixes it,
    # this fails, and the clear error below (and the user guide's limitation) can go.
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit.transpiler.exceptions import TranspilerError

    qc = QuantumCircuit(2)
    qc.cx(0, 1)

    def run(initial_layout):
        return generate_preset_pass_manager(optimization_level=1, target=_mixed_direction_target(),
                                            initial_layout=initial_layout).run(qc)

    run([1, 0])  # cx in the edge's own direction transpiles
    with pytest.raises(TranspilerError, match="cx would be supported .* direction was swapped"):
        run([0, 1])


def test_a_device_qiskit_cannot_transpile_for_is_named_with_the_cause():
    from qiskit_ibm_runtime.fake_provider import FakeCairoV2

    from skqegm.quantum import EstimatorTransformer

    X = np.random.default_rng(0).uniform(size=(2, 3))
    qt = EstimatorTransformer(n_layers=1, backend=FakeCairoV2(), random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"transpiler cannot map the circuit onto backend "
                       r"'fake_cairo'.*mixes two-qubit gates \(cx, ecr\)"):
        qt.transform(X)
