"""Torch building blocks of the networks (MLPs, Gaussian heads) and the densities of the
diagonal Gaussian mixtures they decode to, in torch for training and in numpy for scoring."""

import copy
import math
import threading
import weakref

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

        Shape ``(n_context, n_codes, n_outputs)``. The weights' ``dtype`` copy is kept
        while the weights stay as they are (see :meth:`_weights_in`), and the layers
        after the first run on pieces of rows small enough to stay in the CPU's cache
        (see :func:`_pieces`): the same numbers as one pass over every pair, bit for bit
        where the BLAS's panel sizes divide the pieces' 384-pair boundaries (as on every
        machine measured), else within rounding.
        """
        layers = self._weights_in(dtype)
        codes, context = codes.to(dtype), context.to(dtype)
        if layers is None:  # not an MLP of Linear and ReLU layers: a whole copy
            net = copy.deepcopy(self.net).to(dtype)
            return self._gaussian(net[1:](_split_first_layer(net[0], codes, context)))
        (weight, bias), rest = layers[0], layers[1:]
        n_codes = codes.shape[-1]
        # The first layer as _split_first_layer computes it, by its two parts.
        per_row = (context @ weight[:, n_codes:].T)[:, None, :]
        shared = codes.ndim == 2
        code_part = codes @ weight[:, :n_codes].T if shared else None
        n_pairs = codes.shape[-2]
        width = (rest[-1] if rest else layers[0])[0].shape[0]
        out = torch.empty(len(context), n_pairs, width, dtype=dtype)
        for rows in _pieces(len(context), n_pairs):
            part = code_part if shared else codes[rows] @ weight[:, :n_codes].T
            hidden = torch.add(per_row[rows], part).add_(bias)
            for next_weight, next_bias in rest:  # ReLU (in place: the same values), Linear
                hidden = nn.functional.linear(hidden.relu_(), next_weight, next_bias)
            out[rows] = hidden
        return self._gaussian(out)

    def _weights_in(self, dtype):
        """``[(weight, bias), ...]`` of the MLP's ``Linear`` layers in ``dtype``, or ``None``
        when the MLP holds other layers than ``Linear`` and ``ReLU`` in turn.

        The copy is kept with the weights it was made from, and made anew when any of
        them differs (an optimizer step, ``load_state_dict``, an edit through ``.data``):
        comparing a few kB costs microseconds, a copy of the module about a millisecond.
        A call reads one (snapshot, copy) pair, which is never modified, so calls in
        several threads share it safely; it is not saved (``__getstate__``).
        """
        layers = list(self.net)
        if not (len(layers) % 2 == 1
                and all(type(layer) is nn.Linear for layer in layers[::2])
                and all(type(layer) is nn.ReLU for layer in layers[1::2])):
            return None
        params = [t for layer in layers[::2] for t in (layer.weight, layer.bias)]
        kept = self.__dict__.get("_cast")
        if (kept is not None and kept[0] == dtype and len(kept[1]) == len(params)
                and all(_same_values(p, q) for p, q in zip(params, kept[1]))):
            return kept[2]
        # The copy made from the snapshot, so that the two always agree.
        snapshot = [None if p is None else p.detach().clone() for p in params]
        cast = [None if p is None else p.to(dtype, copy=True) for p in snapshot]
        pairs = list(zip(cast[::2], cast[1::2]))
        self.__dict__["_cast"] = (dtype, snapshot, pairs)
        return pairs

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_cast", None)  # a copy of the weights, made again when needed
        return state

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


# (row, code) pairs per piece of forward_pairs: a piece's float64 activations (0.5 MB at
# 64 units) stay in the CPU's cache, where one pass over 2**17 pairs (64 MB a layer) ran
# at memory speed.
_PAIRS_PER_PIECE = 1024
# Every piece but the last holds a multiple of this many pairs. BLAS computes a matrix
# product's rows in panels of a few rows (4 with MKL here; 2 to 24 on other CPUs) and
# those of the last, incomplete panel in another order of operations: pieces that end on
# panel boundaries (for any panel size dividing 384 = 2**7 * 3), the last one ending
# where the whole did, round every row as one product of all the rows does.
_PANEL_MULTIPLE = 384


def _pieces(n_rows, per_row):
    """Slices of ``n_rows`` rows of ``per_row`` pairs each: pieces of about
    ``_PAIRS_PER_PIECE`` pairs, a multiple of ``_PANEL_MULTIPLE`` pairs each but the last,
    which holds one piece and the rest (so it is never smaller, nor a lone row)."""
    unit = _PANEL_MULTIPLE // math.gcd(_PANEL_MULTIPLE, max(per_row, 1))
    step = unit * max(1, _PAIRS_PER_PIECE // (unit * max(per_row, 1)))
    n_full = n_rows // step
    if n_full <= 1:
        yield slice(0, n_rows)
        return
    for i in range(n_full - 1):
        yield slice(i * step, (i + 1) * step)
    yield slice((n_full - 1) * step, n_rows)


def _same_values(a, b):
    """Whether two tensors (or ``None``) hold the same values (``torch.equal``: NaN never
    does, so weights with a NaN are copied afresh; a zero changed in sign alone, which
    changes no value, is not noticed)."""
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


# float64_copy's copies, by module: not an attribute of the module, so that no pickle,
# deep copy or state_dict of it holds one.
_FLOAT64_COPIES = weakref.WeakKeyDictionary()
_FLOAT64_COPIES_LOCK = threading.Lock()


def float64_copy(module):
    """``copy.deepcopy(module).double()``, kept while ``module``'s tensors stay as they are.

    For predictions in float64 from a float32 module, many times over: the copy is made
    again when any parameter or buffer of ``module`` has changed value (a refit's new
    module has none yet). The copy is shared by the calls that read it, in any thread:
    use it for forward passes, never modify it.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    copy : torch.nn.Module
        In float64 (its floating-point tensors).

    Examples
    --------
    >>> import torch
    >>> from skqegm.nn.modules import float64_copy
    >>> layer = torch.nn.Linear(2, 1)
    >>> double = float64_copy(layer)
    >>> double.weight.dtype, float64_copy(layer) is double
    (torch.float64, True)
    >>> with torch.no_grad():
    ...     _ = layer.weight.add_(1.0)  # a new weight: a new copy
    >>> float64_copy(layer) is double
    False
    """
    tensors = [*module.parameters(), *module.buffers()]
    with _FLOAT64_COPIES_LOCK:
        kept = _FLOAT64_COPIES.get(module)
    if (kept is not None and len(kept[0]) == len(tensors)
            and all(_same_values(t, k) for t, k in zip(tensors, kept[0]))):
        return kept[1]
    snapshot = [t.detach().clone() for t in tensors]
    double = copy.deepcopy(module).double()
    with _FLOAT64_COPIES_LOCK:
        _FLOAT64_COPIES[module] = (snapshot, double)
    return double


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


# (row, component) pairs per chunk of gaussian_mixture_logpdf.
_LOGPDF_CHUNK = 2**15


def gaussian_mixture_logpdf(X, log_weights, mean, scale):
    """``log sum_k w_k N(x; mean_k, diag(scale_k^2))`` for each row of ``X``, in float64 numpy.

    Rows are processed in chunks of about ``2**15`` (row, component) elements, 256 kB a
    temporary (scoring, not training: no gradient): each row's numbers do not depend on
    the rows beside it. Measured on 4,096 components (a twin's or a VAE's density) on a
    2-core VM with 1 MB of L2 cache: 1.7x faster than chunks of 32 MB, and chunks of
    0.75-2 MB ran 2x slower than those (the temporaries no longer fit the cache).

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
    step = max(1, _LOGPDF_CHUNK // (mean.size + 1))
    for start in range(0, len(X), step):
        z = (X[start: start + step, None, :] - mean) / scale
        out[start: start + step] = logsumexp(const - 0.5 * (z * z).sum(-1), axis=1)
    return out
