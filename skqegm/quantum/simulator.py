"""Exact, batched, differentiable statevector simulation of the variational layer in torch.

The encoding prepares a real input state (a product state for angle encoding, the
normalised feature vector for amplitude encoding) and the ansatz unitary ``U`` does not
depend on the data. So ``U`` is built once per call (one Kronecker product per layer,
chained by the CNOT permutations) and the whole batch is evolved by one real matrix
product ``psi @ [Re U.T | Im U.T]``, in cache-sized chunks of rows. Above
:data:`UNITARY_MAX_QUBITS` qubits the ``4**n`` unitary would cost more than it saves, and
the gates are applied to the batch of states instead.
"""

import functools
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..utils._memory import check_memory
from ..utils._threads import single_torch_thread
from ..utils._validation import check_int, check_option
from .circuits import ENCODINGS, check_entanglement, check_nonzero_rows

#: The exact path refuses more qubits than this (a state of 2**20 amplitudes per sample).
MAX_QUBITS = 20
#: Up to this many qubits the ansatz unitary is built and applied as one matrix product.
UNITARY_MAX_QUBITS = 10
#: Up to this many qubits that unitary is built from one Kronecker product per layer.
KRON_MAX_QUBITS = 8
#: Up to this many qubits, where the cost of each operation dominates, probabilities come
#: from one numpy-built operation with a hand-written backward. That backward rebuilds the
#: unitary at every shifted weight set, ``n_weights * 8**n`` work: above, autograd
#: through the construction is cheaper.
SMALL_CIRCUIT_MAX_QUBITS = 5
# Amplitudes (real and imaginary parts) per chunk of rows: 2**21 floats, 8 MB in float32.
_CHUNK_AMPLITUDES = 2**20
# Amplitudes per chunk of the product-state path (no autograd; each thread works on one
# chunk at a time): 2**17 float64, 1 MB, so the state, its evolved [re | im] and the
# probabilities of a chunk stay in L2 cache (measured at 6 qubits, complex128, one
# thread: 2048-row chunks 1.9x faster than 16384).
_CACHED_AMPLITUDES = 2**17
# Below this many amplitudes in all (rows x 2**n) that path's fixed cost (about 0.2 ms:
# the unitary in torch, the buffers) outweighs its gain: measured up to 2x slower than
# the chunked paths at 16-256 rows, faster from about 2**16 amplitudes.
_PRODUCT_MIN_AMPLITUDES = 2**16
# Estimates below this are not checked against the memory available: reading it costs a
# training step of a few qubits more than half its time (measured 260 -> 430 us).
_UNCHECKED_BYTES = 2**26

_REAL_DTYPES = {torch.complex64: torch.float32, torch.complex128: torch.float64}
OUTPUTS = ("probabilities", "expval_z", "statevector")


class StatevectorSimulator:
    """Exact simulator of encoding + hardware-efficient ansatz (equations 11-13).

    Parameters
    ----------
    n_qubits : int
        Number of qubits, 1 to :data:`MAX_QUBITS`.
    n_layers : int
        Ansatz layers, at least 1.
    encoding : {"angle", "amplitude"}, default="angle"
        How inputs enter: ``Ry(x_i)`` on qubit ``i``, or the normalised feature vector
        as the state's amplitudes (``2**n_qubits`` features at most, zero-padded).
    dtype : {torch.complex64, torch.complex128}, default=torch.complex64
        Precision of the simulation; the outputs are real tensors of the matching
        precision (float32 or float64).
    entanglement : {"linear", None}, default="linear"
        The ansatz's CNOT chain, or none (a product of single-qubit circuits), as in
        :func:`~skqegm.quantum.hardware_efficient_ansatz`.

    Notes
    -----
    Everything is differentiable with torch autograd, with respect to the inputs and the
    weights. The computation runs on the device of the inputs (CPU or CUDA); inputs and
    weights must share it. Weights may carry leading batch dimensions
    ``(..., n_weights)``: each weight set gets its own unitary and the outputs gain the
    same leading dimensions (used for the shifted weight sets of the parameter-shift
    rule).

    Examples
    --------
    >>> import torch
    >>> from skqegm.quantum import StatevectorSimulator
    >>> sim = StatevectorSimulator(n_qubits=2, n_layers=1)
    >>> x = torch.tensor([[0.0, 0.0]])
    >>> sim.expval_z(x, torch.zeros(sim.n_weights))
    tensor([[1., 1.]])
    """

    def __init__(self, n_qubits, n_layers, encoding="angle", dtype=torch.complex64,
                 entanglement="linear"):
        self.n_qubits = check_int(n_qubits, "n_qubits", min_value=1, max_value=MAX_QUBITS)
        self.n_layers = check_int(n_layers, "n_layers", min_value=1)
        self.encoding = check_option(encoding, "encoding", ENCODINGS)
        self.dtype = check_option(dtype, "dtype", tuple(_REAL_DTYPES))
        self.real_dtype = _REAL_DTYPES[dtype]
        self.dim = 2**self.n_qubits
        self.n_weights = 2 * self.n_qubits * self.n_layers
        self.entanglement = check_entanglement(entanglement)
        # Without entanglement the chain's permutation is the identity: every path (gates
        # on the batch, Kronecker unitary, numpy unitary) then skips the CNOTs alike.
        chain = (_cnot_chain_permutation(self.n_qubits) if entanglement is not None
                 else np.arange(self.dim))
        self._cnot_chain = torch.as_tensor(chain)
        self._z_sign_cache = None

    @property
    def _z_signs(self):
        """:func:`z_sign_matrix` as a tensor, built on first use: ``2**n x n`` entries."""
        if self._z_sign_cache is None:
            self._z_sign_cache = torch.as_tensor(z_sign_matrix(self.n_qubits),
                                                 dtype=self.real_dtype)
        return self._z_sign_cache

    @property
    def n_inputs(self):
        """Features per sample: one per qubit (angle) or up to ``2**n`` (amplitude)."""
        return self.n_qubits if self.encoding == "angle" else self.dim

    # -- encoding ---------------------------------------------------------------------------
    def encode(self, X):
        """The real input state of each row, shape ``(n_samples, 2**n_qubits)``."""
        X = torch.as_tensor(X, dtype=self.real_dtype)
        if self.encoding == "amplitude":
            padded = torch.nn.functional.pad(X, (0, self.dim - X.shape[-1]))
            # Each row times the power of two that brings its largest entry near 1 (exact,
            # and a constant for autograd: the state does not depend on the row's scale),
            # so the squares in the norm neither overflow (1e160 gave zeros) nor underflow.
            peak = padded.detach().abs().amax(dim=-1, keepdim=True)
            shift = -torch.frexp(torch.where(peak > 0, peak, 1.0)).exponent.to(padded.dtype)
            half = torch.div(shift, 2, rounding_mode="floor")  # torch's 2**1030 is inf
            padded = torch.ldexp(torch.ldexp(padded, half), shift - half)
            return padded / torch.linalg.vector_norm(padded, dim=-1, keepdim=True)
        half = X / 2
        factors = torch.stack([torch.cos(half), torch.sin(half)], dim=-1)  # (B, n, 2)
        return _product_state(factors)

    # -- ansatz -----------------------------------------------------------------------------
    def apply_ansatz(self, states, weights):
        """Apply the ansatz to complex ``states`` of shape ``(..., M, 2**n)``.

        ``weights`` has shape ``(..., n_weights)``; its leading dimensions broadcast
        against those of ``states``.
        """
        n = self.n_qubits
        gates = _rotation_gates(weights, self.n_qubits, self.n_layers)
        for layer in range(self.n_layers):
            for q in range(n):
                states = _apply_one_qubit(states, gates[..., layer, q, :, :], q, n)
            if n > 1:
                states = states[..., self._cnot_chain.to(states.device)]
        return states

    def transposed_unitary(self, weights):
        """``U.T`` of the ansatz, shape ``(..., 2**n, 2**n)``: row ``k`` is ``U |k>``.

        Up to :data:`KRON_MAX_QUBITS` qubits each layer's rotations are one Kronecker
        product and the layers are chained by matrix products (measured 3.5x faster than
        gate by gate at 6 qubits x 5 layers); above, dense ``4**n`` products cost more
        than applying the gates to the identity.
        """
        weights = torch.as_tensor(weights, dtype=self.real_dtype)
        if self.n_qubits > KRON_MAX_QUBITS:
            eye = torch.eye(self.dim, dtype=self.dtype, device=weights.device)
            return self.apply_ansatz(eye.expand(*weights.shape[:-1], self.dim, self.dim), weights)
        return _ansatz_transposed(weights, self.n_qubits, self.n_layers,
                                  self._cnot_chain.to(weights.device))

    def _split_unitary_numpy(self, weights):
        """``[Re U.T | Im U.T]`` for numpy ``weights``: the real form applied to row states."""
        u_t = _ansatz_transposed(weights, self.n_qubits, self.n_layers, self._cnot_chain.numpy())
        return np.concatenate([u_t.real, u_t.imag], axis=-1)

    # -- outputs ----------------------------------------------------------------------------
    def probabilities(self, X, weights):
        """Outcome probabilities ``|<k|psi>|^2``, shape ``(..., n_samples, 2**n)``.

        Outcome ``k`` is the integer of the measured bitstring in Qiskit's order
        (qubit 0 is the least significant bit).
        """
        return self._evolve(X, weights, "probabilities")

    def expval_z(self, X, weights):
        """Expectation values ``<Z_i>`` of every qubit, shape ``(..., n_samples, n_qubits)``.

        Reduced chunk by chunk: the ``2**n`` probabilities of all rows are never held.
        """
        return self._evolve(X, weights, "expval_z")

    def statevector(self, X, weights):
        """Complex output states, shape ``(..., n_samples, 2**n)``."""
        return self._evolve(X, weights, "statevector")

    def _evolve(self, X, weights, output):
        """Evolve the encoded rows of ``X`` to ``output`` (one of :data:`OUTPUTS`).

        Rows go through in chunks of about 8 MB of amplitudes over all weight sets:
        intermediate arrays stay in cache, and no allocation is large enough to be
        page-faulted in afresh on every call (measured: the tall product runs 6x faster
        into reused memory). Without autograd each chunk is written into the output, so
        the peak is the output plus one chunk; with autograd the chunks are concatenated
        (what autograd keeps per row dominates anyway). The estimate of
        :func:`exact_fixed_bytes` + ``n_rows *`` :func:`exact_bytes_per_row` is checked
        first.
        """
        X = torch.as_tensor(X, dtype=self.real_dtype)
        weights = torch.as_tensor(weights, dtype=self.real_dtype)
        self._check_sizes(X, weights)
        if not torch.isfinite(X).all():
            # Also a value beyond the range of a single-precision simulator (3.4e38),
            # which the conversion made infinite: its outputs were NaN.
            raise ValueError(f"X must be finite in the simulator's {self.real_dtype}; got "
                             f"{int((~torch.isfinite(X)).sum())} NaN or infinite value(s).")
        if self.encoding == "amplitude":
            # A zero row has no state: normalising it gave NaN outputs. A row's largest
            # magnitude is zero exactly when its norm is, so it stands in for the norm.
            check_nonzero_rows(X, norms=X.detach().abs().amax(dim=-1).cpu().numpy())
        batch = tuple(weights.shape[:-1])
        n_sets, n_rows = math.prod(batch), X.shape[0]
        grad = torch.is_grad_enabled() and (X.requires_grad or weights.requires_grad)
        self._check_memory(output, n_rows, n_sets, grad, X.device)
        if (not grad and output != "statevector" and self.encoding == "angle"
                and self.n_qubits <= UNITARY_MAX_QUBITS
                and n_rows * self.dim >= _PRODUCT_MIN_AMPLITUDES):
            return self._evolve_product_states(X, weights, output)
        rows = _rows_per_simulator_chunk(self.dim, n_sets)
        chunks = self._chunk_outputs(X, weights, output, rows)
        if grad or n_rows <= rows:
            outs = list(chunks)
            return outs[0] if len(outs) == 1 else torch.cat(outs, dim=-2)
        n_cols = self.n_qubits if output == "expval_z" else self.dim
        out = torch.empty(*batch, n_rows, n_cols, device=X.device,
                          dtype=self.dtype if output == "statevector" else self.real_dtype)
        start = 0
        for chunk in chunks:
            out[..., start:start + chunk.shape[-2], :] = chunk
            start += chunk.shape[-2]
        return out

    def _evolve_product_states(self, X, weights, output):
        """Probabilities or ``<Z>`` of angle-encoded rows without autograd, chunk by chunk.

        The forward path of the transformers and of prediction. Each chunk is laid out
        with the rows along the last axis: its product state ``(2**n, rows)`` is built by
        ``n - 1`` doublings (one multiplication each, vectorised along the rows), evolved
        by ``[Re U | Im U] @ psi`` and squared in place, then written into the output;
        ``<Z>`` is ``S.T @ p``. The working arrays hold :data:`_CACHED_AMPLITUDES`
        amplitudes, so they stay in cache (see ``benchmarks/bench_scale.py --section
        api``).

        On the CPU, with torch set to several threads, the chunks are shared out among
        that many Python threads, each running single-threaded torch on its own rows:
        one fork and join per call instead of one per operation. Measured with
        ``bench_scale.py --section api`` (6 qubits x 5 layers, 100,000 rows, 2 threads,
        5 processes each): ``<Z>`` at 2.5-2.7M rows/s in every process, where torch's
        own threading of each operation gave 2.8-3.0M/s in 3 processes and 1.2-1.3M/s in
        the other 2. The chunks are the same whatever the number of threads, and so are
        the results.
        """
        n, dim = self.n_qubits, self.dim
        batch, n_rows = tuple(weights.shape[:-1]), X.shape[0]
        u_t = self.transposed_unitary(weights.reshape(-1, self.n_weights))
        # Rows of U (not U.T): out^T = [Re U ; Im U] @ psi^T, one (2 dim, dim) per set.
        u_rows = torch.cat([u_t.real, u_t.imag], dim=-1).transpose(-1, -2).contiguous()
        del u_t
        n_cols = n if output == "expval_z" else dim
        # numpy's allocator asks for transparent huge pages: a fresh 51 MB output (6 qubits,
        # 100,000 rows, float64) is page-faulted in 5x faster than from torch.empty
        # (measured 10 ms against 50 ms), a fifth of the whole evaluation.
        device = X.device
        if device.type == "cpu":
            out = torch.from_numpy(np.empty((u_rows.shape[0], n_rows, n_cols), dtype=(
                np.float32 if self.real_dtype == torch.float32 else np.float64)))
        else:
            out = torch.empty(u_rows.shape[0], n_rows, n_cols, dtype=self.real_dtype,
                              device=device)
        signs_t = (self._z_signs.T.contiguous().to(device) if output == "expval_z" else None)
        rows = max(1, min(_rows_per_simulator_chunk(dim, u_rows.shape[0]),
                          _CACHED_AMPLITUDES // dim))
        n_chunks = -(-n_rows // rows)
        workers = min(n_chunks, torch.get_num_threads()) if device.type == "cpu" else 1
        if workers <= 1:
            _evolve_product_rows(X, u_rows, signs_t, out, 0, n_rows, rows)
        else:
            per_worker = -(-n_chunks // workers) * rows
            bounds = [(start, min(n_rows, start + per_worker))
                      for start in range(0, n_rows, per_worker)]
            with single_torch_thread(), ThreadPoolExecutor(len(bounds)) as pool:
                jobs = [pool.submit(_evolve_product_rows, X, u_rows, signs_t, out, start,
                                    stop, rows) for start, stop in bounds]
                for job in jobs:
                    job.result()  # re-raises a worker's exception
        return out.reshape(*batch, n_rows, n_cols)

    def _chunk_outputs(self, X, weights, output, rows):
        """Yield ``output`` for each chunk of ``rows`` rows of ``X``, in order."""
        def finish(probs):
            return probs @ self._z_signs.to(probs.device) if output == "expval_z" else probs

        # The small-circuit path builds its unitary in numpy: CPU only.
        if (output != "statevector" and self.n_qubits <= SMALL_CIRCUIT_MAX_QUBITS
                and X.device.type == "cpu"):
            for x in X.split(rows):
                inputs = x if self.encoding == "angle" else self.encode(x)
                yield finish(_SmallCircuitProbabilities.apply(inputs, weights, self))
        elif self.n_qubits <= UNITARY_MAX_QUBITS:
            u_t = self.transposed_unitary(weights)
            u_split = torch.cat([u_t.real, u_t.imag], dim=-1)
            del u_t  # the split form is all the chunks need
            for x in X.split(rows):
                out = self.encode(x) @ u_split
                re, im = out[..., : self.dim], out[..., self.dim:]
                yield (torch.complex(re, im) if output == "statevector"
                       else finish(re * re + im * im))
        else:
            batch = weights.shape[:-1]
            for x in X.split(rows):
                psi = self.encode(x).to(self.dtype).expand(*batch, x.shape[0], self.dim)
                out = self.apply_ansatz(psi, weights)
                yield out if output == "statevector" else finish(out.real**2 + out.imag**2)

    def _check_memory(self, output, n_rows, n_sets, grad, device):
        fixed, per_row, chunk_per_row = _cached_exact_costs(
            self.n_qubits, output, self.n_layers, n_sets, self.dtype, grad)
        chunk_rows = min(n_rows, _rows_per_simulator_chunk(self.dim, n_sets))
        n_bytes = fixed + chunk_rows * chunk_per_row + n_rows * per_row  # as the public pair
        if n_bytes < _UNCHECKED_BYTES:
            return
        sets = f" x {n_sets} weight sets" if n_sets > 1 else ""
        advice = "pass fewer rows at a time, or use fewer qubits"
        if grad:
            advice += ("; autograd keeps what backward needs of every row (every gate's "
                       f"states above {UNITARY_MAX_QUBITS} qubits)")
        check_memory(
            n_bytes,
            f"StatevectorSimulator(n_qubits={self.n_qubits}, n_layers={self.n_layers})."
            f"{output} on {n_rows} rows{sets}{' with autograd' if grad else ''}",
            advice + ".", device=device,
        )

    def _check_sizes(self, X, weights):
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {tuple(X.shape)}.")
        if X.shape[-1] > self.n_inputs or (self.encoding == "angle"
                                           and X.shape[-1] != self.n_inputs):
            raise ValueError(
                f"X has {X.shape[-1]} features; the {self.encoding} encoding on "
                f"{self.n_qubits} qubits takes {self.n_inputs}."
            )
        if weights.shape[-1] != self.n_weights:
            raise ValueError(
                f"weights has {weights.shape[-1]} entries; {self.n_layers} layers on "
                f"{self.n_qubits} qubits take {self.n_weights}."
            )


def _rows_per_simulator_chunk(dim, n_sets):
    """Rows per chunk: about :data:`_CHUNK_AMPLITUDES` amplitudes over all weight sets."""
    return max(1, _CHUNK_AMPLITUDES // (dim * n_sets))


def _exact_costs(n_qubits, output, n_layers, n_weight_sets, dtype, requires_grad):
    """``(fixed, per_row, chunk_per_row)`` bytes of the exact path (see the public pair).

    Sizes counted from the code, with the copies each operation makes; checked against
    the resident memory of runs at 4 to 16 qubits, where they are 1-2x what was measured.
    """
    n_qubits = check_int(n_qubits, "n_qubits", min_value=1, max_value=MAX_QUBITS)
    n_layers = check_int(n_layers, "n_layers", min_value=1)
    n_sets = check_int(n_weight_sets, "n_weight_sets", min_value=1)
    check_option(output, "output", OUTPUTS)
    r = torch.finfo(_REAL_DTYPES[check_option(dtype, "dtype", tuple(_REAL_DTYPES))]).bits // 8
    c = 2 * r
    dim = 2**n_qubits
    out_row = n_sets * (n_qubits * r if output == "expval_z"
                        else dim * (c if output == "statevector" else r))
    small = output != "statevector" and n_qubits <= SMALL_CIRCUIT_MAX_QUBITS
    fixed = 0.0
    if n_qubits <= UNITARY_MAX_QUBITS:
        # The unitary per weight set: all layers' Kronecker products, their permuted
        # copies and the chain (2 L + 3 matrices), or gates applied to the identity.
        per_unitary = 2 * n_layers + 3 if n_qubits <= KRON_MAX_QUBITS else 4
        if requires_grad and n_qubits > KRON_MAX_QUBITS:
            per_unitary += (n_qubits + 1) * n_layers  # every gate's output is kept
        elif requires_grad:
            per_unitary *= 2
        fixed += float(n_sets) * dim * dim * c * per_unitary
        if small and requires_grad:
            # Backward rebuilds the unitary at every shifted weight, and the derivative map.
            fixed += float(n_sets) * 2 * n_qubits * n_layers * dim * dim * c * per_unitary
            fixed += float(dim) * n_qubits * dim * 8
        # The encoded state, then per weight set [re | im] and the squares.
        chunk_per_row = dim * r * (2 + 5 * n_sets)
        # Autograd keeps the encoded state and [re | im]; backward of the small path
        # multiplies the state by the derivative map (n states).
        grad_per_row = dim * r * (2 + 3 * n_sets + (n_qubits if small else 0))
    else:
        # Gates on the batch of states: the expanded copy, the permuted copies einsum
        # makes and its output, the CNOT gather (measured about 90 B per amplitude in
        # complex64); autograd keeps one to two states per gate (measured 1.3-3 n L).
        chunk_per_row = dim * (r + c) + 10 * n_sets * dim * c
        grad_per_row = dim * (r + c) + n_sets * dim * c * (2 * n_qubits * n_layers + n_layers + 4)
    if output == "expval_z":
        fixed += float(dim) * n_qubits * (r + 8 + 16)  # the signs, built column by column
    per_row = out_row + (grad_per_row + out_row if requires_grad else 0)
    return fixed, per_row, chunk_per_row


# Every forward pass asks, with arguments the simulator has validated: cached.
_cached_exact_costs = functools.lru_cache(maxsize=256)(_exact_costs)


def exact_bytes_per_row(n_qubits, output="probabilities", *, n_layers=1, n_weight_sets=1,
                        dtype=torch.complex64, requires_grad=False):
    """Estimated bytes each input row adds to an exact simulation's peak memory.

    What grows with the number of rows: the row's output for every weight set and, with
    ``requires_grad``, what autograd keeps of the row until backward (the evolved state
    at or below :data:`UNITARY_MAX_QUBITS` qubits, every gate's output state above it).
    The rest does not grow with the rows: see :func:`exact_fixed_bytes`. A batch of
    ``n_rows`` rows needs about
    ``exact_fixed_bytes(...) + n_rows * exact_bytes_per_row(...)``.

    Parameters
    ----------
    n_qubits : int
        Qubits of the circuit, 1 to :data:`MAX_QUBITS`.
    output : {"probabilities", "expval_z", "statevector"}, default="probabilities"
        What each row returns: ``2**n`` real probabilities, ``n`` expectation values or
        ``2**n`` complex amplitudes (per weight set).
    n_layers : int, default=1
        Ansatz layers (with autograd above :data:`UNITARY_MAX_QUBITS` qubits, every
        layer's gates keep a state per row).
    n_weight_sets : int, default=1
        Weight sets evaluated together (the leading dimensions of ``weights``; e.g.
        ``2 * n_weights`` for a parameter-shift Jacobian).
    dtype : {torch.complex64, torch.complex128}, default=torch.complex64
        The simulator's precision (:class:`~skqegm.quantum.EstimatorTransformer` and
        :class:`~skqegm.quantum.SamplerTransformer` use ``complex128``).
    requires_grad : bool, default=False
        Whether autograd records the evaluation (a training step).

    Returns
    -------
    n_bytes : float
        Bytes per row.

    See Also
    --------
    exact_fixed_bytes : The part that does not grow with the rows.

    Examples
    --------
    >>> from skqegm.quantum.simulator import exact_bytes_per_row
    >>> exact_bytes_per_row(16)  # the output row: 2**16 float32 probabilities
    262144.0
    >>> round(exact_bytes_per_row(16, "expval_z", n_layers=3, requires_grad=True) / 2**20)
    52
    """
    return float(_exact_costs(n_qubits, output, n_layers, n_weight_sets, dtype,
                              requires_grad)[1])


def exact_fixed_bytes(n_qubits, output="probabilities", *, n_layers=1, n_weight_sets=1,
                      dtype=torch.complex64, requires_grad=False, n_rows=None):
    """Estimated bytes of an exact simulation that do not grow with the number of rows.

    The ansatz unitary of each weight set (at or below :data:`UNITARY_MAX_QUBITS`
    qubits; ``2**n x 2**n`` complex, with the copies made while building it, and with
    autograd what its construction keeps), the ``2**n x n`` sign matrix of ``expval_z``,
    and the working arrays of one chunk of rows (the simulator evolves about
    ``2**20`` amplitudes at a time, at least one row).

    Parameters
    ----------
    n_qubits, output, n_layers, n_weight_sets, dtype, requires_grad
        As in :func:`exact_bytes_per_row`.
    n_rows : int or None, default=None
        Rows of the batch, when known: a batch smaller than one chunk needs less.

    Returns
    -------
    n_bytes : float

    Examples
    --------
    >>> from skqegm.quantum.simulator import exact_bytes_per_row, exact_fixed_bytes
    >>> total = exact_fixed_bytes(12, n_rows=500) + 500 * exact_bytes_per_row(12)
    >>> round(total / 2**20)  # MiB for 500 rows of 2**12 float32 probabilities
    100
    """
    fixed, _, chunk_per_row = _exact_costs(n_qubits, output, n_layers, n_weight_sets, dtype,
                                           requires_grad)
    rows = _rows_per_simulator_chunk(2**n_qubits, n_weight_sets)
    if n_rows is not None:
        rows = min(rows, max(1, int(n_rows)))
    return float(fixed + rows * chunk_per_row)


def z_sign_matrix(n_qubits):
    """``S[k, i] = +1`` if bit ``i`` of outcome ``k`` is 0 else ``-1``: ``<Z_i> = p @ S``.

    Parameters
    ----------
    n_qubits : int
        Number of qubits ``n``.

    Returns
    -------
    signs : ndarray of shape (2**n_qubits, n_qubits)
        The eigenvalue of ``Z_i`` on each computational basis state, qubit 0 being the
        least significant bit of the outcome (Qiskit's order).

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit import QuantumCircuit
    >>> from qiskit.quantum_info import Statevector
    >>> from skqegm.quantum.simulator import z_sign_matrix
    >>> z_sign_matrix(2).tolist()
    [[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]
    >>> qc = QuantumCircuit(2)
    >>> _ = qc.ry(0.4, 0)
    >>> _ = qc.ry(1.1, 1)
    >>> state = Statevector(qc)
    >>> z = state.probabilities() @ z_sign_matrix(2)
    >>> [round(float(v), 6) for v in z], [round(float(np.cos(a)), 6) for a in (0.4, 1.1)]
    ([0.921061, 0.453596], [0.921061, 0.453596])
    """
    n_qubits = check_int(n_qubits, "n_qubits", min_value=1, max_value=63)
    dim = 2**n_qubits
    check_memory(float(dim) * n_qubits * 8 + dim * 16,
                 f"z_sign_matrix(n_qubits={n_qubits}) ({dim:,} x {n_qubits} float64 signs)",
                 "use fewer qubits.")
    k = np.arange(dim)
    signs = np.empty((dim, n_qubits))
    for q in range(n_qubits):  # column by column: no (2**n, n) int64 intermediates
        signs[:, q] = 1.0 - 2.0 * ((k >> q) & 1)
    return signs


def _product_state(factors):
    """Kronecker product of one-qubit states ``factors[:, q]``, shape ``(B, 2**n)``.

    Qubit ``n - 1`` is the most significant index bit (Qiskit's little-endian order).
    A balanced tree keeps every intermediate small: one full-size product at the end.
    """
    n = factors.shape[1]
    if n == 1:
        return factors[:, 0]
    low, high = factors[:, : n // 2], factors[:, n // 2:]
    product = _product_state(high)[:, :, None] * _product_state(low)[:, None, :]
    # The width spelled out: torch cannot infer a -1 of an empty batch.
    return product.reshape(product.shape[0], product.shape[1] * product.shape[2])


def _product_state_columns(factors, buffer):
    """Product states of ``factors`` ``(n, 2, b)`` as columns, shape ``(2**n, b)``.

    Column ``j`` is the Kronecker product of the one-qubit states ``factors[:, :, j]``,
    qubit ``n - 1`` the most significant index bit (as :func:`_product_state`). Each
    doubling multiplies the ``(m, b)`` state by qubit ``q``'s ``(2, b)`` factor into the
    flat ``buffer`` (``2 * 2**n * b`` entries at least), alternating halves so that no
    step overwrites its input.
    """
    n, _, b = factors.shape
    state = factors[n - 1]
    for step, q in enumerate(range(n - 2, -1, -1)):
        m = state.shape[0]
        offset = (step % 2) * (buffer.numel() // 2)
        target = buffer[offset: offset + 2 * m * b].view(m, 2, b)
        state = torch.mul(state[:, None, :], factors[q][None, :, :], out=target).view(2 * m, b)
    return state


def _evolve_product_rows(X, u_rows, signs_t, out, start, stop, rows):
    """Rows ``start:stop`` of :meth:`StatevectorSimulator._evolve_product_states`, in
    chunks of ``rows``, into ``out`` ``(n_sets, n_rows, n_cols)``.

    ``u_rows`` is ``[Re U ; Im U]`` per weight set ``(n_sets, 2 dim, dim)`` and ``signs_t``
    the ``(n, dim)`` signs of ``<Z>`` (``None`` for probabilities). The working arrays are
    this call's own, so that calls on other rows can run at the same time in threads.
    """
    n, dim = X.shape[1], u_rows.shape[-1]
    size = min(rows, stop - start)
    kwargs = dict(dtype=out.dtype, device=out.device)
    # Flat buffers: a shorter last chunk takes a contiguous prefix of each.
    flat = {"half": n * size, "factors": 2 * n * size, "state": 2 * dim * size,
            "amps": 2 * dim * size, "probs": dim * size, "z": n * size}
    flat = {name: torch.empty(length, **kwargs) for name, length in flat.items()}
    for first in range(start, stop, rows):
        x = X[first:min(first + rows, stop)]
        b = len(x)
        half = flat["half"][: n * b].view(n, b)
        factors = flat["factors"][: 2 * n * b].view(n, 2, b)
        torch.mul(x.T, 0.5, out=half)  # (n, b): half-angles, rows last
        torch.cos(half, out=factors[:, 0])
        torch.sin(half, out=factors[:, 1])  # factors (n, 2, b): the one-qubit states
        psi = _product_state_columns(factors, flat["state"])
        for k in range(u_rows.shape[0]):
            amps = torch.mm(u_rows[k], psi, out=flat["amps"][: 2 * dim * b].view(2 * dim, b))
            amps.mul_(amps)
            probs = torch.add(amps[:dim], amps[dim:], out=flat["probs"][: dim * b].view(dim, b))
            if signs_t is not None:
                probs = torch.mm(signs_t, probs, out=flat["z"][: n * b].view(n, b))
            out[k, first:first + b].copy_(probs.T)


@functools.cache
def _derivative_map(n_qubits):
    """``M`` of shape ``(2**n, n * 2**n)`` with ``psi @ M = [Y'_0 psi | ... | Y'_{n-1} psi]``.

    ``Y' = [[0, -1], [1, 0]]`` on qubit ``q`` maps amplitude ``k ^ 2**q`` to ``k``, with a
    minus sign where bit ``q`` of ``k`` is 0.
    """
    dim = 2**n_qubits
    # Reached only at or below SMALL_CIRCUIT_MAX_QUBITS (40 KB at 5 qubits); dim * n * dim
    # float64 grows as 4**n, so a larger caller is refused rather than served.
    check_memory(8.0 * dim * n_qubits * dim, f"_derivative_map(n_qubits={n_qubits})")
    k = np.arange(dim)
    m = np.zeros((dim, n_qubits, dim))
    for q in range(n_qubits):
        m[k ^ (1 << q), q, k] = 2.0 * ((k >> q) & 1) - 1.0
    return m.reshape(dim, n_qubits * dim)


class _SmallCircuitProbabilities(torch.autograd.Function):
    """Outcome probabilities of a circuit of few qubits, with a hand-written backward.

    ``inputs`` are angles ``(B, n)`` (angle encoding) or real states ``(B, 2**n)``;
    ``weights`` may carry leading weight-set dimensions. At a few qubits the cost is the
    number of operations, not their size: states and unitary are built in numpy (several
    times less overhead per operation than torch), and one autograd node replaces dozens.

    Backward:

    - weights: every weight is the angle of one ``exp(-i w G / 2)`` gate with
      ``G**2 = I``, so ``dU / dw_j = U(w + pi e_j) / 2`` exactly; the unitaries at all
      shifted weight sets come from one batched construction.
    - angles: ``d psi / d x_q = Y'_q psi / 2`` with ``Y' = [[0, -1], [1, 0]]`` on qubit
      ``q`` (the derivative of ``(cos, sin)(x / 2)`` is that pair rotated by 90 degrees,
      halved): one product with a fixed signed permutation gives all ``n``.

    The products of batch size stay in torch: numpy's (OpenBLAS) threads contend with
    torch's inside a training step (measured 50x slower).
    """

    @staticmethod
    def forward(ctx, inputs, weights, simulator):
        if simulator.encoding == "angle":
            half = inputs.numpy() / 2
            psi = torch.from_numpy(_product_state(np.stack([np.cos(half), np.sin(half)], axis=-1)))
        else:
            psi = inputs
        u_split = torch.from_numpy(simulator._split_unitary_numpy(weights.numpy()))
        out = psi @ u_split
        ctx.simulator = simulator
        ctx.save_for_backward(weights, psi, u_split, out)
        re, im = out[..., : psi.shape[-1]], out[..., psi.shape[-1]:]
        return re * re + im * im

    @staticmethod
    def backward(ctx, grad):
        weights, psi, u_split, out = ctx.saved_tensors
        grad_out = 2.0 * out * torch.cat([grad, grad], dim=-1)  # d/d[re | im]
        grad_inputs = grad_weights = None
        if ctx.needs_input_grad[0]:
            grad_psi = grad_out @ u_split.transpose(-1, -2)
            # Summed over the weight sets (leading dimensions); spelled out, as a -1 of a
            # batch of no rows is ambiguous to torch.
            lead = grad_psi.shape[:grad_psi.dim() - psi.dim()]
            grad_inputs = grad_psi.reshape(math.prod(lead), *psi.shape).sum(dim=0)
            if ctx.simulator.encoding == "angle":
                n_qubits = ctx.simulator.n_qubits
                derivatives = psi @ torch.from_numpy(_derivative_map(n_qubits)).to(psi.dtype)
                derivatives = derivatives.reshape(psi.shape[0], n_qubits, psi.shape[-1])
                grad_inputs = 0.5 * (derivatives * grad_inputs.unsqueeze(1)).sum(dim=-1)
        if ctx.needs_input_grad[1]:
            grad_u = (psi.transpose(-1, -2) @ grad_out).numpy()
            w = weights.numpy()
            shifted = w[..., None, :] + np.pi * np.eye(w.shape[-1], dtype=w.dtype)
            derivative = ctx.simulator._split_unitary_numpy(shifted)  # (..., n_w, K, 2K)
            grad_weights = torch.from_numpy(
                0.5 * np.einsum("...ab,...jab->...j", grad_u, derivative))
        return grad_inputs, grad_weights, None


def _kron(gates):
    """Kronecker product of one-qubit gates ``(..., n, 2, 2)``.

    Qubit ``n - 1`` is the most significant.
    """
    n = gates.shape[-3]
    if n == 1:
        return gates[..., 0, :, :]
    low, high = _kron(gates[..., : n // 2, :, :]), _kron(gates[..., n // 2:, :, :])
    a, b = high.shape[-1], low.shape[-1]
    product = high[..., :, None, :, None] * low[..., None, :, None, :]
    return product.reshape(*gates.shape[:-3], a * b, a * b)


def _rotation_gates(weights, n_qubits, n_layers):
    """``Rz(phi) Ry(theta)`` matrices, shape ``(..., n_layers, n_qubits, 2, 2)``.

    ``weights`` is a real numpy array or tensor; the result is complex of matching
    precision, in the same library.
    """
    xp = np if isinstance(weights, np.ndarray) else torch
    w = weights.reshape(*weights.shape[:-1], n_layers, n_qubits, 2)
    half_theta, half_phi = w[..., 0] / 2, w[..., 1] / 2
    c, s = xp.cos(half_theta), xp.sin(half_theta)
    phase = xp.exp(1j * half_phi)  # e^{i phi / 2}
    conj = phase.conj()
    row0 = xp.stack([conj * c, -conj * s], axis=-1)
    row1 = xp.stack([phase * s, phase * c], axis=-1)
    return xp.stack([row0, row1], axis=-2)


def _ansatz_transposed(weights, n_qubits, n_layers, cnot_chain):
    """``U.T`` of the ansatz for real ``weights`` (numpy or torch), at most 8 qubits.

    A row-vector state ``r`` evolves as ``r @ K.T`` for each layer's Kronecker product
    ``K``, and the CNOT chain permutes the columns; ``(A @ B)[:, perm] = A @ B[:, perm]``
    lets every layer carry its own permutation before the chain of products.
    """
    gates = _rotation_gates(weights, n_qubits, n_layers)
    layers_t = _kron(gates).swapaxes(-1, -2)[..., cnot_chain]
    u_t = layers_t[..., 0, :, :]
    for layer in range(1, n_layers):
        u_t = u_t @ layers_t[..., layer, :, :]
    return u_t


def _apply_one_qubit(states, gate, qubit, n_qubits):
    """Apply the 2x2 ``gate`` (``(..., 2, 2)``) on ``qubit`` of ``states`` (``(..., M, 2**n)``)."""
    shape = states.shape
    # Flat index = high * 2**(q+1) + b_q * 2**q + low: split out the bit of this qubit.
    view = states.reshape(*shape[:-1], 2 ** (n_qubits - 1 - qubit), 2, 2**qubit)
    out = torch.einsum("...ij,...mhjl->...mhil", gate, view)
    return out.reshape(shape)


def _cnot_chain_permutation(n_qubits):
    """Index map of ``CNOT(0, 1) CNOT(1, 2) ... CNOT(n-2, n-1)`` on basis states.

    A permutation gate acts as ``new[k] = old[perm[k]]``, so ``perm`` is the inverse map:
    undo the chain on ``k`` by applying the CNOTs in reverse order.
    """
    k = np.arange(2**n_qubits)
    for control in range(n_qubits - 2, -1, -1):
        k = k ^ (((k >> control) & 1) << (control + 1))
    return k
