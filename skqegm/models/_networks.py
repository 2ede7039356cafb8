"""The torch networks of the QEGM model: encoder, latents and decoder.

The generative path is ``z ~ N(0, I)`` (plus the noise of eq. 7) -> latent -> decoder.
A latent turns each ``z`` into a finite mixture over *codes* fed to the decoder:

- :class:`QuantumLatent`: ``z`` enters the variational circuit, and the codes are the
  ``2**n`` measurement outcomes (bitstrings as +/-1 vectors) weighted by their Born
  probabilities ``P(k | z, theta)`` (eq. 2);
- :class:`CategoricalLatent`: a control without a circuit: the same ``2**n`` codes,
  weighted by a softmax of logits that a learned linear map computes from ``z``;
- :class:`GaussianLatent`: the classical twin, whose single code is ``z`` itself.

A conditional model may also move the latent with the features: :class:`ConditionalPrior`
shifts and scales ``z`` by linear functions of the context before any latent reads it,
so the mixture weights (the Born distribution, the softmax) follow the features.

The decoder maps a code to a diagonal Gaussian over the data, so the model's density is a
mixture of Gaussians whichever latent is plugged in, and the two latents are compared
with everything else equal.
"""

import numpy as np
import torch
from torch import nn

from ..quantum.simulator import z_sign_matrix


class QuantumLatent(nn.Module):
    """Codes from measuring the variational layer: ``2**n`` bitstrings, Born weights.

    Parameters
    ----------
    layer : QuantumLayer
        The variational layer, built on a fitted
        :class:`~skqegm.quantum.SamplerTransformer` (probabilities out).
    """

    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        # Row k: +1 where bit i of outcome k is 0, else -1 (qubit 0 is bit 0, as in Qiskit).
        signs = z_sign_matrix(layer.transformer.n_qubits_)
        self.register_buffer("code_table", torch.as_tensor(signs, dtype=torch.float32))

    @property
    def n_codes(self):
        """Codes per row: the ``2**n`` outcomes."""
        return len(self.code_table)

    def weights(self, z):
        """Born probabilities ``P(k | z)``, shape ``(n_rows, 2**n)``."""
        return self.layer(z)

    def codes(self, z):
        """The outcome codes, shared by every row: shape ``(2**n, n_qubits)``."""
        return self.code_table

    def sample_codes(self, z, random_state):
        """One measured outcome per row (one shot on the layer's backend), as its code."""
        return self.code_table[self.sample_outcomes(z, random_state)]

    def sample_outcomes(self, z, random_state):
        """One measured outcome per row, as its index into ``code_table``."""
        return torch.as_tensor(self.layer.measure(z, random_state))


class CategoricalLatent(nn.Module):
    """The quantum latent's ``2**n`` codes, weighted by a learned softmax instead of a circuit.

    The circuit's Born probabilities ``P(k | z)`` depend on ``z`` (the encoder's output,
    or a prior draw), so the closest classical analogue reads ``z`` too: the logits are
    a learned affine map of ``z``, ``softmax(A z + b)``. Everything else (codes, decoder,
    loss, training) is the quantum latent's, so the two differ only in how the weights
    over the codes are computed.

    Parameters
    ----------
    n_latent : int
        Dimension of ``z``.
    n_qubits : int
        Bits per code: ``2**n_qubits`` codes.
    """

    def __init__(self, n_latent, n_qubits):
        super().__init__()
        self.logits = nn.Linear(n_latent, 2**n_qubits)
        signs = z_sign_matrix(n_qubits)  # the quantum latent's codes, in its order
        self.register_buffer("code_table", torch.as_tensor(signs, dtype=torch.float32))

    @property
    def n_codes(self):
        """Codes per row: ``2**n``."""
        return len(self.code_table)

    def weights(self, z):
        """``softmax(A z + b)``, shape ``(n_rows, 2**n)``."""
        return torch.softmax(self.logits(z), dim=-1)

    def codes(self, z):
        """The codes, shared by every row: shape ``(2**n, n_qubits)``."""
        return self.code_table

    def sample_outcomes(self, z, random_state):
        """One code per row drawn from its weights, as its index into ``code_table``.

        ``random_state`` is a ``numpy.random.RandomState``; one uniform per row, in row
        order, by the inverse of the cumulative weights.
        """
        with torch.no_grad():
            probs = self.weights(z).double().numpy()
        cdf = np.cumsum(probs, axis=1)
        u = random_state.uniform(size=(len(probs), 1)) * cdf[:, -1:]
        return torch.as_tensor(np.minimum((u > cdf).sum(axis=1), self.n_codes - 1))


class GaussianLatent(nn.Module):
    """The classical twin: the code is the Gaussian latent itself (one component per row)."""

    n_codes = 1

    def weights(self, z):
        return z.new_ones(z.shape[0], 1)

    def codes(self, z):
        return z.unsqueeze(1)

    def sample_codes(self, z, random_state):
        return z


#: Bound of the conditional prior's log scale (a scale within [e^-3, e^3]).
LOG_SCALE_LIMIT = 3.0


class ConditionalPrior(nn.Module):
    """The latent's input moved by the features: ``u = z * exp(s(c)) + m(c)``.

    ``m(c) = M c`` and ``s(c) = 3 tanh(S c / 3)`` are linear in the (standardised)
    context ``c`` (the log scale bounded, so that no feature far outside the training
    range sends it to infinity). Every latent then reads ``u`` instead of ``z``: the
    circuit's angles, the categorical logits' input, the twin's code. Applied to the
    encoded ``z`` and to the prior draws alike, it is the conditional prior
    ``u ~ N(m(c), diag(exp(s(c)))^2)`` of a conditional VAE, the KL term unchanged
    (an affine map applied to both of its distributions). ``M`` and ``S`` start at
    zero, where the model is the unconditional one.

    Parameters
    ----------
    n_context : int
        Features per row.
    n_latent : int
        Dimension of ``z``.
    """

    def __init__(self, n_context, n_latent):
        super().__init__()
        # nn.Parameter, not nn.Linear: the fit's initialisation draws (reset_parameters)
        # stay those of the unconditional model.
        self.shift = nn.Parameter(torch.zeros(n_latent, n_context))
        self.log_scale = nn.Parameter(torch.zeros(n_latent, n_context))

    def forward(self, z, context):
        """``u`` of shape ``broadcast(z, context)[..., n_latent]``: ``z`` is ``(..., n_latent)``,
        ``context`` ``(..., n_context)``."""
        log_scale = LOG_SCALE_LIMIT * torch.tanh(context @ self.log_scale.T / LOG_SCALE_LIMIT)
        return z * torch.exp(log_scale) + context @ self.shift.T


class GenerativeNetwork(nn.Module):
    """Encoder ``x -> q(z | x)``, a latent, and decoder ``code -> N(mean, scale^2)``.

    With a ``context`` (the features ``X`` of a conditional model, one row per data row)
    the encoder reads ``(x, context)`` and the decoder ``(code, context)``: a conditional
    VAE. Without a ``prior`` its prior stays ``N(0, I)``, so the latent's mixture weights
    averaged over the prior are shared by every row and only the components' means and
    scales follow the context; with a :class:`ConditionalPrior` the latent's input, and
    so the weights, follow the context too.
    """

    def __init__(self, encoder, latent, decoder, prior=None):
        super().__init__()
        self.encoder = encoder
        self.latent = latent
        self.decoder = decoder
        self.prior = prior

    def encode(self, x, context=None):
        """``(mean, scale)`` of ``q(z | x)`` (or of ``q(z | x, context)``)."""
        return self.encoder(x if context is None else torch.cat([x, context], dim=-1))

    def mixture(self, z, context=None, rows=None):
        """Per-row mixtures over the data: ``weights (B, K)``, ``mean, scale (K or B x K, d)``.

        ``rows`` (``B`` indices into ``context``, default: one row per ``z``) pairs each
        ``z`` with a context row; with codes shared by every row the decoder then runs
        once per distinct (context row, code) pair.
        """
        if self.prior is not None and context is not None:
            z = self.prior(z, context if rows is None else context[rows])
        weights = self.latent.weights(z)
        codes = self.latent.codes(z)
        if context is None:
            mean, scale = self.decoder(codes)
        elif codes.ndim == 2:  # shared codes: decode each context row once
            mean, scale = self.decoder.pairs(codes, context)
            if rows is not None:
                mean, scale = mean[rows], scale[rows]
        else:
            mean, scale = self.decoder.pairs(codes, context if rows is None else context[rows])
        return weights, mean, scale


def with_context(codes, context):
    """Decoder inputs for a mixture: ``codes`` (``(K, n)``, shared by every row, or
    ``(B, K, n)``) beside each row's ``context`` ``(B, p)``; unchanged without context."""
    if context is None:
        return codes
    if codes.ndim == 2:
        codes = codes.expand(context.shape[0], *codes.shape)
    context = context.unsqueeze(1).expand(-1, codes.shape[1], -1)
    return torch.cat([codes, context], dim=-1)


def take_rows(mixture, rows):
    """The per-row mixtures of ``rows`` (a slice) out of ``(weights, mean, scale)``."""
    weights, mean, scale = mixture
    if mean.ndim == 2:  # codes shared by every row
        return weights[rows], mean, scale
    return weights[rows], mean[rows], scale[rows]


def average_rows(mixture):
    """The mixture averaged over its rows: ``weights (J,)``, ``mean, scale (J, d)``.

    With shared codes (the quantum latent) the ``2**n`` components keep their codes and
    average their weights; with per-row codes every row is a component of weight 1/B.
    """
    weights, mean, scale = mixture
    if mean.ndim == 2:
        return weights.mean(dim=0), mean, scale
    return (weights / weights.shape[0]).reshape(-1), mean.flatten(0, 1), scale.flatten(0, 1)
