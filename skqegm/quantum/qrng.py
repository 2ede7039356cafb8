"""Random numbers from measured Hadamard circuits (the ``r ~ QRNG`` of eq. 7).

Honest note: on a simulator ("exact", "statevector", "aer", or a fake device) the
measured bits come from the simulator's seeded pseudo-random generator, so they are
exactly as random as a PRNG and reproducible from ``random_state``. Only real quantum
hardware gives quantum randomness, and hardware bits are biased by readout error,
which the von Neumann extractor removes (at the cost of about 3/4 of the bits).
"""

import math

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector
from scipy.special import erfc
from sklearn.utils import check_random_state

from ..utils._validation import check_int, check_option, check_shots
from .backends import CircuitRunner, check_backend

EXTRACTORS = ("von_neumann", None)
_FLOAT_BITS = 53  # a double's mantissa: random() is uniform on the 2**53 grid of [0, 1)


class QuantumRandomSource:
    """Uniform random bits and floats from measured Hadamard circuits.

    Each qubit is put in ``|+>`` by a Hadamard gate and measured; a run of ``shots``
    shots gives ``n_qubits * shots`` raw bits, optionally whitened by an extractor.

    Parameters
    ----------
    n_qubits : int, default=8
        Qubits measured per shot.
    backend : None, str, BackendV2 or BaseSamplerV2, default=None
        Where the circuit runs (see :mod:`skqegm.quantum.backends`). ``None`` or
        ``"exact"`` samples the exact outcome distribution with a seeded generator.
    shots : int, default=1024
        Shots per circuit execution; a refill asks for as many multiples of ``shots``
        as it needs, in one primitive call.
    extractor : {"von_neumann", None}, default="von_neumann"
        ``"von_neumann"`` maps the bit pairs ``10 -> 1`` and ``01 -> 0`` and drops
        ``00`` and ``11``: independent but biased bits become unbiased ones.
        ``None`` returns the raw bits.
    random_state : int, RandomState instance or None, default=None
        Seeds the simulator; ignored by hardware. The same value gives the same bits.

    Examples
    --------
    >>> from skqegm.quantum import QuantumRandomSource
    >>> qrng = QuantumRandomSource(random_state=0)
    >>> u = qrng.random(1000)
    >>> bool((u >= 0).all() and (u < 1).all()), qrng.bits(16).size
    (True, 16)
    """

    def __init__(self, n_qubits=8, backend=None, shots=1024, extractor="von_neumann",
                 random_state=None):
        self.n_qubits = n_qubits
        self.backend = backend
        self.shots = shots
        self.extractor = extractor
        self.random_state = random_state

    def bits(self, n):
        """``n`` random bits as a ``uint8`` array of 0 and 1."""
        n = check_int(n, "n", min_value=0)
        self._ensure_setup()
        while self._buffer.size < n:
            self._refill(n - self._buffer.size)
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def random(self, size=None):
        """Floats uniform on ``[0, 1)``, ``53`` bits each, like ``numpy.random.random``."""
        shape = () if size is None else tuple(np.atleast_1d(size).astype(int))
        count = int(np.prod(shape, dtype=np.int64))
        bits = self.bits(count * _FLOAT_BITS).reshape(count, _FLOAT_BITS).astype(np.uint64)
        integers = bits @ (np.uint64(1) << np.arange(_FLOAT_BITS - 1, -1, -1, dtype=np.uint64))
        values = integers.astype(np.float64) / 2.0**_FLOAT_BITS
        return values.reshape(shape) if shape else float(values[0])

    def _ensure_setup(self):
        if getattr(self, "_buffer", None) is not None:
            return
        n_qubits = check_int(self.n_qubits, "n_qubits", min_value=1, max_value=64)
        kind = check_backend(self.backend)
        if kind == "estimator":
            raise ValueError("QuantumRandomSource needs a backend that samples, not an estimator.")
        check_shots(self.shots)
        if self.shots is None:
            raise ValueError("shots must be a positive integer; got None.")
        check_option(self.extractor, "extractor", EXTRACTORS)
        self._rng = check_random_state(self.random_state)
        self._circuit = QuantumCircuit(n_qubits)
        self._circuit.h(range(n_qubits))
        # The exact backend samples the circuit's exact outcome distribution with a seeded
        # generator, as StatevectorSampler does, without its per-shot overhead (100x).
        self._runner = None
        self._exact_probs = None
        if kind == "exact":
            self._exact_probs = Statevector(self._circuit).probabilities()
        else:
            self._runner = CircuitRunner(self.backend, self.shots, self._new_seed())
        self._buffer = np.empty(0, dtype=np.uint8)

    def _new_seed(self):
        return int(self._rng.randint(np.iinfo(np.int32).max))

    def _refill(self, needed):
        # The von Neumann extractor keeps 1/4 of unbiased bits: ask for 4x, plus slack.
        factor = 4.4 if self.extractor == "von_neumann" else 1.0
        raw_bits = math.ceil(needed * factor) + 64
        executions = max(1, math.ceil(raw_bits / (self.n_qubits * self.shots)))
        # One parameter-free PUB with all the shots: Aer's sampler fills only the first
        # row of a sweep over an empty parameter set.
        outcomes = self._sample_outcomes(executions * self.shots)
        raw = ((outcomes.ravel()[:, None] >> np.arange(self.n_qubits)) & 1).astype(np.uint8)
        new = von_neumann_extract(raw.ravel()) if self.extractor else raw.ravel()
        self._buffer = np.concatenate([self._buffer, new])

    def _sample_outcomes(self, shots):
        if self._runner is None:
            rng = np.random.default_rng(self._new_seed())
            return rng.choice(self._exact_probs.size, size=shots, p=self._exact_probs)
        return self._runner.sample_outcomes(
            self._circuit, [], np.zeros((1, 0)), shots=shots, seed=self._new_seed()
        )


def von_neumann_extract(bits):
    """Von Neumann's extractor: pairs ``10 -> 1``, ``01 -> 0``; ``00`` and ``11`` dropped.

    Independent bits of any fixed bias come out unbiased, about ``p (1 - p)`` output bits
    per input bit (a quarter for fair bits).

    Parameters
    ----------
    bits : array-like of shape (n_bits,)
        Raw bits, 0 and 1, read in consecutive non-overlapping pairs; an odd last bit is
        dropped.

    Returns
    -------
    extracted : ndarray of shape (n_extracted,), dtype uint8
        The first bit of each unequal pair.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.quantum import von_neumann_extract
    >>> von_neumann_extract([1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1]).tolist()
    [1, 0, 1]
    >>> biased = (np.random.default_rng(0).random(100_000) < 0.7).astype(np.uint8)
    >>> round(float(biased.mean()), 2), round(float(von_neumann_extract(biased).mean()), 2)
    (0.7, 0.5)
    """
    bits = np.asarray(bits, dtype=np.uint8)
    pairs = bits[: bits.size // 2 * 2].reshape(-1, 2)
    keep = pairs[:, 0] != pairs[:, 1]
    return pairs[keep, 0]


def _check_bits(bits):
    bits = np.asarray(bits)
    if bits.ndim != 1 or bits.size == 0 or not np.isin(bits, (0, 1)).all():
        raise ValueError(f"bits must be a non-empty 1-D array of 0 and 1; got shape "
                         f"{bits.shape} with values {np.unique(bits)[:5].tolist()}.")
    return bits.astype(np.int64)


def monobit_test(bits):
    """NIST SP 800-22 frequency (monobit) test; returns the p-value.

    ``S = sum(2 b - 1)``, ``p = erfc(|S| / sqrt(2 n))``: a small p-value means too many
    ones or zeros for fair coin flips (reject randomness at ``p < 0.01``).

    Parameters
    ----------
    bits : array-like of shape (n_bits,)
        Bits, 0 and 1; NIST recommends at least 100.

    Returns
    -------
    p_value : float
        In [0, 1]; randomness is rejected at ``p < 0.01``.

    See Also
    --------
    runs_test : The NIST runs test.

    Examples
    --------
    The worked example of NIST SP 800-22:

    >>> from skqegm.quantum import monobit_test
    >>> round(monobit_test([1, 0, 1, 1, 0, 1, 0, 1, 0, 1]), 6)
    0.527089
    >>> round(monobit_test([1] * 60 + [0] * 40), 4)  # 60% ones
    0.0455
    """
    bits = _check_bits(bits)
    s = np.sum(2 * bits - 1)
    return float(erfc(abs(s) / math.sqrt(2.0 * bits.size)))


def runs_test(bits):
    """NIST SP 800-22 runs test; returns the p-value (0.0 when the monobit prerequisite fails).

    Counts runs of identical bits: too few or too many for the observed proportion of
    ones means the bits oscillate too slowly or too fast. With ``pi`` the proportion of
    ones and ``V`` the number of runs,
    ``p = erfc(|V - 2 n pi (1 - pi)| / (2 sqrt(2 n) pi (1 - pi)))``; the test is not run
    (``p = 0``) when ``|pi - 1/2| >= 2 / sqrt(n)``.

    Parameters
    ----------
    bits : array-like of shape (n_bits,)
        Bits, 0 and 1, in order; NIST recommends at least 100.

    Returns
    -------
    p_value : float
        In [0, 1]; randomness is rejected at ``p < 0.01``.

    See Also
    --------
    monobit_test : The NIST frequency test.

    Examples
    --------
    The worked example of NIST SP 800-22, then bits that alternate too fast:

    >>> from skqegm.quantum import runs_test
    >>> round(runs_test([1, 0, 0, 1, 1, 0, 1, 0, 1, 1]), 6)
    0.147232
    >>> runs_test([0, 1] * 50) < 0.01
    True
    """
    bits = _check_bits(bits)
    n = bits.size
    pi = bits.mean()
    if abs(pi - 0.5) >= 2.0 / math.sqrt(n):
        return 0.0
    runs = 1 + np.count_nonzero(bits[1:] != bits[:-1])
    expected = 2.0 * n * pi * (1.0 - pi)
    return float(erfc(abs(runs - expected) / (2.0 * math.sqrt(2.0 * n) * pi * (1.0 - pi))))
