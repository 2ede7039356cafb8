"""The QEGM architecture and its training, shared by the sampler and the tail-risk estimator.

:class:`BaseQEGM` fills the hooks of :class:`~skqegm.nn.BaseTorchEstimator` with the
paper's model: an encoder, a latent (the measured variational quantum layer or the
classical twin's Gaussian), a decoder, the hybrid loss of eq. 5 and the noise of eq. 7.
:class:`~skqegm.QEGMSampler` models ``X``; :class:`~skqegm.TailRiskEstimator` models
``y`` with the features ``X`` as a context that the encoder and the decoder read.
"""

import contextlib
import functools
import logging
import math
import platform
from importlib import metadata
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions

from ..exceptions import ShotBudgetError
from ..nn import BaseTorchEstimator
from ..nn.modules import GaussianHead
from ..quantum import (
    CircuitRunner,
    JobManager,
    QuantumLayer,
    QuantumRandomSource,
    SamplerTransformer,
    check_backend,
)
from ..quantum.backends import BACKEND_CONSTRAINT, fitted_backend
from ..quantum.runtime import (
    JOB_PARAMETERS,
    BackendPersistenceMixin,
    backend_name,
    current_job_parameters,
    detach_backend,
)
from ..quantum.simulator import MAX_QUBITS, exact_bytes_per_row, exact_fixed_bytes
from ..utils._memory import check_memory
from ..utils._tails import flag_beyond
from ..utils._validation import IntervalNotBool, count_rows
from ._networks import (
    CategoricalLatent,
    ConditionalPrior,
    GaussianLatent,
    GenerativeNetwork,
    QuantumLatent,
    with_context,
)
from ._noise import NoiseSource, prior_draws, stratified_prior_draws
from .losses import hybrid_loss

#: Latent draws whose average defines a fitted density (see ``QEGMSampler.score_samples``).
DENSITY_DRAWS = 4096
# Draws from which the decoder's initial means are spread, for a conditional model.
_CONDITIONAL_INIT_DRAWS = 256
# Outcome probabilities held at once while averaging the latent's mixture weights.
_WEIGHT_BLOCK = 2**22
# Bytes of work per block of held-out rows when their loss is computed (no autograd).
_VALIDATION_BLOCK_BYTES = 2**26
logger = logging.getLogger(__name__)
_PACKAGES = ("skqegm", "numpy", "scipy", "scikit-learn", "torch", "qiskit", "qiskit-aer",
             "qiskit-ibm-runtime")


class _Batch(NamedTuple):
    """What one evaluation of the hybrid loss reads (float32 tensors)."""

    x: torch.Tensor                  # (B, d) standardised rows
    noise: torch.Tensor              # (B, 1) eq. 7 noise scales of the encoded rows
    prior_noise: torch.Tensor        # (B_prior, 1) noise scales of the prior draws
    thresholds: torch.Tensor         # (2, d) tail thresholds, standardised
    tail_freq: torch.Tensor          # (2, d) training frequency beyond each
    context: torch.Tensor = None     # (B, p) features of a conditional model


class _TrainingSet(NamedTuple):
    x: torch.Tensor
    context: torch.Tensor
    noise: NoiseSource
    batch_size: int
    thresholds: torch.Tensor
    tail_freq: torch.Tensor

    def __len__(self):
        return len(self.x)


class BaseQEGM(BackendPersistenceMixin, BaseTorchEstimator):
    """Encoder, quantum (or Gaussian) latent and decoder, trained on the hybrid loss.

    Subclasses set ``tail_threshold_`` in ``_prepare_fit`` (calling this class's first)
    and may extend ``_finish_fit``. See :class:`~skqegm.QEGMSampler` for the parameters.
    """

    _parameter_constraints = {
        **BaseTorchEstimator._parameter_constraints,
        "n_qubits": [IntervalNotBool(Integral, 1, None, closed="left")],
        "n_layers": [IntervalNotBool(Integral, 1, None, closed="left")],
        "encoding": [StrOptions({"angle", "amplitude"})],
        "latent": [StrOptions({"quantum", "categorical", "gaussian"})],
        "entanglement": [StrOptions({"linear"}), None],
        "backend": BACKEND_CONSTRAINT,
        "shots": [IntervalNotBool(Integral, 1, None, closed="left"), None],
        "rec_weight": [IntervalNotBool(Real, 0, None, closed="left")],
        "tail_weight": [IntervalNotBool(Real, 0, None, closed="left")],
        "noise": [StrOptions({"prng", "qrng"}), None],
        "noise_scale": [IntervalNotBool(Real, 0, None, closed="left")],
        "max_shots": [IntervalNotBool(Integral, 1, None, closed="left"), None],
        "max_retries": [IntervalNotBool(Integral, 0, None, closed="left")],
        "job_timeout": [IntervalNotBool(Real, 0, None, closed="neither"), None],
        "fallback": [p for p in BACKEND_CONSTRAINT if p is not None] + [None],
        "session": ["boolean"],
    }
    _seed_names = ("torch", "circuit", "noise", "split", "density")
    _saved_backends = ("backend", "fallback", "_fit_backend")

    # -- parameters -----------------------------------------------------------------------------
    def _check_parameters(self):
        super()._check_parameters()
        kind = check_backend(self.backend)
        quantum = self.latent == "quantum"
        # The Gaussian twin holds no state: its n_qubits latent dimensions are bounded by
        # the fit's memory estimate (_check_fit_memory), not by the simulator's width.
        if self.latent == "categorical" and self.n_qubits > MAX_QUBITS:
            # On any backend: its softmax is over 2**n_qubits codes, and no circuit runs.
            raise ValueError(f"n_qubits must be <= {MAX_QUBITS} with latent='categorical' (a "
                             f"softmax over 2**n_qubits codes per row, on any backend); got "
                             f"{self.n_qubits}.")
        if quantum and kind == "exact" and self.n_qubits > MAX_QUBITS:
            raise ValueError(f"n_qubits must be <= {MAX_QUBITS} on the exact backend (a state "
                             f"of 2**n_qubits amplitudes per row); got {self.n_qubits}.")
        if quantum and kind == "exact" and self.shots is not None:
            raise ValueError(
                "shots needs a Qiskit backend (e.g. backend='aer'); the exact backend "
                f"(backend=None) computes exact probabilities. Got shots={self.shots!r}."
            )
        if quantum and kind != "exact" and self.encoding == "amplitude":
            raise ValueError(
                "encoding='amplitude' trains only on the exact backend (backend=None): "
                "amplitude-encoded inputs have no parameter-shift rule. Use "
                "encoding='angle' on Qiskit backends."
            )
        if self.noise == "qrng" and kind == "estimator":
            raise ValueError("noise='qrng' samples bits, which an estimator backend cannot do; "
                             "pass a sampler or backend, or use noise='prng'.")
        if self.rec_weight == 0 and self.tail_weight == 0:
            raise ValueError("rec_weight and tail_weight are both 0: nothing to train.")
        self._check_fallback()

    def _check_fallback(self, refused=("exact", "detached")):
        # A loaded model's fallback may be a device saved as its description: its jobs
        # refuse it (with the way to re-attach it) only if they come to need it.
        if self.fallback is not None and check_backend(self.fallback) in refused:
            raise ValueError("fallback must be a Qiskit backend ('statevector', 'aer', a device "
                             f"or a primitive) or None; got {self.fallback!r}.")

    def _fit_device(self):
        device = super()._fit_device()
        if self.latent == "quantum" and check_backend(self.backend) != "exact":
            # Parameter shift runs the circuit on the Qiskit backend, from numpy arrays.
            if self.device == "cuda":
                raise ValueError(
                    "device='cuda' trains the exact simulator and the networks on the GPU; "
                    f"with backend={backend_name(self.backend)!r} the circuit runs on that "
                    "backend. Use device='cpu' (or 'auto', which trains on the CPU here).")
            return torch.device("cpu")
        return device

    # -- the fit, its jobs and their cost -------------------------------------------------------
    @contextlib.contextmanager
    def _fit_scope(self):
        # Entered by the circuit's runner once it exists (_prepare_fit): a Qiskit device's
        # jobs then share one Batch (or Session), closed however the fit ends.
        with contextlib.ExitStack() as self._job_scope:
            self._fit_jobs = None  # the JobManager of the fit's circuits and random bits
            try:
                yield
            finally:
                del self._job_scope, self._fit_jobs

    def estimate_cost(self, X, y=None):
        """Shots and jobs a fit on ``X`` would submit, computed without submitting any.

        A dry run before a fit on hardware: the training steps send every row of a batch,
        its prior draws and all their parameter-shift circuits (``1 + 2 n_weights +
        2 n_qubits`` per row) in one job; each epoch adds one job for the held-out rows;
        the fitted density adds one job of ``4096`` latent draws. Epochs are counted up
        to ``max_epochs`` (early stopping may end sooner) and retries are not counted, so
        the estimate bounds the shots used by a fit without faults. With
        ``noise="qrng"`` on a Qiskit backend each draw of random floats adds the shots
        of its refill (``QuantumRandomSource.estimate_shots``), also an upper bound.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training data (only its number of rows matters).
        y : None or array-like of shape (n_samples,)
            Ignored.

        Returns
        -------
        cost : dict
            ``backend``, ``shots_per_circuit`` (0 where results are exact), ``circuits``,
            ``jobs`` and ``shots`` (``circuits * shots_per_circuit``, plus
            ``qrng_shots``), and the ``max_epochs`` and ``rows`` they assume.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm import QEGMSampler
        >>> model = QEGMSampler(n_qubits=2, n_layers=1, backend="aer", shots=100,
        ...                     max_epochs=3, batch_size=50, early_stopping=False)
        >>> cost = model.estimate_cost(np.zeros((100, 1)))
        >>> cost["jobs"], cost["circuits"], cost["shots"]
        (7, 11896, 1189600)
        """
        self._validate_params()
        self._check_parameters()
        return self._cost(count_rows(X))

    def _cost(self, n_rows):
        """What :meth:`estimate_cost` returns, for a fit on ``n_rows`` rows."""
        kind = check_backend(self.backend)
        quantum = self.latent == "quantum" and kind != "exact"
        runner = CircuitRunner(self.backend, self.shots) if quantum else None
        # A fake device with shots=None runs the exact noisy simulator: no circuits sent.
        quantum = quantum and not runner.exact_noisy
        per_circuit = runner.shots_per_circuit if quantum else 0
        n_val = math.ceil(self.validation_fraction * n_rows) if self._uses_early_stopping() else 0
        n_train = max(n_rows - n_val, 1)
        batch = min(self.batch_size, n_train)
        n_batches = math.ceil(n_train / batch)
        per_row = 1 + 2 * (2 * self.n_qubits * self.n_layers) + 2 * self.n_qubits
        per_epoch = (n_train + n_batches * batch) * per_row + (n_val + batch if n_val else 0)
        # The fitted density's circuits; weights that follow the features run theirs at
        # prediction time instead.
        density = 0 if self._conditional_weights() else self._density_draws()
        # Integer division: 2**n_qubits of a wide twin (no circuit) overflows a float.
        density_jobs = -(-density * 2**self.n_qubits // _WEIGHT_BLOCK) if quantum else 0
        circuits = self.max_epochs * per_epoch + density
        jobs = self.max_epochs * (n_batches + (1 if n_val else 0)) + density_jobs
        if not quantum:
            circuits = jobs = 0
        # The eq. 7 noise draws: the held-out rows' once, then every epoch's (all of one
        # size: counted once and multiplied, as max_epochs may be huge), then the fitted
        # density's; a QRNG refill is one job.
        once = ([n_val, batch] if n_val else []) + [self._density_draws()]
        qrng_shots = 0
        if self._uses_qrng():
            source = QuantumRandomSource(backend=self.backend)
            qrng_shots = sum(source.estimate_shots(size) for size in once) + \
                self.max_epochs * source.estimate_shots(n_train + n_batches * batch)
            jobs += len(once) + self.max_epochs
        return {"backend": backend_name(self.backend), "shots_per_circuit": per_circuit,
                "circuits": circuits, "jobs": jobs, "qrng_shots": qrng_shots,
                "shots": circuits * per_circuit + qrng_shots,
                "max_epochs": self.max_epochs, "rows": n_rows}

    def _uses_qrng(self):
        """Whether the eq. 7 noise draws its bits on a Qiskit backend."""
        return (self.noise == "qrng" and self.noise_scale > 0
                and check_backend(self.backend) != "exact")

    def _check_budget(self, n_rows):
        """Refuse a fit whose estimated shots exceed ``max_shots``, before any job."""
        cost = self._cost(n_rows)
        if self.max_shots is not None and cost["shots"] > self.max_shots:
            raise ShotBudgetError(
                f"{type(self).__name__}.fit on {n_rows} rows needs an estimated "
                f"{cost['shots']:,} shots ({cost['circuits']:,} circuits x "
                f"{cost['shots_per_circuit']:,} shots in {cost['jobs']:,} jobs, up to "
                f"max_epochs={self.max_epochs}), more than max_shots={self.max_shots:,}. "
                "Raise max_shots, or use fewer rows, epochs, shots, qubits or layers.",
                estimate=cost["shots"], max_shots=self.max_shots)
        if cost["jobs"]:  # the exact simulator and the twin without qrng run no job
            logger.info("%s.fit on %s: an estimated %s shots in %s jobs.",
                        type(self).__name__, cost["backend"], f"{cost['shots']:,}",
                        f"{cost['jobs']:,}")
        return cost

    def _n_latent(self):
        """Dimension of ``z``: one angle per qubit, or ``2**n`` amplitudes."""
        if self.latent == "quantum" and self.encoding == "amplitude":
            return 2**self.n_qubits
        return self.n_qubits

    # -- the hooks of the fit loop ------------------------------------------------------------
    def _prepare_fit(self, values, context, seeds):
        self._check_fit_memory(len(values), values.shape[1],
                               0 if context is None else context.shape[1])
        self._fit_cost = self._check_budget(len(values))
        self._fit_backend = self.backend  # what the fitted model runs on (_fitted_backend)
        self.quantum_layer_ = None
        if self.latent == "quantum":  # the circuit, with its initial weights
            self.quantum_layer_ = SamplerTransformer(
                n_layers=self.n_layers, encoding=self.encoding, backend=self.backend,
                shots=self.shots, random_state=seeds["circuit"], max_shots=self.max_shots,
                max_retries=self.max_retries, job_timeout=self.job_timeout,
                fallback=self.fallback, session=self.session, entanglement=self.entanglement,
            ).fit(np.ones((1, self._n_latent())))
            runner = self.quantum_layer_.runner_
            if runner is not None:
                self._fit_jobs = runner.jobs
        if self._fit_jobs is None and self._uses_qrng():  # the twin's random bits
            self._fit_jobs = JobManager(
                max_retries=self.max_retries, job_timeout=self.job_timeout,
                max_shots=self.max_shots, session=self.session, seed=seeds["noise"])
        if self._fit_jobs is not None:
            self._job_scope.enter_context(self._fit_jobs.scope())

    def _check_fit_memory(self, n_rows, n_values, n_context):
        """Refuse a fit whose training steps cannot fit in memory, before building anything.

        A step evaluates a batch of rows and as many prior draws; each needs its
        ``2**n_qubits`` outcome probabilities (statevectors kept for the backward pass)
        and, for a conditional model, the decoder on every (outcome, row) pair. The
        constants bound what was measured (2.6 GB at 12 qubits, batch 256, (64, 64)).
        """
        batch = min(self.batch_size, n_rows)
        n_bytes = 2 * batch * self._step_bytes_per_row(n_values, n_context)
        if self.latent == "quantum" and check_backend(self.backend) == "exact":
            # The simulator's own estimate of a step's circuit (the batch and as many prior
            # draws, with autograd): above 10 qubits autograd keeps every gate's states.
            kwargs = {"n_layers": self.n_layers, "requires_grad": True}
            n_bytes = max(n_bytes, exact_fixed_bytes(self.n_qubits, n_rows=2 * batch, **kwargs)
                          + 2 * batch * exact_bytes_per_row(self.n_qubits, **kwargs))
        if self.latent == "gaussian":
            # The twin holds no state, so n_qubits has no other bound: what grows with
            # its latent's width whatever the batch, the fitted density's prior draws
            # (float32 and their copies: 20 B per value bounds a fit's growth, 1.43-1.47
            # GiB at n_qubits=20,000 and 3.09-3.10 GiB at 50,000, 300 rows, hidden (8,),
            # against estimates of 1.65 and 4.12 GiB) and the weights joining the latent
            # to the networks (16 B each in training: weight, gradient, Adam's moments).
            hidden = self._hidden_sizes()
            n_bytes += (20.0 * self._density_draws() * self.n_qubits
                        + 16.0 * self.n_qubits * (2 * hidden[-1] + hidden[0]))
        width = (f"{self.n_qubits} latent dimensions per row" if self.latent == "gaussian"
                 else f"2**{self.n_qubits} outcomes per row")
        check_memory(n_bytes, f"fitting with n_qubits={self.n_qubits} ({width}) and "
                              f"batch_size={batch}",
                     "use fewer qubits or a smaller batch_size.")

    def _step_bytes_per_row(self, n_values, n_context):
        """Bytes a training step needs per row (see :meth:`_check_fit_memory`)."""
        n_outcomes = 1 if self.latent == "gaussian" else 2**self.n_qubits
        states = 8.0 * n_outcomes * (2 + 2 * self.n_layers) if self.latent == "quantum" else 0
        pairs = n_outcomes if n_context else 1  # a shared code table costs nothing per row
        width = sum(self._hidden_sizes()) + self.n_qubits + n_context + 3 * n_values
        return states + 3 * 4.0 * pairs * width

    def _validation_loss(self, val_set, generator):
        """The held-out loss, a block of rows at a time, weighted by the block's rows.

        The mixture of every held-out row (``2**n`` weights, and for a conditional model
        the decoder on every (outcome, row) pair) would otherwise be held at once: a
        fit on a million rows would hold that of 150,000. A held-out set that fits one
        block (about 64 MB of work) is one batch, as in training; each further block
        draws its own noise and prior draws from ``generator`` in turn.
        """
        n_rows = len(val_set.x)
        n_context = 0 if val_set.context is None else val_set.context.shape[1]
        per_row = self._step_bytes_per_row(val_set.x.shape[1], n_context)
        step = max(self.batch_size, int(_VALIDATION_BLOCK_BYTES // per_row))
        if n_rows <= step:
            return self._get_loss(val_set, generator)
        total = 0.0
        for start in range(0, n_rows, step):
            rows = slice(start, start + step)
            block = val_set._replace(x=val_set.x[rows], noise=val_set.noise[rows],
                                     context=_take(val_set.context, rows))
            total = total + self._get_loss(block, generator) * (len(block.x) / n_rows)
        return total

    def _make_network(self):
        n_values = len(self._value_scaling[0])
        n_context = 0 if self._context_scaling is None else len(self._context_scaling[0])
        if self.quantum_layer_ is not None:
            latent = QuantumLatent(QuantumLayer(self.quantum_layer_))
        elif self.latent == "categorical":
            latent = CategoricalLatent(self._n_latent(), self.n_qubits)
        else:
            latent = GaussianLatent()
        hidden = self._hidden_sizes()
        conditional = n_context and self._conditional_weights()
        return GenerativeNetwork(
            encoder=GaussianHead(n_values + n_context, hidden, self._n_latent()),
            latent=latent,
            decoder=GaussianHead(self.n_qubits + n_context, hidden, n_values),
            prior=ConditionalPrior(n_context, self._n_latent()) if conditional else None,
        )

    def _conditional_weights(self):
        """Whether the latent's input, and so its mixture weights, follow the context."""
        return False

    def _initialize_network(self, values, context, generator):
        # Spread the decoder's initial means over prior draws (and, for a conditional
        # model, training contexts): see GaussianHead.spread_means_.
        network = self.network_
        n_draws = DENSITY_DRAWS if context is None else _CONDITIONAL_INIT_DRAWS
        prior = torch.randn(n_draws, self._n_latent(), generator=generator)
        rows = None
        if context is not None:
            context = _tensor(context)
            rows = context[torch.randint(len(context), (n_draws,), generator=generator)]
        network.decoder.spread_means_(with_context(network.latent.codes(prior), rows))

    def _make_datasets(self, train, val, seeds, generator):
        noise = NoiseSource(self.noise, self.noise_scale, self.backend, seeds["noise"],
                            jobs=self._fit_jobs)
        x_train, c_train = _tensor(train[0]), _tensor(train[1])
        thresholds, tail_freq = self._tail_targets(train[0])
        batch = int(min(self.batch_size, len(x_train)))  # torch wants a Python int
        val_set = None
        if val is not None:
            # Fixed noise and contexts: the validation loss changes only with the model.
            x_val, c_val = _tensor(val[0]), _tensor(val[1])
            val_noise = (noise.scales(len(x_val)), noise.scales(batch))
            val_set = _Batch(x_val, *val_noise, thresholds, tail_freq, c_val)
        # The prior draws of a step estimate the tail mass averaged over the features: a
        # conditional model pairs them with the batch's own rows (see hybrid_loss).
        train_set = _TrainingSet(x_train, c_train, noise, batch, thresholds, tail_freq)
        return train_set, val_set

    def _tail_targets(self, values):
        """The standardised tail thresholds and the training frequency strictly beyond
        each (ties at a threshold are not rare: the model's tail mass is what lies beyond)."""
        thresholds = self._standardize_values(self.tail_threshold_)
        tail_freq = np.stack([flag_beyond(values, thresholds, side).mean(0)
                              for side in ("lower", "upper")])
        return _tensor(thresholds), _tensor(tail_freq)

    def _iter_batches(self, train_set, generator):
        n_rows, batch = len(train_set.x), train_set.batch_size
        n_batches = math.ceil(n_rows / batch)
        order = torch.randperm(n_rows, generator=generator)
        # One draw of eq. 7 noise per epoch (one QRNG call) for the rows and prior draws.
        scales = train_set.noise.scales(n_rows + n_batches * batch)
        prior_scales = scales[n_rows:].reshape(n_batches, batch, 1)
        for i, rows in enumerate(order.split(batch)):
            yield _Batch(train_set.x[rows], scales[rows], prior_scales[i], train_set.thresholds,
                         train_set.tail_freq, _take(train_set.context, rows))

    def _get_loss(self, batch, generator):
        loss, _, _ = hybrid_loss(
            self.network_, batch.x, batch.noise, batch.prior_noise, batch.thresholds,
            batch.tail_freq, self.rec_weight, self.tail_weight, generator, batch.context,
        )
        return loss

    def _finish_fit(self, train_set, seeds, generator):
        if self.network_.prior is None:
            log_weights, codes = _mixture_codes(self.network_, train_set.noise,
                                                seeds["density"], self._density_draws())
            self._latent_mixture = (log_weights, codes.numpy())
        else:  # the weights follow the context: averaged over these draws per row
            self._latent_mixture = None
            self._latent_draws = _density_prior_draws(
                self.network_, self._density_draws(), train_set.noise,
                np.random.RandomState(seeds["density"])).numpy()
        layer = getattr(self.network_.latent, "layer", None)
        runtime = None
        if layer is not None and layer.transformer.runner_ is not None:
            runtime = layer.transformer.runner_.describe()
        elif self._fit_jobs is not None:  # the twin, with random bits from a backend
            runtime = {"backend": backend_name(self.backend), **self._fit_jobs.summary()}
        if runtime is not None:
            runtime["shots_estimate"] = self._fit_cost["shots"]
            runtime["jobs_estimate"] = self._fit_cost["jobs"]
            logger.info("%s.fit on %s used %s shots in %d jobs (%d retries; estimated %s).",
                        type(self).__name__, runtime["backend"], f"{runtime['shots_used']:,}",
                        runtime["n_jobs"], runtime["retries"],
                        f"{runtime['shots_estimate']:,}")
        self.quantum_layer_ = None if layer is None else layer.to_transformer()
        # The twin's random bits' jobs, which its later draws go on submitting.
        self._noise_jobs = self._fit_jobs if layer is None else None
        self.provenance_ = self._provenance(seeds)
        self.provenance_["runtime"] = runtime

    def _standardized_support(self, context, generator):
        # The components' means plus and minus three scales (weights ignored: a far
        # component of small weight is as wrong as a heavy one).
        codes = torch.from_numpy(self._latent_mixture[1])
        if context is None:
            mean, scale = self.network_.decoder(codes)
        else:
            mean, scale = self.network_.decoder.forward_pairs(codes, _tensor(context))
        mean, scale = mean.double().numpy(), scale.double().numpy()
        return np.concatenate([mean - 3 * scale, mean + 3 * scale]).ravel()

    def _density_draws(self):
        """Latent draws averaged into the fitted mixture (see ``_mixture_codes``)."""
        return DENSITY_DRAWS

    # -- after the fit: what is frozen, what follows the parameters -----------------------------
    def set_params(self, **params):
        """Set the parameters; those saying how jobs run also reach ``quantum_layer_``.

        ``quantum_layer_`` runs the model's fitted circuit and its jobs are the model's
        (one job manager: one count of shots, one record), so after a fit
        :data:`~skqegm.quantum.runtime.JOB_PARAMETERS` (``max_shots``, ``max_retries``,
        ``job_timeout``, ``fallback``) set here apply to its jobs too, at once, as to
        the model's own. The parameters that define the fitted distribution wait for a
        refit, in the model as in ``quantum_layer_``.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : object
        """
        super().set_params(**params)
        layer = getattr(self, "quantum_layer_", None)
        jobs = {name: params[name] for name in JOB_PARAMETERS if name in params}
        if layer is not None and jobs:
            layer.set_params(**jobs)
        return self

    def _fitted_jobs(self):
        """Ready the fitted model's jobs for a call that runs them after the fit (``sample``,
        the predictions of conditional weights): the one place that applies the rule.

        What defines the fitted distribution stays the fit's until a refit: the circuit,
        ``backend`` (see :meth:`_fitted_backend`), ``shots``, ``noise`` and
        ``noise_scale``. How jobs run follows the current parameters,
        :data:`~skqegm.quantum.runtime.JOB_PARAMETERS` (``max_shots``, ``max_retries``,
        ``job_timeout``, ``fallback``), validated here: they go to the circuit's
        transformer (whose runner takes them at its next job) and to the job manager now,
        as the random bits of ``noise="qrng"`` are drawn before the circuit runs.

        Returns
        -------
        jobs : JobManager or None
            The manager of the fitted model's jobs (the circuit's, else the twin's random
            bits'); ``None`` when nothing runs on a backend.
        """
        transformer = self._circuit()
        jobs = self._draw_jobs()
        if jobs is None:
            return None
        params = current_job_parameters(self)
        self._check_fallback(refused=("exact",))
        if transformer is not None:
            backend = self._fitted_backend()
            if (check_backend(transformer.fitted_params_["backend"]) == "detached"
                    and check_backend(backend) != "detached"):
                transformer.set_params(backend=backend)  # a saved device, re-attached
            transformer.set_params(**params)
        jobs.set_policy(max_retries=self.max_retries, job_timeout=self.job_timeout,
                        max_shots=self.max_shots)
        return jobs

    def _fitted_backend(self):
        """The backend of the fitted model: the fit's (``set_params(backend=...)`` takes
        effect at the next fit), or the device re-attached with ``set_params`` to a model
        saved without it (a :class:`~skqegm.quantum.DeviceRecord` in its place)."""
        # A model saved before the fit's backend was kept reads the current one.
        return fitted_backend(getattr(self, "_fit_backend", self.backend), self.backend)

    def _circuit(self):
        """The fitted circuit's transformer (``None`` for a latent without a circuit)."""
        layer = getattr(self.network_.latent, "layer", None)
        return None if layer is None else layer.transformer

    def _draw_jobs(self):
        """The :class:`JobManager` of a fitted model's jobs (its circuit's, else the
        twin's random bits'), so that draws count against the budget; ``None`` when
        nothing runs on a backend."""
        transformer = self._circuit()
        if transformer is not None and transformer.runner_ is not None:
            return transformer.runner_.jobs
        return getattr(self, "_noise_jobs", None)

    def __getstate__(self):
        state = super().__getstate__()
        # A device whose service holds an account is kept as its description only.
        for name in ("backend", "fallback", "_fit_backend"):
            if name in state:
                state[name] = detach_backend(state[name])
        # The circuit's jobs: what max_shots counts against (shots submitted) and their
        # records. The circuit's runner is rebuilt when the model is loaded, with a new
        # manager (the twin's random bits keep theirs, _noise_jobs, in the state).
        jobs = self._draw_jobs() if "network_" in state else None
        if jobs is not None and self._circuit() is not None:
            state["_circuit_jobs"] = jobs
        return state

    def __setstate__(self, state):
        jobs = state.pop("_circuit_jobs", None)
        super().__setstate__(state)
        transformer = self._circuit() if hasattr(self, "network_") else None
        if transformer is None:
            return
        if jobs is not None and transformer.runner_ is not None:
            transformer.runner_.jobs = jobs
        # The network was rebuilt around quantum_layer_ itself: as after the fit, it runs
        # a copy sharing only the circuit's jobs, so that set_params or a refit of
        # quantum_layer_ (kept as saved) leaves the model's circuit as it was.
        layer = self.network_.latent.layer
        layer.transformer = layer.to_transformer()

    def _provenance(self, seeds):
        """What a run needs to be reproduced: backend, shots, seeds, package versions."""
        layer = self.quantum_layer_
        return {
            "latent": self.latent,
            "entanglement": self.entanglement,
            "backend": _backend_label(self.backend),
            "shots": self.shots,
            "noise": self.noise,
            "random_state": (int(self.random_state)
                             if isinstance(self.random_state, Integral) else None),
            "seeds": dict(seeds),
            "circuit_seed": None if layer is None else layer.seed_,
            "versions": dict(_package_versions()),
            "python": platform.python_version(),
        }


@functools.cache
def _package_versions():
    # Read once per process: parsing 8 packages' metadata took ~30 ms, a fixed cost of
    # every fit (and of every fit of a parallel search's workers).
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _mixture_codes(network, noise, seed, n_draws):
    """The fitted density's components as decoder inputs: ``(log_weights (K,), codes (K, n))``.

    The latent's mixture averaged over ``n_draws`` prior draws (plus eq. 7 noise): for the
    quantum latent the ``2**n`` outcome codes with their averaged Born probabilities
    (outcomes never observed under shot noise dropped), for the twin the draws
    themselves, equally weighted.
    """
    z = _density_prior_draws(network, n_draws, noise, np.random.RandomState(seed))
    with torch.no_grad():
        # Summed a block of draws at a time: one block holds 2**n probabilities per draw.
        step = max(1, _WEIGHT_BLOCK // network.latent.n_codes)
        weights = sum(network.latent.weights(block).sum(dim=0, dtype=torch.float64)
                      for block in z.split(step)) / len(z)
        codes = network.latent.codes(z)
    codes = codes.reshape(-1, codes.shape[-1])
    if len(codes) != len(weights):  # one code per draw
        weights = weights.new_full((len(codes),), 1.0 / len(codes))
    keep = weights > 0
    weights = weights[keep].numpy()
    return np.log(weights / weights.sum()), codes[keep]


def _density_prior_draws(network, n_draws, noise, rng):
    """The prior draws of the fitted density: spread evenly (a scrambled Sobol sequence)
    where each draw is a component of the mixture (the twin: one code per draw), whose
    Monte Carlo error is the predictions', independent where they only average the
    weights of the latent's fixed codes (the quantum and categorical latents)."""
    draw = stratified_prior_draws if network.latent.n_codes == 1 else prior_draws
    return draw(n_draws, network.encoder.n_outputs, noise, rng)


def _backend_label(backend):
    """A readable name: the string itself (or None), a device's name, a primitive's class."""
    return backend if backend is None else backend_name(backend)


def _tensor(array):
    return None if array is None else torch.as_tensor(array, dtype=torch.float32)


def _take(tensor, rows):
    return None if tensor is None else tensor[rows]
