"""Random numbers from measured Hadamard circuits (the ``r ~ QRNG`` of eq. 7).

Honest note: on a simulator ("exact", "statevector", "aer", or a fake device) the
measured bits come from the simulator's seeded pseudo-random generator, so they are
exactly as random as a PRNG and reproducible from ``random_state``. Only real quantum
hardware gives quantum randomness, and hardware bits are biased by readout error,
which the von Neumann extractor removes (at the cost of about 3/4 of the bits).
"""

import math
import numbers

import numpy as np
from scipy.special import erfc

from ..utils._memory import check_memory, rows_per_chunk
from ..utils._validation import check_int, check_option, check_random_state, check_shots
from .backends import CircuitRunner, check_backend, check_state_memory

EXTRACTORS = ("von_neumann", None)
_FLOAT_BITS = 53  # a double's mantissa: random() is uniform on the 2**53 grid of [0, 1)
# The von Neumann extractor keeps 1/4 of unbiased bits: a refill asks for 4x, plus slack.
_VON_NEUMANN_FACTOR = 4.4
# Working bytes per sampled outcome of the exact backend while it becomes bits: the
# outcome and choice()'s uniform draw and index (8 B each), its bytes, then per qubit the
# uint8 bit, the extractor's pair mask and its output, with room for a copy.
_OUTCOME_BYTES = 32
_OUTCOME_BYTES_PER_QUBIT = 4
# Bytes per shot of a Qiskit sampler running one parameter set with many shots (measured
# 850 B on StatevectorSampler, 230 B on Aer), plus the outcome and its bits.
_RUNNER_SHOT_BYTES = 1024
# Working bytes per float of random(): 53 uint8 bits, their uint64 copy, the integer.
_FLOAT_CHUNK_BYTES = _FLOAT_BITS * 9 + 16


class QuantumRandomSource:
    """Uniform random bits and floats from measured Hadamard circuits.

    Each qubit is put in ``|+>`` by a Hadamard gate and measured; a run of ``shots``
    shots gives ``n_qubits * shots`` raw bits, optionally whitened by an extractor.

    Parameters
    ----------
    n_qubits : int, default=8
        Qubits measured per shot, 1 to 64.
    backend : None, str, BackendV2 or BaseSamplerV2, default=None
        Where the circuit runs (see :mod:`skqegm.quantum.backends`). ``None`` or
        ``"exact"`` samples the exact outcome distribution with a seeded generator.
    shots : int, default=1024
        Shots per circuit execution on a Qiskit backend; a refill asks for as many
        multiples of ``shots`` as it needs, in one primitive call. The exact backend
        samples one endless run of shots.
    extractor : {"von_neumann", None}, default="von_neumann"
        ``"von_neumann"`` maps the bit pairs ``10 -> 1`` and ``01 -> 0`` and drops
        ``00`` and ``11``: independent but biased bits become unbiased ones.
        ``None`` returns the raw bits.
    random_state : int, RandomState instance or None, default=None
        Seeds the simulator; ignored by hardware. The same value gives the same bits:
        on the exact backend the same stream whatever the calls that read it
        (``random(100)`` then ``random(900)`` is ``random(1000)``, as with numpy's
        generators).
    jobs : JobManager or None, default=None
        Submits the circuits of a Qiskit backend (retries, shot budget, Batch, records);
        a model passes its fit's, so that its random bits share them. ``None`` makes one.

    Notes
    -----
    Memory: a request is estimated before anything is sampled and refused with a
    :class:`~skqegm.exceptions.MemoryLimitError` when its output (one byte per bit, eight
    per float) and one chunk of work cannot fit. Raw bits are generated, extracted and
    converted in chunks that follow scikit-learn's ``working_memory``: with the von
    Neumann extractor ``n`` bits take about ``4.4 n`` raw bits, that is
    ``4.4 n / n_qubits`` shots, but never all at once. On the exact backend every chunk
    continues one seeded generator, so the bits depend neither on the chunk size nor on
    how the requests cut the stream. A Qiskit backend samples a refill in one primitive
    call with a seed of its own (one job per request, as its cost estimate counts), so
    there the bits follow the sizes of the requests; a refill asks for at most one
    ``working_memory`` of shots (about ``working_memory / 1 KiB``) and a larger request
    takes several calls.

    Examples
    --------
    >>> from skqegm.quantum import QuantumRandomSource
    >>> qrng = QuantumRandomSource(random_state=0)
    >>> u = qrng.random(1000)
    >>> bool((u >= 0).all() and (u < 1).all()), qrng.bits(16).size
    (True, 16)
    """

    def __init__(self, n_qubits=8, backend=None, shots=1024, extractor="von_neumann",
                 random_state=None, jobs=None):
        self.n_qubits = n_qubits
        self.backend = backend
        self.shots = shots
        self.extractor = extractor
        self.random_state = random_state
        self.jobs = jobs

    def bits(self, n):
        """``n`` random bits as a ``uint8`` array of 0 and 1.

        Parameters
        ----------
        n : int
            Number of bits, at least 0.

        Returns
        -------
        bits : ndarray of shape (n,), dtype uint8

        Raises
        ------
        MemoryLimitError
            If the ``n`` output bytes and one chunk of work cannot fit in memory.
        """
        n = check_int(n, "n", min_value=0)
        self._ensure_setup()
        self._plan(n, float(n), f"QuantumRandomSource.bits(n={n})", "n")
        out = np.empty(n, dtype=np.uint8)
        self._read(out, n)
        return out

    def random(self, size=None):
        """Floats uniform on ``[0, 1)``, ``53`` bits each, like ``numpy.random.random``.

        Parameters
        ----------
        size : None, int or tuple of int, default=None
            Output shape; ``None`` returns one float.

        Returns
        -------
        values : float or ndarray of shape ``size``

        Raises
        ------
        MemoryLimitError
            If the output (8 bytes per float) and one chunk of work cannot fit in memory.
        """
        shape = _check_size(size)
        count = math.prod(shape)
        self._ensure_setup()
        n_bits = count * _FLOAT_BITS
        what = f"QuantumRandomSource.random(size={size!r})"
        floats_per_chunk = rows_per_chunk(count, _FLOAT_CHUNK_BYTES, 8.0 * count, what,
                                           self._advice(n_bits, "size"))
        self._plan(n_bits, 8.0 * count + floats_per_chunk * _FLOAT_CHUNK_BYTES, what, "size")
        values = np.empty(count)
        powers = np.uint64(1) << np.arange(_FLOAT_BITS - 1, -1, -1, dtype=np.uint64)
        chunk = np.empty(min(count, floats_per_chunk) * _FLOAT_BITS, dtype=np.uint8)
        for start in range(0, count, floats_per_chunk):
            stop = min(count, start + floats_per_chunk)
            bits = chunk[: (stop - start) * _FLOAT_BITS]
            # The bits this call still needs decide a refill's size, as when they were
            # all asked for at once.
            self._read(bits, n_bits - start * _FLOAT_BITS)
            integers = bits.reshape(-1, _FLOAT_BITS).astype(np.uint64) @ powers
            values[start:stop] = integers.astype(np.float64) / 2.0**_FLOAT_BITS
        return values.reshape(shape) if shape else float(values[0])

    def estimate_shots(self, size):
        """Shots that ``random(size)`` submits to a Qiskit backend, at most, in one job.

        The refill for ``53 * size`` bits asks for about 4.4 raw bits per bit with the von
        Neumann extractor, which keeps a quarter of fair bits: bits biased by more than
        about 15% may need a second refill. Bits left from an earlier call lower the
        shots. The exact backend submits nothing.

        Parameters
        ----------
        size : int
            Floats asked for.

        Returns
        -------
        shots : int

        Examples
        --------
        >>> from skqegm.quantum import QuantumRandomSource
        >>> QuantumRandomSource(backend="aer").estimate_shots(100)  # 5,300 bits
        3072
        >>> QuantumRandomSource().estimate_shots(100)
        0
        """
        if check_backend(self.backend) == "exact" or size == 0:
            return 0
        return self._executions(size * _FLOAT_BITS) * self.shots

    # -- setup ------------------------------------------------------------------------------
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
        rng = check_random_state(self.random_state)
        what = f"QuantumRandomSource(n_qubits={n_qubits}, backend={kind!r})"
        if kind in ("exact", "statevector"):
            # Both hold the 2**n amplitudes (Aer samples this Clifford circuit with its
            # stabilizer method, without them).
            check_state_memory(n_qubits, kind, what, "use fewer qubits or backend='aer'.",
                               sampled=kind == "statevector")
        elif kind != "sampler":
            check_memory(float(self.shots) * _RUNNER_SHOT_BYTES,
                         f"{what} with shots={self.shots} per execution", "use fewer shots.")
        self._rng = rng
        # The circuit is Qiskit's on every backend (the exact one included).
        from qiskit import QuantumCircuit
        from qiskit.quantum_info import Statevector

        self._circuit = QuantumCircuit(n_qubits)
        self._circuit.h(range(n_qubits))
        # The exact backend samples the circuit's exact outcome distribution with a seeded
        # generator, as StatevectorSampler does, without its per-shot overhead (100x):
        # one generator for the source's whole life, so its bits are one stream.
        self._runner = None
        self._exact_probs = None
        if kind == "exact":
            self._exact_probs = Statevector(self._circuit).probabilities()
            self._stream_rng = np.random.default_rng(self._new_seed())
        else:
            self._runner = CircuitRunner(self.backend, self.shots, self._new_seed(),
                                         jobs=self.jobs)
            if kind == "device":  # its qubits, and Aer's state under the device's noise
                self._runner.check_width(n_qubits, what)
        self._buffer = np.empty(0, dtype=np.uint8)  # extracted bits not yet returned
        self._odd_bit = None  # raw bits carried to the next chunk: pairs span chunks
        self._chunk_outcomes = 2
        self._max_executions = 1

    def _new_seed(self):
        return int(self._rng.randint(np.iinfo(np.int32).max))

    def _plan(self, n_bits, fixed_bytes, what, argument):
        """Refuse a request of ``n_bits`` that cannot fit, and size its chunks of outcomes.

        ``fixed_bytes`` is what the call holds besides the outcomes: its output, and for
        :meth:`random` one chunk of floats.
        """
        executions = self._executions(n_bits)
        advice = self._advice(n_bits, argument)
        if self._runner is None:
            # Chunks as large as the request needs (the stream's content does not
            # depend on them).
            needed = math.ceil(self._raw_bits(n_bits) / self.n_qubits)
            per_outcome = _OUTCOME_BYTES + _OUTCOME_BYTES_PER_QUBIT * self.n_qubits
        else:
            needed, per_outcome = executions * self.shots, _RUNNER_SHOT_BYTES
        rows = rows_per_chunk(needed, per_outcome, fixed_bytes + self._buffer.nbytes, what,
                               advice)
        # An even number of outcomes per chunk: n_qubits * rows raw bits pair up exactly.
        self._chunk_outcomes = max(2, rows - rows % 2)
        # A Qiskit refill is one primitive call: at most one chunk of shots. When the whole
        # request fits, rows // shots is all its executions, so the bits are the same.
        self._max_executions = max(1, rows // self.shots)

    def _advice(self, n_bits, argument):
        shots = self._executions(n_bits) * self.shots
        kept = ("the von Neumann extractor keeps about 1/4 of the raw bits"
                if self.extractor else "without an extractor")
        return (f"lower {argument}: its {n_bits:,} bits take about {shots:,} shots of "
                f"{self.n_qubits} qubits ({kept}); they are generated in chunks, but the "
                "output must fit.")

    def _executions(self, needed):
        """Executions of ``shots`` shots a refill for ``needed`` bits asks for."""
        return max(1, math.ceil(self._raw_bits(needed) / (self.n_qubits * self.shots)))

    def _raw_bits(self, needed):
        """Raw bits that give ``needed`` bits through the extractor, with some slack."""
        factor = _VON_NEUMANN_FACTOR if self.extractor == "von_neumann" else 1.0
        return math.ceil(needed * factor) + 64

    # -- the stream of bits -----------------------------------------------------------------
    def _read(self, out, remaining):
        """Fill ``out`` with the next bits of the stream.

        ``remaining`` is the number of bits the calling request still needs (``out``
        included): a refill asks for what the request still needs, exactly as when one
        refill filled a buffer with all of a request's bits. The bits of a refill are
        produced a chunk at a time, when they are read.
        """
        filled = 0
        while filled < out.size:
            if self._buffer.size == 0:
                self._produce(remaining - filled)
                continue
            take = min(out.size - filled, self._buffer.size)
            out[filled:filled + take] = self._buffer[:take]
            self._buffer = self._buffer[take:]
            filled += take

    def _produce(self, needed):
        """Extract the next chunk of bits into the buffer (a refill on a Qiskit backend)."""
        if self._runner is not None:
            self._buffer = self._extract(self._runner_refill(needed))
            return
        # Calls of one generator's choice() continue one stream of outcomes, and odd raw
        # bits carry over: the bits are the same however requests and chunks cut them.
        size = min(self._chunk_outcomes,
                   math.ceil(self._raw_bits(needed) / self.n_qubits))
        outcomes = self._stream_rng.choice(self._exact_probs.size, size=max(1, size),
                                           p=self._exact_probs)
        self._buffer = self._extract(outcomes, last=False)

    def _runner_refill(self, needed):
        """One primitive call of at most ``_max_executions`` executions of ``shots`` shots."""
        # One parameter-free PUB with all the shots: Aer's sampler fills only the first
        # row of a sweep over an empty parameter set.
        shots = min(self._executions(needed), self._max_executions) * self.shots
        self._odd_bit = None
        return self._runner.sample_outcomes(
            self._circuit, [], np.zeros((1, 0)), shots=shots, seed=self._new_seed()
        ).ravel()

    def _extract(self, outcomes, last=True):
        """Bits of ``outcomes`` (qubit 0 first), through the extractor.

        The extractor pairs the raw bits of a whole refill; a chunk with an odd number of
        raw bits keeps its last one for the next chunk (and the last chunk drops it).
        """
        # Bit q of each outcome is bit q of its little-endian bytes: unpacking them gives
        # what (outcome >> q) & 1 gives (two's complement included) at 1/8 of the memory.
        as_bytes = np.ascontiguousarray(outcomes, dtype="<i8").view(np.uint8).reshape(-1, 8)
        raw = np.unpackbits(as_bytes[:, : -(-self.n_qubits // 8)], axis=1, bitorder="little",
                            count=self.n_qubits).ravel()
        if not self.extractor:
            return raw
        if self._odd_bit is not None:
            raw = np.concatenate([self._odd_bit, raw])
            self._odd_bit = None
        if raw.size % 2 and not last:
            raw, self._odd_bit = raw[:-1], raw[-1:].copy()
        return von_neumann_extract(raw)


def _check_size(size):
    """``size`` of :meth:`QuantumRandomSource.random` as a shape tuple of integers >= 0."""
    dims = (size,) if isinstance(size, numbers.Integral) else size
    if size is None:
        return ()
    try:
        dims = tuple(dims)
    except TypeError:
        dims = None
    if dims is None or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool)
                               and d >= 0 for d in dims) or isinstance(size, bool):
        raise ValueError(f"size must be None, an integer >= 0 or a tuple of them; got {size!r}.")
    return tuple(int(d) for d in dims)


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
