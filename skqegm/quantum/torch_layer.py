"""The variational layer inside torch models, trainable on every backend.

On the exact backend gradients come from torch autograd through the simulator; on a
fake device with ``shots=None`` through the exact noisy density-matrix simulator
(:class:`~skqegm.quantum.NoisyDensityMatrixSimulator`, readout errors included). On
any other Qiskit backend a ``torch.autograd.Function`` computes the gradients by the
parameter-shift rule (eq. 6): the batch and all its shifted parameter sets, for the
weights and for the angle-encoded inputs, go in ONE primitive call, so a training step
costs one call. The classical parts of a model train by ordinary backprop through this
bridge.
"""

import copy

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..utils._memory import rows_per_chunk
from ..utils._validation import check_random_state
from .gradients import shifted_weight_sets
from .simulator import StatevectorSimulator, exact_bytes_per_row, exact_fixed_bytes
from .transformers import SamplerTransformer

# Rows per primitive call when measuring (bounds a simulator's memory).
_MEASURE_ROWS = 8192


class QuantumLayer(torch.nn.Module):
    """A fitted :class:`EstimatorTransformer` or :class:`SamplerTransformer` as a torch module.

    Parameters
    ----------
    transformer : EstimatorTransformer or SamplerTransformer
        A fitted transformer: its circuit, backend and shots as the fit used them
        (``fitted_params_``, whatever ``set_params`` changed since) and its seed are
        used, and its ``weights_`` initialise the trainable ``weights``.
    dtype : {torch.complex64, torch.complex128}, default=torch.complex64
        Precision of the exact simulator (ignored on Qiskit backends, which compute in
        float64; their outputs take the input's dtype).

    Attributes
    ----------
    weights : torch.nn.Parameter of shape (n_weights,)
        The circuit weights, trained with the rest of the model.

    Examples
    --------
    >>> import torch
    >>> from skqegm.quantum import EstimatorTransformer, QuantumLayer
    >>> qt = EstimatorTransformer(n_layers=1, backend="aer", random_state=0).fit([[0.1, 0.2]])
    >>> layer = QuantumLayer(qt)
    >>> x = torch.tensor([[0.1, 0.2]], dtype=torch.float64, requires_grad=True)
    >>> layer(x).sum().backward()  # parameter shift through Aer
    >>> x.grad.shape, layer.weights.grad.shape
    (torch.Size([1, 2]), torch.Size([4]))
    """

    def __init__(self, transformer, dtype=torch.complex64):
        super().__init__()
        check_is_fitted(transformer)
        fitted = transformer.fitted_params_  # the fit's circuit and shots, not set_params'
        if transformer.runner_ is None and fitted["shots"] is not None:
            raise ValueError(
                f"shots with the exact backend cannot be trained by autograd (the transformer "
                f"was fitted with shots={fitted['shots']}); train on exact values "
                "(shots=None) or sample on a Qiskit backend (e.g. backend='aer')."
            )
        self.transformer = transformer
        real = torch.float32 if dtype == torch.complex64 else torch.float64
        self.weights = torch.nn.Parameter(torch.as_tensor(transformer.weights_, dtype=real))
        self._output = ("probabilities" if isinstance(transformer, SamplerTransformer)
                        else "expval_z")
        self._simulator = None
        if transformer.runner_ is None:
            self._simulator = StatevectorSimulator(
                transformer.n_qubits_, fitted["n_layers"], fitted["encoding"], dtype,
                entanglement=fitted["entanglement"],
            )
        self._rng = np.random.default_rng(transformer.seed_)

    @property
    def _noisy(self):
        """Whether outputs come from the exact noisy simulator (a fake device, no shots)."""
        return self.transformer.exact_noisy

    @property
    def _angle_encoded(self):
        """Whether the fitted circuit takes each input as one rotation angle."""
        return self.transformer.fitted_params_["encoding"] == "angle"

    def forward(self, x):
        """Outputs of the transformer for the rows of ``x``: ``(n_samples, n_outputs)``."""
        if self._simulator is not None:
            return getattr(self._simulator, self._output)(x, self.weights)
        if self._noisy:
            return self._forward_noisy(x)
        if x.requires_grad and not self._angle_encoded:
            raise ValueError(
                "Input gradients on a Qiskit backend need encoding='angle' (each input is "
                "one rotation angle); amplitude encoding has no two-term shift rule."
            )
        seed = int(self._rng.integers(np.iinfo(np.int32).max))
        if not torch.is_grad_enabled():  # no gradients: no shifted rows to run
            W = np.tile(self.weights.detach().double().numpy(), (len(x), 1))
            out = self.transformer.run_pairs(x.detach().double().numpy(), W, seed=seed)
            return torch.as_tensor(out, dtype=x.dtype)
        return _ParameterShift.apply(x, self.weights, self.transformer, seed)

    def _forward_noisy(self, x, output=None):
        """Exact noisy outputs with autograd gradients (no parameter shift)."""
        if self._angle_encoded:
            inputs = x.double()
        elif x.requires_grad and torch.is_grad_enabled():
            raise ValueError("Input gradients through the noisy simulator need "
                             "encoding='angle' (each input is one rotation angle).")
        else:
            inputs = torch.from_numpy(self.transformer.parameter_values(
                x.detach().double().numpy(), np.zeros((len(x), self.weights.numel())))
                [:, :len(self.transformer.input_params_)])
        out = getattr(self.transformer.noisy_simulator(), output or self._output)(
            inputs, self.weights.double())
        return out.to(x.dtype)

    def measure(self, x, random_state=None):
        """One measured outcome per row of ``x`` (integers, qubit 0 least significant).

        The exact backend, and a fake device with ``shots=None``, draw from the exact
        outcome probabilities (the device's noise and readout errors included) with
        ``random_state``, and an estimator backend from the probabilities it estimates;
        any other Qiskit backend runs one shot per row, seeded by
        ``random_state``, in one call per 8,192 rows (a simulator holds every circuit of
        a call in memory: 200,000 rows took 7 GB on Aer).

        On the exact backend the ``2**n`` probabilities of a chunk of rows (scikit-learn's
        ``working_memory``) at a time are drawn from, in row order, so the outcomes do not
        depend on the chunks.

        Raises
        ------
        ValueError
            If ``random_state`` is not None, an integer in ``[0, 2**32 - 1]`` or a
            ``RandomState``.
        MemoryLimitError
            If one chunk of rows cannot fit in memory.
        """
        rng = check_random_state(random_state)
        with torch.no_grad():
            if self._simulator is not None:
                return self._measure_exact(x, rng)
            if self._noisy:
                return self._measure_noisy(x, rng)
            X = x.detach().double().numpy()
            W = np.tile(self.weights.detach().double().numpy(), (len(X), 1))
            if self.transformer.runner_.kind == "estimator" and self._output == "probabilities":
                # An estimator measures nothing: draw from the probabilities it estimates.
                probs = self.transformer.run_pairs(
                    X, W, seed=int(rng.randint(np.iinfo(np.int32).max)))
                cdf = np.cumsum(probs, axis=1)
                u = rng.uniform(size=(len(probs), 1)) * cdf[:, -1:]
                return np.minimum((u > cdf).sum(axis=1), probs.shape[1] - 1)
            blocks = max(1, -(-len(X) // _MEASURE_ROWS))
            outcomes = [
                self.transformer.sample_outcomes(
                    X_block, W_block, seed=int(rng.randint(np.iinfo(np.int32).max)))
                for X_block, W_block in zip(np.array_split(X, blocks), np.array_split(W, blocks))
            ]
            return np.concatenate(outcomes)

    def _measure_exact(self, x, rng):
        sim = self._simulator
        n_rows = len(x)
        outcomes = np.empty(n_rows, dtype=np.int64)
        kwargs = dict(n_layers=sim.n_layers, dtype=sim.dtype)
        # Per row: the probabilities, their float64 copy and cumulative sum, the comparison.
        per_row = exact_bytes_per_row(sim.n_qubits, **kwargs) + 17 * sim.dim
        rows = rows_per_chunk(
            n_rows, per_row,
            exact_fixed_bytes(sim.n_qubits, n_rows=n_rows, **kwargs) + outcomes.nbytes,
            f"QuantumLayer.measure on {n_rows} rows at n_qubits={sim.n_qubits}",
            "measure fewer rows at a time.")
        for start in range(0, n_rows, rows):
            probs = sim.probabilities(x[start:start + rows], self.weights).double().numpy()
            cdf = np.cumsum(probs, axis=1)
            u = rng.uniform(size=(len(probs), 1)) * cdf[:, -1:]
            outcomes[start:start + rows] = np.minimum((u > cdf).sum(axis=1), sim.dim - 1)
        return outcomes

    def _measure_noisy(self, x, rng):
        """Outcomes drawn from the exact noisy (readout-included) probabilities, in row
        order, a chunk of rows at a time."""
        n_rows, dim = len(x), 2**self.transformer.n_qubits_
        outcomes = np.empty(n_rows, dtype=np.int64)
        rows = rows_per_chunk(n_rows, 40.0 * dim, outcomes.nbytes,
                              f"QuantumLayer.measure on {n_rows} rows", "measure fewer rows.")
        for start in range(0, n_rows, rows):
            probs = self._forward_noisy(x[start:start + rows].double(),
                                        "probabilities").numpy()
            cdf = np.cumsum(probs, axis=1)
            u = rng.uniform(size=(len(probs), 1)) * cdf[:, -1:]
            outcomes[start:start + rows] = np.minimum((u > cdf).sum(axis=1), dim - 1)
        return outcomes

    def to_transformer(self):
        """A copy of the transformer holding the current (trained) weights.

        The weights are both its fitted ``weights_`` and its ``weights`` parameter, so a
        ``clone`` (for instance to run the trained circuit on another backend) keeps them.
        The copy runs the same fitted circuit, so on a Qiskit backend its jobs share the
        transformer's job manager: one count of the shots submitted (which ``max_shots``
        budgets against) and one record of jobs, also after a model holding both is
        saved and loaded. A ``clone`` is unfitted and independent.

        Returns
        -------
        transformer : EstimatorTransformer or SamplerTransformer
            Fitted, with the trained weights.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.base import clone
        >>> from skqegm.quantum import QuantumLayer, SamplerTransformer
        >>> X = np.random.default_rng(0).uniform(0, np.pi, size=(4, 2))
        >>> layer = QuantumLayer(SamplerTransformer(n_layers=1, random_state=0).fit(X))
        >>> trained = layer.to_transformer()
        >>> moved = clone(trained).set_params(backend="statevector").fit(X)
        >>> bool(np.allclose(moved.transform(X), trained.transform(X), atol=1e-6))
        True
        """
        # The backends are shared, not copied: a device holds its service's session. So
        # is the job manager: the copy's jobs are the fitted circuit's jobs.
        shared = {id(self.transformer.backend): self.transformer.backend,
                  id(self.transformer.fallback): self.transformer.fallback}
        if self.transformer.runner_ is not None:
            jobs = self.transformer.runner_.jobs
            shared[id(jobs)] = jobs
        fitted = copy.deepcopy(self.transformer, memo=shared)
        weights = self.weights.detach().double().numpy().copy()
        # A copy goes through the saved state, which keeps a device with credentials as
        # its description: the device itself is given back (re-attached), so the copy runs.
        fitted.set_params(weights=weights, backend=self.transformer.backend,
                          fallback=self.transformer.fallback)
        fitted.weights_ = weights.copy()
        return fitted


class _ParameterShift(torch.autograd.Function):
    """Outputs on a Qiskit backend, with their parameter-shift Jacobians from the SAME call.

    When autograd will need gradients, the forward pass appends every row with each
    weight shifted by +/- pi/2 (and, for input gradients, each input shifted) to the
    unshifted rows, so a training step costs one primitive call; backward only contracts.
    """

    @staticmethod
    def forward(ctx, x, weights, transformer, seed):
        X = x.detach().double().numpy()
        W = weights.detach().double().numpy()
        n_rows, n_inputs, n_weights = X.shape[0], X.shape[1], W.size
        rows, weight_rows = [X], [np.tile(W, (n_rows, 1))]
        if ctx.needs_input_grad[1]:
            rows.append(np.tile(X, (2 * n_weights, 1)))
            weight_rows.append(np.repeat(shifted_weight_sets(W), n_rows, axis=0))
        if ctx.needs_input_grad[0]:
            rows.append(np.repeat(shifted_weight_sets(np.zeros(n_inputs)), n_rows, axis=0)
                        + np.tile(X, (2 * n_inputs, 1)))
            weight_rows.append(np.tile(W, (2 * n_inputs * n_rows, 1)))
        out = transformer.run_pairs(np.vstack(rows), np.vstack(weight_rows), seed=seed)

        def jacobian(block, n_params):
            # The width spelled out: numpy cannot infer a -1 for a batch of no rows.
            shifted = block.reshape(2, n_params, n_rows, out.shape[1])
            return (shifted[0] - shifted[1]) / 2.0  # (n_params, n_rows, n_out)

        start = n_rows
        ctx.jac_w = ctx.jac_x = None
        if ctx.needs_input_grad[1]:
            ctx.jac_w = jacobian(out[start: start + 2 * n_weights * n_rows], n_weights)
            start += 2 * n_weights * n_rows
        if ctx.needs_input_grad[0]:
            ctx.jac_x = jacobian(out[start:], n_inputs)
        ctx.dtypes = (x.dtype, weights.dtype)
        return torch.as_tensor(out[:n_rows], dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        grad = grad_out.detach().double().numpy()
        grad_x = grad_w = None
        if ctx.jac_w is not None:
            grad_w = torch.as_tensor(np.einsum("pro,ro->p", ctx.jac_w, grad), dtype=ctx.dtypes[1])
        if ctx.jac_x is not None:
            grad_x = torch.as_tensor(np.einsum("pro,ro->rp", ctx.jac_x, grad), dtype=ctx.dtypes[0])
        return grad_x, grad_w, None, None
