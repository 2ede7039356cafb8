"""Torch building blocks of the networks (MLPs, Gaussian heads) and the densities of the
diagonal Gaussian mixtures they decode to, in torch for training and in numpy for scoring."""

import copy
import math

import numpy as np
import torch
from scipy.special import logsumexp
from torch import nn

# Smallest decoder standard deviation, in units of the standardised data: keeps the
# likelihood bounded when a component sits on repeated values.
MIN_SCALE = 1e-3


def mlp(n_inputs, hidden_layer_sizes, n_outputs):
    """A ReLU multilayer perceptron from ``n_inputs`` through hidden layers to ``n_outputs``.

    Parameters
    ----------
    n_inputs : int
        Width of the input.
    hidden_layer_sizes : sequence of int
        Width of each hidden layer, each followed by a ReLU; empty for an affine map.
    n_outputs : int
        Width of the output (no activation).

    Returns
    -------
    network : torch.nn.Sequential

    Examples
    --------
    >>> import torch
    >>> from skqegm.nn.modules import mlp
    >>> net = mlp(3, (8, 8), 2)
    >>> net(torch.zeros(5, 3)).shape
    torch.Size([5, 2])
    """
    sizes = [n_inputs, *hidden_layer_sizes]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], n_outputs))
    return nn.Sequential(*layers)


def reset_parameters(module, generator):
    """Draw the weights of every ``nn.Linear`` in ``module`` from ``generator``, in place.

    The same distribution as torch's default initialisation (uniform within
    ``1/sqrt(fan_in)``), but from a private generator instead of torch's global one. The
    parameters of other layers keep the values they were built with, which must not be
    random (the quantum layer's weights come from its seeded circuit).

    Parameters
    ----------
    module : torch.nn.Module
    generator : torch.Generator
        The only source of randomness: the same seed gives the same weights, whatever
        torch's global seed.

    Examples
    --------
    >>> import torch
    >>> from skqegm.nn.modules import mlp, reset_parameters
    >>> a, b = mlp(2, (4,), 1), mlp(2, (4,), 1)
    >>> reset_parameters(a, torch.Generator().manual_seed(0))
    >>> _ = torch.manual_seed(123)  # the global seed plays no part
    >>> reset_parameters(b, torch.Generator().manual_seed(0))
    >>> all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    True
    """
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                bound = 1 / math.sqrt(layer.in_features) if layer.in_features else 0.0
                # kaiming_uniform_ with a=sqrt(5) is torch's default: the same bound.
                nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
                if layer.bias is not None:
                    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


class GaussianHead(nn.Module):
    """An MLP whose output is a diagonal Gaussian: a mean and a scale of ``n_outputs`` each.

    The scale is ``softplus(raw) + MIN_SCALE``: positive, and bounded below so that a
    likelihood stays finite on repeated values.

    Parameters
    ----------
    n_inputs : int
        Width of the input.
    hidden_layer_sizes : sequence of int
        Hidden widths of the MLP (see :func:`mlp`).
    n_outputs : int
        Dimension of the Gaussian.

    Examples
    --------
    >>> import torch
    >>> from skqegm.nn.modules import GaussianHead, MIN_SCALE
    >>> head = GaussianHead(3, (16,), 2)
    >>> mean, scale = head(torch.randn(4, 3))
    >>> mean.shape, scale.shape, bool((scale >= MIN_SCALE).all())
    (torch.Size([4, 2]), torch.Size([4, 2]), True)

    :meth:`pairs` decodes every (code, context row) pair without building them:

    >>> codes, context = torch.randn(5, 1), torch.randn(4, 2)
    >>> pairs = torch.cat([codes.expand(4, 5, 1), context[:, None].expand(4, 5, 2)], -1)
    >>> torch.allclose(head.pairs(codes, context)[0], head(pairs)[0], atol=1e-6)
    True
    """

    def __init__(self, n_inputs, hidden_layer_sizes, n_outputs):
        super().__init__()
        self.n_outputs = n_outputs
        self.net = mlp(n_inputs, hidden_layer_sizes, 2 * n_outputs)

    def forward(self, inputs):
        return self._gaussian(self.net(inputs))

    @staticmethod
    def _gaussian(outputs):
        mean, raw_scale = outputs.chunk(2, dim=-1)
        return mean, nn.functional.softplus(raw_scale) + MIN_SCALE

    def pairs(self, codes, context):
        """``forward`` of every pair ``[codes[..., k, :], context[i]]``, differentiable.

        ``codes`` is ``(n_codes, n)`` (shared by every row) or ``(n_context, n_codes, n)``;
        the output is ``(n_context, n_codes, n_outputs)``. The same as ``forward`` on the
        concatenated pairs up to float rounding, without building them: the first
        layer's code part is computed once per code and its context part once per row.
        """
        return self._gaussian(self.net[1:](_split_first_layer(self.net[0], codes, context)))

    @torch.no_grad()
    def forward_pairs(self, codes, context, dtype=torch.float64):
        """:meth:`pairs` without gradients, computed in ``dtype`` from the current weights.

        Shape ``(n_context, n_codes, n_outputs)``.
        """
        net = copy.deepcopy(self.net).to(dtype)  # a few kB: the module itself stays float32
        hidden = _split_first_layer(net[0], codes.to(dtype), context.to(dtype))
        return self._gaussian(net[1:](hidden))

    @torch.no_grad()
    def spread_means_(self, inputs):
        """Rescale the output layer so that the means over ``inputs`` have mean 0, std 1.

        A freshly initialised MLP gives nearly the same mean for every input, so the
        mixture starts as one bump and gradient descent tends to settle in a scale
        mixture centred on the data (wide and narrow components, no separate modes).
        Spreading the initial means like standardised data breaks that symmetry, the way
        k-means initialisation does for a Gaussian mixture.
        """
        mean = self(inputs)[0].reshape(-1, self.n_outputs)
        center, spread = mean.mean(dim=0), mean.std(dim=0).clamp_min(1e-6)
        last = self.net[-1]
        last.weight[: self.n_outputs] /= spread[:, None]
        last.bias[: self.n_outputs] = (last.bias[: self.n_outputs] - center) / spread


def _split_first_layer(first, codes, context):
    """``first`` (an ``nn.Linear``) on every ``[code, context row]`` pair, by its two parts."""
    n_codes = codes.shape[-1]
    per_row = (context @ first.weight[:, n_codes:].T)[:, None, :]
    # The bias added in place: the same sums, in the same order, without a second
    # (rows x codes x width) tensor (the backward of an addition needs no operand).
    return torch.add(per_row, codes @ first.weight[:, :n_codes].T).add_(first.bias)


def log_mixture_density(x, weights, mean, scale):
    """``log sum_k w_k N(x; mean_k, diag(scale_k^2))`` for each row of ``x``, in torch.

    Differentiable (the training loss); zero weights (unobserved outcomes under shot
    noise) are clamped so that their gradient is zero rather than NaN.

    Parameters
    ----------
    x : torch.Tensor of shape (B, d)
    weights : torch.Tensor of shape (B, K) or (K,)
        Per-row or shared mixture weights.
    mean, scale : torch.Tensor of shape (K, d) or (B, K, d)
        Shared or per-row components.

    Returns
    -------
    log_density : torch.Tensor of shape (B,)

    Examples
    --------
    >>> import numpy as np, torch
    >>> from scipy.stats import norm
    >>> from skqegm.nn.modules import log_mixture_density
    >>> x = torch.tensor([[0.3], [-1.0]], dtype=torch.float64)
    >>> w = torch.tensor([0.25, 0.75], dtype=torch.float64)
    >>> mean = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> scale = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    >>> ref = np.log(0.25 * norm.pdf([0.3, -1.0], 0, 1) + 0.75 * norm.pdf([0.3, -1.0], 1, 2))
    >>> np.allclose(log_mixture_density(x, w, mean, scale).numpy(), ref)
    True
    """
    z = (x.unsqueeze(-2) - mean) / scale
    log_components = -0.5 * (z * z).sum(-1) - torch.log(scale).sum(-1)
    log_components = log_components - 0.5 * x.shape[-1] * np.log(2.0 * np.pi)
    log_weights = torch.log(weights.clamp_min(1e-30))
    return torch.logsumexp(log_weights + log_components, dim=-1)


def gaussian_kl(mean, scale):
    """``KL(N(mean, diag(scale^2)) || N(0, I))`` per row, differentiable.

    Parameters
    ----------
    mean, scale : torch.Tensor of shape (B, d)

    Returns
    -------
    kl : torch.Tensor of shape (B,)

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal, kl_divergence
    >>> from skqegm.nn.modules import gaussian_kl
    >>> mean, scale = torch.tensor([[0.5, -1.0]]), torch.tensor([[2.0, 0.3]])
    >>> ref = kl_divergence(Normal(mean, scale), Normal(0.0, 1.0)).sum(-1)
    >>> torch.allclose(gaussian_kl(mean, scale), ref)
    True
    """
    return 0.5 * (mean * mean + scale * scale - 1.0).sum(-1) - torch.log(scale).sum(-1)


def gaussian_mixture_logpdf(X, log_weights, mean, scale):
    """``log sum_k w_k N(x; mean_k, diag(scale_k^2))`` for each row of ``X``, in float64 numpy.

    Rows are processed in chunks, so that memory stays near 32 MB whatever ``n * K``
    (scoring, not training: no gradient).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    log_weights : ndarray of shape (K,)
    mean, scale : ndarray of shape (K, d)

    Returns
    -------
    log_density : ndarray of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import multivariate_normal
    >>> from skqegm.nn.modules import gaussian_mixture_logpdf
    >>> X = np.array([[0.0, 1.0], [2.0, -1.0]])
    >>> mean, scale = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 2.0], [0.5, 1.0]])
    >>> w = np.array([0.4, 0.6])
    >>> ref = np.log(sum(w[k] * multivariate_normal(mean[k], np.diag(scale[k] ** 2)).pdf(X)
    ...                  for k in range(2)))
    >>> np.allclose(gaussian_mixture_logpdf(X, np.log(w), mean, scale), ref)
    True
    """
    const = -0.5 * X.shape[1] * np.log(2 * np.pi) - np.log(scale).sum(1) + log_weights
    out = np.empty(len(X))
    step = max(1, 2**22 // (mean.size + 1))
    for start in range(0, len(X), step):
        z = (X[start: start + step, None, :] - mean) / scale
        out[start: start + step] = logsumexp(const - 0.5 * (z * z).sum(-1), axis=1)
    return out
