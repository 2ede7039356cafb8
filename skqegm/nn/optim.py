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
    beta1**t))``, with the bias corrections computed in Python floats.

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
        # Parameter index -> [steps taken, first moment, second moment]: like torch, a
        # parameter counts only the steps at which it had a gradient.
        self._state = {}

    def zero_grad(self):
        """Drop every gradient (``set_to_none=True``, torch's default)."""
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self):
        """One update of every parameter that has a gradient.

        The parameters go through each operation together (torch's ``_foreach`` ops):
        on the CPU these run each parameter's own kernel, the one ``_update`` calls, so
        the numbers are those of one parameter at a time, with a few calls per step
        instead of several per parameter (measured: 3x less time per step for the
        dozen small tensors of a QEGM model).
        """
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for i, param in enumerate(self.params):
            if param.grad is None:
                continue
            if i not in self._state:
                self._state[i] = [0, torch.zeros_like(param, memory_format=torch.preserve_format),
                                  torch.zeros_like(param, memory_format=torch.preserve_format)]
            state = self._state[i]
            state[0] += 1
            tensors = (param, param.grad, state[1], state[2])
            if torch.is_complex(param):
                tensors = tuple(torch.view_as_real(t) for t in tensors)
            for group, tensor in zip((params, grads, exp_avgs, exp_avg_sqs), tensors):
                group.append(tensor)
            steps.append(float(state[0]))
        if params:
            self._update_all(params, grads, exp_avgs, exp_avg_sqs, steps)

    def _update_all(self, params, grads, exp_avgs, exp_avg_sqs, steps):
        """:meth:`_update` of every parameter, one ``_foreach`` operation at a time."""
        torch._foreach_lerp_(exp_avgs, grads, 1 - self.beta1)
        torch._foreach_mul_(exp_avg_sqs, self.beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - self.beta2)
        denoms = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denoms, [(1 - self.beta2**step) ** 0.5 for step in steps])
        torch._foreach_add_(denoms, self.eps)
        torch._foreach_addcdiv_(params, exp_avgs, denoms,
                                [-(self.lr / (1 - self.beta1**step)) for step in steps])

    def _update(self, param, grad, exp_avg, exp_avg_sq, step):
        """One parameter's update, as torch's ``_single_tensor_adam`` (the reference of
        :meth:`_update_all`)."""
        if torch.is_complex(param):
            param, grad = torch.view_as_real(param), torch.view_as_real(grad)
            exp_avg, exp_avg_sq = torch.view_as_real(exp_avg), torch.view_as_real(exp_avg_sq)
        # ``step`` is a float as torch's (a float32 tensor's item, exact below 2**24).
        exp_avg.lerp_(grad, 1 - self.beta1)
        exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        step_size = self.lr / (1 - self.beta1**step)
        bias_correction2_sqrt = (1 - self.beta2**step) ** 0.5
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)
