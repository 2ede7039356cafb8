import hashlib
import re
import warnings

import numpy as np
import pytest
import sklearn
from qiskit.primitives import StatevectorEstimator
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from scipy import stats

from skqegm.exceptions import MemoryLimitError
from skqegm.quantum import (
    QuantumRandomSource,
    monobit_test,
    runs_test,
    von_neumann_extract,
)
from skqegm.utils import _memory as memory

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


# -- memory: refusals, chunking, and the same bits as before chunking ------------------------

def _sha256(*arrays):
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _stream(source):
    """A mix of calls whose bits span refills and chunks."""
    return [source.random(5), source.bits(1000), source.random((30, 2)), source.bits(0),
            np.array([source.random()]), source.bits(20_000), source.random(1234)]


def test_outputs_are_those_of_the_unchunked_generator():
    # Values recorded from the code before chunking (it held every raw bit of a request).
    assert QuantumRandomSource(random_state=0).random(3).tolist() == [
        0.7175161609717182, 0.8469518261825842, 0.5638991019144968]
    assert QuantumRandomSource(random_state=42).bits(24).tolist() == [
        1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1]
    # Calls after the first: recorded when the exact backend became one stream (session
    # 12; a new generator per refill gave ce41a106... and a582c395...).
    assert _sha256(*_stream(QuantumRandomSource(n_qubits=5, shots=64, random_state=7))) == (
        "f66f2b9191efe3cf62f70df4af42b428a8ffaf2135d9bb7cd6ae5e8c62cbc896")
    raw = QuantumRandomSource(n_qubits=3, shots=1, extractor=None, random_state=11)
    assert _sha256(raw.bits(7), raw.random(3), raw.bits(101)) == (
        "9be365ccb2a80f96c3be583cfc2d992d2657bcaaf68741f175d676de2d28128d")


def _reference_stream(random_state, n_qubits, extractor, n_bits):
    """The exact backend's bits, built by hand: one generator seeded by the source's
    first draw of ``random_state``, its outcomes' bits (qubit 0 first), the extractor."""
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Statevector

    circuit = QuantumCircuit(n_qubits)
    circuit.h(range(n_qubits))
    probs = Statevector(circuit).probabilities()
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max)
    outcomes = np.random.default_rng(seed).choice(probs.size, size=5 * n_bits // n_qubits + 64,
                                                  p=probs)
    raw = ((outcomes[:, None] >> np.arange(n_qubits)) & 1).astype(np.uint8).ravel()
    bits = von_neumann_extract(raw) if extractor else raw
    assert bits.size >= n_bits
    return bits[:n_bits]


def _floats(bits):
    return (bits.reshape(-1, 53).astype(np.uint64)
            @ (np.uint64(1) << np.arange(52, -1, -1, dtype=np.uint64))) / 2.0**53


@pytest.mark.parametrize("params", [
    {"n_qubits": 8},
    {"n_qubits": 5, "shots": 64},  # odd raw bits per outcome: pairs span calls
    {"n_qubits": 3, "shots": 1, "extractor": None},
])
@pytest.mark.parametrize("cuts", [[1000], [100, 900], [1, 998, 1], [333, 333, 334]])
def test_the_exact_backend_is_one_stream_however_requests_cut_it(params, cuts):
    """random(100) then random(900) drew other numbers than random(1000) from the same
    seed (a new generator per refill, sized by its request): now every call continues
    one stream, as numpy's generators do, and matches the stream built by hand."""
    expected = _floats(_reference_stream(5, params["n_qubits"], params.get(
        "extractor", "von_neumann"), 1000 * 53))
    source = QuantumRandomSource(random_state=5, **params)
    np.testing.assert_array_equal(np.concatenate([source.random(n) for n in cuts]), expected)
    mixed = QuantumRandomSource(random_state=5, **params)
    bits = np.concatenate([mixed.bits(7), mixed.bits(53 * 10 - 7), _bits_of(mixed.random(990))])
    np.testing.assert_array_equal(_floats(bits), expected)
    with sklearn.config_context(working_memory=0.01):
        chunked = QuantumRandomSource(random_state=5, **params)
        np.testing.assert_array_equal(np.concatenate([chunked.random(n) for n in cuts]),
                                      expected)


def _bits_of(floats):
    integers = (floats * 2.0**53).astype(np.uint64)
    return ((integers[:, None] >> np.arange(52, -1, -1, dtype=np.uint64)) & 1).astype(
        np.uint8).ravel()


@pytest.mark.parametrize("params", [
    {"n_qubits": 5, "shots": 64},  # odd raw bits per outcome: pairs span chunks
    {"n_qubits": 3, "shots": 1, "extractor": None},
    {"n_qubits": 8},
])
def test_small_chunks_give_the_same_bits(params, monkeypatch):
    expected = _stream(QuantumRandomSource(random_state=3, **params))
    with sklearn.config_context(working_memory=0.01):  # chunks of a few dozen outcomes
        chunked = _stream(QuantumRandomSource(random_state=3, **params))
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.0001")  # 105 KiB: chunks shrink to fit
    monkeypatch.setattr(memory, "UNCHECKED_BYTES", 0)  # even for so small a request
    limited = QuantumRandomSource(random_state=3, **params)
    limited_stream = [limited.random(5), limited.bits(1000)]
    for want, got in zip(expected, chunked):
        np.testing.assert_array_equal(got, want)
    for want, got in zip(expected, limited_stream):
        np.testing.assert_array_equal(got, want)


def test_a_qiskit_refill_is_one_call_of_at_most_one_chunk_of_shots(counting_sampler):
    source = QuantumRandomSource(backend=counting_sampler, shots=16, random_state=0)
    source.bits(2_000)
    assert counting_sampler.calls == 1
    counting_sampler.calls = 0
    with sklearn.config_context(working_memory=0.1):  # about 100 shots per call
        bits = QuantumRandomSource(backend=counting_sampler, shots=16, random_state=0).bits(2_000)
    assert counting_sampler.calls > 5
    assert bits.shape == (2_000,) and set(np.unique(bits)) == {0, 1}


@pytest.mark.parametrize("call, argument, estimate", [
    (lambda q: q.random(10**8), "size=100000000", "763 MiB"),
    (lambda q: q.random((10**4, 10**4)), "size=(10000, 10000)", "763 MiB"),
    (lambda q: q.bits(10**9), "bits(n=1000000000)", "954 MiB"),
], ids=["random", "random-shape", "bits"])
def test_a_request_that_cannot_fit_is_refused_before_sampling(monkeypatch, call, argument,
                                                              estimate):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    source = QuantumRandomSource(random_state=0)
    with pytest.raises(MemoryLimitError, match=re.escape(argument)) as info:
        call(source)
    assert estimate in str(info.value) and "512 MiB available" in str(info.value)
    assert "shots of 8 qubits" in str(info.value)  # the raw bits it would take
    np.testing.assert_array_equal(source.random(3), QuantumRandomSource(random_state=0).random(3))


# statevector: its state (128 B per amplitude) and StatevectorSampler's label of every
# outcome (288 B per amplitude and qubit).
@pytest.mark.parametrize("backend, estimate", [(None, "48 GiB"), ("statevector", "8.56 TiB")])
def test_a_state_of_too_many_qubits_is_refused(monkeypatch, backend, estimate):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    with pytest.raises(MemoryLimitError, match=rf"n_qubits=30.* {estimate} .*backend='aer'"):
        QuantumRandomSource(n_qubits=30, backend=backend).bits(8)


def test_aer_samples_many_qubits_without_a_state_and_shots_are_bounded(monkeypatch):
    bits = QuantumRandomSource(n_qubits=40, backend="aer", shots=4, random_state=0).bits(100)
    assert bits.shape == (100,)  # a Clifford circuit: Aer's stabilizer method
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    with pytest.raises(MemoryLimitError, match=r"shots=1000000 per execution"):
        QuantumRandomSource(backend="aer", shots=10**6).bits(8)


def test_more_qubits_than_the_device_is_a_clear_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match="n_qubits=6, more than the 5 qubits of device "
                                             "'fake_manila'"):
            QuantumRandomSource(n_qubits=6, backend=FakeManilaV2()).bits(8)


@pytest.mark.parametrize("random_state", [-1, 2**40, 1.5, "0"])
def test_invalid_random_state_is_named(random_state):
    with pytest.raises(ValueError, match=r"random_state must be None, an int in "
                                         r"\[0, 2\*\*32 - 1\]"):
        QuantumRandomSource(random_state=random_state).random(3)


@pytest.mark.parametrize("size", [-1, 2.5, np.nan, (2, -3), "3", True])
def test_invalid_size_is_named(size):
    with pytest.raises(ValueError, match="size must be None, an integer >= 0 or a tuple"):
        QuantumRandomSource(random_state=0).random(size)


def test_sizes_of_zero_and_shapes():
    source = QuantumRandomSource(random_state=0)
    assert source.random(0).shape == (0,) and source.random((3, 0)).shape == (3, 0)
    assert source.random([2, 3]).shape == (2, 3) and source.bits(0).shape == (0,)
    assert isinstance(source.random(()), float)
