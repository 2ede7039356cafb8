"""Adam, step for step the arithmetic of ``torch.optim.Adam``, without its import cost.

The first ``torch.optim`` optimizer a process builds imports ``torch._dynamo`` (about
1.5 s on 2 cores, sympy included), because its methods are wrapped to be skipped by
``torch.compile``. Every worker process of ``GridSearchCV(n_jobs=...)`` paid that again
before its first fit. This class does the same float operations in the same order as
torch's single-tensor Adam (the implementation torch uses for CPU tensors), so a fit's
numbers are unchanged, and imports nothing.
"""

import torch


class Adam:
    """Adam (Kingma & Ba, 2015) without weight decay, AMSGrad or ``maximize``.

    The update of each parameter with a gradient is that of torch's ``_single_tensor_adam``
    (``foreach=False``): ``m.lerp_(g, 1 - beta1)``, ``v.mul_(beta2).addcmul_(g, g, 1 -
    beta2)``, then ``p.addcdiv_(m, v.sqrt() / sqrt(1 - beta2**t) + eps, -lr / (1 -
    beta1**t))``, with the bias corrections computed in Python floats. These run as a
    few ``torch._foreach`` calls per step over all the parameters (on one flat tensor
    of moments when every parameter has a gradient, see :meth:`step`): element by
    element the same operations, so the same numbers as ``torch.optim.Adam``.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
    lr : float, default=1e-3
    betas : tuple of float, default=(0.9, 0.999)
    eps : float, default=1e-8

    Examples
    --------
    >>> import torch
    >>> from skqegm.nn.optim import Adam
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> ref = torch.nn.Parameter(w.detach().clone())
    >>> mine, theirs = Adam([w], lr=0.1), torch.optim.Adam([ref], lr=0.1)
    >>> for _ in range(5):
    ...     for p, opt in ((w, mine), (ref, theirs)):
    ...         opt.zero_grad()
    ...         (p**2).sum().backward()
    ...         opt.step()
    >>> torch.equal(w, ref)
    True
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, self.eps = float(lr), float(eps)
        self.beta1, self.beta2 = (float(beta) for beta in betas)
        # Steps taken by each parameter: like torch, a parameter counts only the steps at
        # which it had a gradient.
        self._steps = [0] * len(self.params)
        # The moments, built at the first step: one flat tensor each (every parameter's
        # moments a view of it) when the parameters share a real dtype and a device.
        self._flat = self._flat_views = None
        self._moments = None

    def zero_grad(self):
        """Drop every gradient (``set_to_none=True``, torch's default)."""
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self):
        """One update of every parameter that has a gradient.

        When every parameter has a gradient and has taken as many steps (a network
        trained whole), the moments are updated as one flat tensor: six elementwise
        operations in all, rather than six per parameter (the per-call cost dominates
        the small tensors of these networks). Elementwise, each number goes through
        the float operations of torch's ``_single_tensor_adam`` (see the class
        docstring); torch's CPU kernels give the same result whether an element sits
        in a vectorised block or the tail (checked on its default, AVX2 and AVX512
        kernels), and the test suite compares every step with ``torch.optim.Adam``.
        Otherwise each parameter with a gradient is updated on its own, through
        torch's ``_foreach`` operations.
        """
        if self._moments is None:
            self._make_moments()
        with_grad = [i for i, param in enumerate(self.params) if param.grad is not None]
        if not with_grad:
            return
        for i in with_grad:
            self._steps[i] += 1
        if (self._flat is not None and len(with_grad) == len(self.params)
                and len(set(self._steps)) == 1):
            self._flat_update(float(self._steps[0]))
            return
        tensors = [(self.params[i], self.params[i].grad, *self._moments[i]) for i in with_grad]
        tensors = [tuple(torch.view_as_real(t) for t in group) if torch.is_complex(group[0])
                   else group for group in tensors]
        self._update_all(*map(list, zip(*tensors)), [float(self._steps[i]) for i in with_grad])

    def _make_moments(self):
        """Zero moments for every parameter, flat when the parameters allow it."""
        kinds = {(param.dtype, param.device) for param in self.params}
        if len(kinds) == 1 and not any(torch.is_complex(p) for p in self.params):
            n_values = sum(param.numel() for param in self.params)
            # The two moments and the denominator (rewritten at every step).
            self._flat = [torch.zeros(n_values, dtype=self.params[0].dtype,
                                      device=self.params[0].device) for _ in range(3)]
            self._flat_views = [_views(flat, self.params) for flat in self._flat]
            self._moments = list(zip(*self._flat_views[:2]))
        else:
            self._moments = [tuple(torch.zeros_like(param, memory_format=torch.preserve_format)
                                   for _ in range(2)) for param in self.params]

    def _flat_update(self, step):
        """The update of every parameter at once, on the flat moments."""
        exp_avg, exp_avg_sq, denom = self._flat
        grad = torch.cat([param.grad.reshape(-1) for param in self.params])
        exp_avg.lerp_(grad, 1 - self.beta1)
        exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        bias_correction2_sqrt = (1 - self.beta2**step) ** 0.5
        torch.sqrt(exp_avg_sq, out=denom).div_(bias_correction2_sqrt).add_(self.eps)
        # Each parameter's own update, from views of the flat tensors.
        torch._foreach_addcdiv_(self.params, self._flat_views[0], self._flat_views[2],
                                -(self.lr / (1 - self.beta1**step)))

    def _update_all(self, params, grads, exp_avgs, exp_avg_sqs, steps):
        """The update of each parameter, one ``_foreach`` operation at a time."""
        torch._foreach_lerp_(exp_avgs, grads, 1 - self.beta1)
        torch._foreach_mul_(exp_avg_sqs, self.beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - self.beta2)
        denoms = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denoms, [(1 - self.beta2**step) ** 0.5 for step in steps])
        torch._foreach_add_(denoms, self.eps)
        torch._foreach_addcdiv_(params, exp_avgs, denoms,
                                [-(self.lr / (1 - self.beta1**step)) for step in steps])


def _views(flat, params):
    """Consecutive pieces of the 1-D ``flat``, shaped as each of ``params``."""
    views, start = [], 0
    for param in params:
        views.append(flat[start:start + param.numel()].view(param.shape))
        start += param.numel()
    return views
