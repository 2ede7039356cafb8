"""The variational layer inside torch models, trainable on every backend.

On the exact backend gradients come from torch autograd through the simulator. On a
Qiskit backend a ``torch.autograd.Function`` runs the forward pass on the backend and the
backward pass by the parameter-shift rule (eq. 6): all shifted parameter sets of the
batch, for the weights and for the angle-encoded inputs, go in ONE primitive call. The
classical parts of a model train by ordinary backprop through this bridge.
"""

import copy

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .gradients import shifted_weight_sets
from .simulator import StatevectorSimulator


class QuantumLayer(torch.nn.Module):
    """A fitted :class:`EstimatorTransformer` or :class:`SamplerTransformer` as a torch module.

    Parameters
    ----------
    transformer : EstimatorTransformer or SamplerTransformer
        A fitted transformer: its circuit, backend, shots and seed are used and its
        ``weights_`` initialise the trainable ``weights``.
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
        if transformer._runner is None and transformer.shots is not None:
            raise ValueError(
                "shots with the exact backend cannot be trained by autograd; train on exact "
                "values (shots=None) or sample on a Qiskit backend (e.g. backend='aer')."
            )
        self.transformer = transformer
        real = torch.float32 if dtype == torch.complex64 else torch.float64
        self.weights = torch.nn.Parameter(torch.as_tensor(transformer.weights_, dtype=real))
        self._simulator = None
        if transformer._runner is None:
            self._simulator = StatevectorSimulator(
                transformer.n_qubits_, transformer.n_layers, transformer.encoding, dtype
            )
        self._rng = np.random.default_rng(transformer.seed_)

    def forward(self, x):
        """Outputs of the transformer for the rows of ``x``: ``(n_samples, n_outputs)``."""
        if self._simulator is not None:
            return getattr(self._simulator, self.transformer._output)(x, self.weights)
        if x.requires_grad and self.transformer.encoding != "angle":
            raise ValueError(
                "Input gradients on a Qiskit backend need encoding='angle' (each input is "
                "one rotation angle); amplitude encoding has no two-term shift rule."
            )
        seed = int(self._rng.integers(np.iinfo(np.int32).max))
        return _ParameterShift.apply(x, self.weights, self.transformer, seed)

    def to_transformer(self):
        """A copy of the transformer holding the current (trained) weights."""
        fitted = copy.deepcopy(self.transformer)
        fitted.weights_ = self.weights.detach().double().numpy().copy()
        return fitted


class _ParameterShift(torch.autograd.Function):
    """Forward on a Qiskit backend; backward by parameter shift, one primitive call."""

    @staticmethod
    def forward(ctx, x, weights, transformer, seed):
        X = x.detach().double().numpy()
        W = weights.detach().double().numpy()
        out = transformer._run_pairs(X, np.tile(W, (len(X), 1)), seed=seed)
        ctx.save_for_backward(x, weights)
        ctx.transformer, ctx.seed = transformer, seed
        return torch.as_tensor(out, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        x, weights = ctx.saved_tensors
        X, W = x.detach().double().numpy(), weights.detach().double().numpy()
        n_rows, n_inputs, n_weights = X.shape[0], X.shape[1], W.size
        # Rows: every row with each shifted weight set, then (for input gradients) every
        # row with each input shifted, all with their partner weights: one call.
        rows = [np.tile(X, (2 * n_weights, 1))]
        weight_rows = [np.repeat(shifted_weight_sets(W), n_rows, axis=0)]
        if ctx.needs_input_grad[0]:
            rows.append(np.repeat(shifted_weight_sets(np.zeros(n_inputs)), n_rows, axis=0)
                        + np.tile(X, (2 * n_inputs, 1)))
            weight_rows.append(np.tile(W, (2 * n_inputs * n_rows, 1)))
        out = ctx.transformer._run_pairs(np.vstack(rows), np.vstack(weight_rows), seed=ctx.seed + 1)
        grad = grad_out.detach().double().numpy()

        def contract(block, n_params):
            shifted = block.reshape(2, n_params, n_rows, -1)
            jac = (shifted[0] - shifted[1]) / 2.0  # (n_params, n_rows, n_out)
            return np.einsum("pro,ro->rp", jac, grad)

        grad_w = contract(out[: 2 * n_weights * n_rows], n_weights).sum(axis=0)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.as_tensor(contract(out[2 * n_weights * n_rows:], n_inputs),
                                     dtype=x.dtype)
        return grad_x, torch.as_tensor(grad_w, dtype=weights.dtype), None, None


