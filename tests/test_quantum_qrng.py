import warnings

import numpy as np
import pytest
from qiskit.primitives import StatevectorEstimator
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from scipy import stats

from skqegm.quantum import QuantumRandomSource, monobit_test, runs_test, von_neumann_extract

ALPHA = 0.01


def test_nist_worked_examples():
    # NIST SP 800-22 rev1a, sections 2.1.4 and 2.3.4.
    assert monobit_test([int(c) for c in "1011010101"]) == pytest.approx(0.527089, abs=1e-6)
    assert runs_test([int(c) for c in "1001101011"]) == pytest.approx(0.147232, abs=1e-6)


def test_the_tests_reject_non_random_bits():
    assert monobit_test(np.r_[np.ones(600), np.zeros(400)]) < ALPHA
    assert runs_test(np.tile([0, 1], 5000)) < ALPHA  # alternates too fast


@pytest.mark.parametrize("backend", [None, "aer"])
def test_bits_pass_monobit_and_runs_tests(backend):
    bits = QuantumRandomSource(backend=backend, random_state=0).bits(100_000)
    assert bits.shape == (100_000,) and set(np.unique(bits)) <= {0, 1}
    assert monobit_test(bits) > ALPHA
    assert runs_test(bits) > ALPHA


def test_noisy_device_bits_pass_after_extraction():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        source = QuantumRandomSource(n_qubits=5, backend=FakeManilaV2(), random_state=1)
        bits = source.bits(100_000)
    assert monobit_test(bits) > ALPHA and runs_test(bits) > ALPHA


def test_von_neumann_extractor_removes_bias():
    assert von_neumann_extract([1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1]).tolist() == [1, 0, 1]
    biased = (np.random.default_rng(0).random(400_000) < 0.8).astype(np.uint8)
    assert monobit_test(biased) < ALPHA
    extracted = von_neumann_extract(biased)
    assert monobit_test(extracted) > ALPHA
    assert extracted.size == pytest.approx(400_000 * 0.8 * 0.2, rel=0.02)


def test_random_is_uniform_on_the_unit_interval():
    u = QuantumRandomSource(random_state=0).random((2_000, 2))
    assert u.shape == (2_000, 2)
    assert np.all((u >= 0) & (u < 1))
    assert stats.kstest(u.ravel(), "uniform").pvalue > ALPHA
    assert isinstance(QuantumRandomSource(random_state=0).random(), float)


def test_random_state_makes_bits_reproducible_and_calls_fresh():
    a = QuantumRandomSource(random_state=3)
    b = QuantumRandomSource(random_state=3)
    first = a.bits(1_000)
    np.testing.assert_array_equal(first, b.bits(1_000))
    assert not np.array_equal(first, a.bits(1_000))  # the stream moves on
    assert not np.array_equal(first, QuantumRandomSource(random_state=4).bits(1_000))


def test_raw_bits_without_extractor():
    bits = QuantumRandomSource(n_qubits=4, shots=64, extractor=None, random_state=0).bits(10_000)
    assert monobit_test(bits) > ALPHA


@pytest.mark.parametrize(
    "params, match",
    [
        ({"backend": StatevectorEstimator()}, "needs a backend that samples"),
        ({"backend": "qpu"}, "backend must be one of"),
        ({"shots": 0}, "shots must be >= 1"),
        ({"shots": None}, "shots must be a positive integer"),
        ({"n_qubits": 0}, "n_qubits must be >= 1"),
        ({"extractor": "xor"}, "extractor must be one of 'von_neumann', None"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        QuantumRandomSource(**params).bits(8)


@pytest.mark.parametrize("test", [monobit_test, runs_test])
@pytest.mark.parametrize("bits", [[], [0, 1, 2], [[0, 1], [1, 0]]])
def test_randomness_tests_reject_what_is_not_bits(test, bits):
    with pytest.raises(ValueError, match="bits must be a non-empty 1-D array of 0 and 1"):
        test(bits)
