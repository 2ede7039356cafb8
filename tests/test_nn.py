"""The shared fit loop of the torch estimators: callbacks, early stopping, seeding, state."""

import copy
import os
import socket
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.baselines import DiffusionSampler, GANSampler, VAESampler
from skqegm.datasets import make_tail_mixture
from skqegm.exceptions import DivergenceWarning
from skqegm.nn import (
    BaseTorchEstimator,
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochLogger,
    LRScheduler,
)
from skqegm.nn.callbacks import replaces_its_state

X_MIX = make_tail_mixture(1500, random_state=0)[0]
FAST = dict(hidden_layer_sizes=(8,), random_state=0)
TORCH_ESTIMATORS = [QEGMSampler, TailRiskEstimator, GANSampler, VAESampler, DiffusionSampler]


class Recorder(Callback):
    """Records the hooks it sees; stops after ``stop_at`` epochs."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at

    def on_train_begin(self, estimator):
        self.events = ["begin"]

    def on_epoch_begin(self, estimator, epoch):
        self.events.append(f"epoch {epoch}")

    def on_epoch_end(self, estimator, epoch):
        self.events.append(f"end {epoch}: {len(estimator.loss_curve_)} losses")
        return epoch == self.stop_at

    def on_train_end(self, estimator):
        self.events.append("end")


def fit(cls, data=X_MIX, **params):
    params = {**FAST, **params}
    if cls is TailRiskEstimator:
        y = data[:, 0] * (1 + np.abs(data[:, 0]))
        return cls(**params).fit(data, y)
    return cls(**params).fit(data)


@pytest.mark.parametrize("cls", TORCH_ESTIMATORS, ids=lambda c: c.__name__)
def test_every_torch_estimator_runs_the_one_loop(cls):
    assert issubclass(cls, BaseTorchEstimator)
    recorder = Recorder(stop_at=2)
    model = fit(cls, max_epochs=5, callbacks=[recorder])
    assert recorder.events == ["begin", "epoch 1", "end 1: 1 losses", "epoch 2",
                               "end 2: 2 losses", "end"]
    assert model.n_iter_ == 2 and len(model.loss_curve_) == 2
    assert not model.network_.training  # left in eval mode
    # Nor the last step's gradients kept: they doubled the fitted network's memory.
    assert all(param.grad is None for param in model.network_.parameters())


def test_early_stopping_waits_n_iter_no_change_epochs_and_keeps_the_best():
    # A tolerance no epoch can beat: the first epoch stays the best.
    with pytest.warns(ConvergenceWarning):
        first = VAESampler(max_epochs=1, **FAST).fit(X_MIX)
    patient = VAESampler(max_epochs=50, n_iter_no_change=3, tol=1e9, **FAST).fit(X_MIX)
    assert patient.n_iter_ == 4 and len(patient.validation_scores_) == 4
    for a, b in zip(first.network_.state_dict().values(),
                    patient.network_.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(first.sample(20, random_state=0),
                                  patient.sample(20, random_state=0))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tol_sets_what_counts_as_an_improvement():
    strict = QEGMSampler(max_epochs=60, n_iter_no_change=2, tol=0.5, **FAST).fit(X_MIX)
    lenient = QEGMSampler(max_epochs=60, n_iter_no_change=2, tol=0.0, **FAST).fit(X_MIX)
    assert strict.n_iter_ < lenient.n_iter_


def test_early_stopping_callback_by_hand():
    stopping = EarlyStopping(n_iter_no_change=2, tol=0.1)

    class Stub:
        validation_scores_ = []
        network_ = torch.nn.Linear(1, 1)

    stub = Stub()
    stopping.on_train_begin(stub)
    stops = []
    for epoch, score in enumerate([1.0, 1.05, 1.3, 1.35, 1.39], start=1):
        stub.validation_scores_.append(score)
        stops.append(stopping.on_epoch_end(stub, epoch))
    assert stops == [False, False, False, False, True]
    assert (stopping.best_epoch_, stopping.best_score_, stopping.stopped_epoch_) == (3, 1.3, 5)


def test_epoch_logger_prints_only_when_verbose(capsys, caplog):
    with caplog.at_level("DEBUG", logger="skqegm"):
        VAESampler(max_epochs=2, early_stopping=False, **FAST).fit(X_MIX)
    assert capsys.readouterr().out == ""
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "VAESampler Epoch 1/2", "VAESampler Epoch 2/2"]
    logger = EpochLogger(verbose=1)
    VAESampler(max_epochs=2, early_stopping=False, callbacks=[logger], **FAST).fit(X_MIX)
    assert capsys.readouterr().out.count("Epoch 2/2: loss = ") == 1


def test_early_stopping_says_why_it_stopped_when_verbose(capsys, caplog):
    # The reason went to the logger only; scikit-learn's MLP prints it with verbose.
    stop = dict(max_epochs=50, early_stopping=True, n_iter_no_change=2, tol=1e9, **FAST)
    with caplog.at_level("INFO", logger="skqegm"):
        VAESampler(**stop).fit(X_MIX)
    assert capsys.readouterr().out == ""
    assert "did not improve by more than tol=1000000000.0 for 2 epochs" in caplog.text
    VAESampler(verbose=1, **stop).fit(X_MIX)
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == ("Validation score did not improve by more than tol=1000000000.0 "
                           "for 2 epochs; stopping, with the weights of epoch 1.")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_leaves_torchs_global_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    QEGMSampler(max_epochs=2, **FAST).fit(X_MIX[:300])
    np.testing.assert_array_equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_the_same_random_state_gives_the_same_model_whatever_the_global_seed():
    torch.manual_seed(0)
    a = GANSampler(max_epochs=2, **FAST).fit(X_MIX).sample(30, random_state=0)
    torch.manual_seed(1)
    np.random.seed(1)  # noqa: NPY002 (the global state a fit must not read)
    b = GANSampler(max_epochs=2, **FAST).fit(X_MIX).sample(30, random_state=0)
    np.testing.assert_array_equal(a, b)


def test_gan_has_no_held_out_rows():
    model = fit(GANSampler, max_epochs=2)
    assert model.validation_scores_ is None
    assert "early_stopping" not in model.get_params()


def test_numpy_and_torch_mixture_densities_agree():
    # Training scores with the torch density, score_samples with the numpy one: the two
    # must be the same function.
    from skqegm.nn.modules import gaussian_mixture_logpdf, log_mixture_density

    rng = np.random.default_rng(0)
    X, mean = rng.normal(size=(50, 3)), rng.normal(size=(7, 3))
    scale = rng.uniform(0.2, 2.0, size=(7, 3))
    weights = rng.dirichlet(np.ones(7))
    expected = log_mixture_density(torch.from_numpy(X), torch.from_numpy(weights),
                                   torch.from_numpy(mean), torch.from_numpy(scale)).numpy()
    np.testing.assert_allclose(gaussian_mixture_logpdf(X, np.log(weights), mean, scale),
                               expected, rtol=1e-12)


def test_tail_risk_predictions_come_from_the_trained_torch_decoder():
    # No numpy copy of the decoder: a change to the torch weights changes the predictions.
    y = X_MIX[:, 0] * (1 + np.abs(X_MIX[:, 0]))
    model = TailRiskEstimator(max_epochs=2, **FAST).fit(X_MIX, y)
    before = model.predict_var(X_MIX[:5])
    with torch.no_grad():
        model.network_.decoder.net[-1].bias[0] += 1.0  # shift every component's mean
    shifted = model.predict_var(X_MIX[:5])
    # The float32 bias moves by 1 up to its rounding (1e-7).
    np.testing.assert_allclose(before - shifted, model._value_scaling[1][0], rtol=1e-6)


def test_forward_pairs_equals_forward_on_the_concatenated_pairs():
    from skqegm.nn.modules import GaussianHead

    torch.manual_seed(0)
    head = GaussianHead(3 + 2, (16, 8), 1)
    codes, context = torch.randn(7, 3), torch.randn(5, 2)
    pairs = torch.cat([codes.expand(5, 7, 3), context[:, None, :].expand(5, 7, 2)], dim=-1)
    expected = head.double()(pairs.double())
    head.float()
    for got, want in zip(head.forward_pairs(codes, context), expected):
        assert got.shape == (5, 7, 1) and got.dtype == torch.float64
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def _draws_of(model):
    if isinstance(model, TailRiskEstimator):
        return model.predict_quantiles(X_MIX[:50], [0.01, 0.5, 0.99])
    return model.sample(50, random_state=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [QEGMSampler, TailRiskEstimator, VAESampler],
                         ids=lambda c: c.__name__)
def test_fits_in_threads_equal_fits_alone(cls):
    # Concurrent fits of two seeds, beside a thread that reseeds torch's global generator
    # all along: when fits drew from that generator, 1 in 3 such fits changed.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    def draws(seed):
        return _draws_of(fit(cls, max_epochs=2, random_state=seed))

    alone = {seed: draws(seed) for seed in (0, 1)}
    threads = torch.get_num_threads()
    stop = threading.Event()

    def neighbour():
        k = 0
        while not stop.is_set():
            torch.manual_seed(k)
            torch.rand(8)
            k += 1

    worker = threading.Thread(target=neighbour)
    worker.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            seeds = [0, 1] * 3
            results = list(pool.map(draws, seeds))
    finally:
        stop.set()
        worker.join()
    for seed, result in zip(seeds, results):
        np.testing.assert_array_equal(result, alone[seed])
    assert torch.get_num_threads() == threads


def test_an_interrupted_fit_leaves_torchs_thread_setting_alone():
    class Interrupt(Callback):
        def on_epoch_end(self, estimator, epoch):
            raise KeyboardInterrupt

    threads = torch.get_num_threads()
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    with pytest.raises(KeyboardInterrupt):
        fit(VAESampler, max_epochs=3, callbacks=[Interrupt()])
    assert torch.get_num_threads() == threads
    np.testing.assert_array_equal(torch.rand(2), expected)


@pytest.mark.parametrize("cls", [QEGMSampler, VAESampler, DiffusionSampler],
                         ids=lambda c: c.__name__)
def test_a_diverging_learning_rate_is_named(cls):
    # Without the checks these fits returned samples of 1e5 to 1e13 (or NaN) silently.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = fit(cls, max_epochs=10, learning_rate=100.0, early_stopping=False)
        except ValueError as exc:  # non-finite draws are refused outright
            assert "diverged" in str(exc) and "learning_rate" in str(exc)
            return
    diverged = [str(w.message) for w in caught if issubclass(w.category, DivergenceWarning)]
    assert diverged and "learning_rate (got 100.0)" in diverged[-1]
    assert np.abs(model.sample(100, random_state=0)).max() > 100 * np.abs(X_MIX).max()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_huge_finite_values_are_standardised_without_overflow():
    # One value of 1e155 made std() overflow: every prediction was NaN, and X was ignored.
    X = X_MIX[:300, :1].copy()
    y = X[:, 0] * (1 + np.abs(X[:, 0]))
    y[7] = 1e155
    model = TailRiskEstimator(max_epochs=2, **FAST).fit(X, y)
    assert np.all(np.isfinite(model.predict(X[:20])))
    X_big = X.copy()
    X_big[3, 0] = -1e155
    sampler = QEGMSampler(max_epochs=2, **FAST).fit(X_big)
    assert np.all(np.isfinite(sampler.sample(20, random_state=0)))
    assert np.all(np.isfinite(sampler.score_samples(X_big[:20])))


def test_values_too_large_to_leave_room_are_refused_by_column():
    X = np.column_stack([X_MIX[:100, 0], X_MIX[:100, 0]])
    X[4, 1] = 1.5e305
    with pytest.raises(ValueError, match=r"X column 1 holds 1.5e\+305.*Rescale"):
        VAESampler(max_epochs=1, **FAST).fit(X)
    y = X_MIX[:100, 0].copy()
    y[0] = -1e306
    with pytest.raises(ValueError, match="y column 0 holds"):
        TailRiskEstimator(max_epochs=1, **FAST).fit(X_MIX[:100], y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("factor", [1e300, 1e-300])
def test_a_fit_is_the_same_model_at_any_scale(factor):
    # Standardisation divides by each column's largest magnitude before squaring, so data
    # near the ends of float64 give the model of the unscaled data, scaled.
    X = np.random.default_rng(0).standard_t(3, size=(200, 1))
    params = dict(n_qubits=2, n_layers=1, max_epochs=3, **FAST)
    plain = QEGMSampler(**params).fit(X).sample(500, random_state=0)
    scaled = QEGMSampler(**params).fit(X * factor).sample(500, random_state=0) / factor
    np.testing.assert_allclose(scaled, plain, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: QEGMSampler(early_stopping=False, callbacks=[EarlyStopping(1)], **FAST),
    lambda: GANSampler(callbacks=[EarlyStopping(1)], **FAST),
], ids=["QEGMSampler", "GANSampler"])
def test_an_early_stopping_callback_without_held_out_rows_is_named(make):
    # It read validation_scores_ = None: TypeError 'NoneType' object is not subscriptable.
    with pytest.raises(ValueError, match="EarlyStopping in callbacks needs a validation score"):
        make().fit(X_MIX[:200])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_that_fails_or_is_interrupted_leaves_the_estimator_as_it_was():
    # A refit stopped by a callback, or by a refused target, left this fit's scaling and
    # feature count beside the last fit's network: a 1-column X then "predicted" silently
    # through the 2-feature network, and the sampler drew from a half-trained one.
    from sklearn.exceptions import NotFittedError

    class Interrupt(Callback):
        def on_epoch_end(self, estimator, epoch):
            raise KeyboardInterrupt

    sampler = QEGMSampler(max_epochs=2, callbacks=[Interrupt()], **FAST)
    with pytest.raises(KeyboardInterrupt):
        sampler.fit(X_MIX[:300])
    assert sorted(vars(sampler)) == sorted(sampler.get_params())  # unfitted, as before
    with pytest.raises(NotFittedError):
        sampler.sample(2)
    sampler.set_params(callbacks=None).fit(X_MIX[:300])
    state, expected = dict(vars(sampler)), sampler.sample(5, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        sampler.set_params(callbacks=[Interrupt()]).fit(X_MIX[:200])
    assert {k: v for k, v in vars(sampler).items() if k != "callbacks"} == \
        {k: v for k, v in state.items() if k != "callbacks"}  # the last model, whole
    np.testing.assert_array_equal(sampler.sample(5, random_state=0), expected)

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 2))
    model = TailRiskEstimator(max_epochs=2, **FAST).fit(X, X[:, 0] + rng.normal(size=300))
    expected = model.predict(X[:3])
    with pytest.raises(ValueError, match="y is constant"):
        model.fit(X[:, :1], np.ones(300))
    with pytest.raises(ValueError, match="expecting 2 features"):
        model.predict(X[:3, :1])
    np.testing.assert_array_equal(model.predict(X[:3]), expected)


@pytest.mark.parametrize("cls", TORCH_ESTIMATORS, ids=lambda c: c.__name__)
def test_a_network_too_large_for_memory_is_refused_before_it_is_built(cls, monkeypatch):
    # hidden_layer_sizes=(40000, 40000) asked torch for 6.4 GB per layer: its allocator's
    # error, or the machine swapping, instead of an estimate naming the parameter.
    from skqegm.exceptions import MemoryLimitError

    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "1")
    with pytest.raises(MemoryLimitError, match=r"hidden_layer_sizes=\(40000, 40000\) needs "
                                               r"an estimated 41.7 GiB"):
        fit(cls, hidden_layer_sizes=(40000, 40000), max_epochs=1)


@pytest.mark.parametrize("cls", [VAESampler, GANSampler], ids=lambda c: c.__name__)
def test_a_built_network_whose_training_cannot_fit_is_refused(cls, monkeypatch):
    # The estimate counted one MLP at 16 bytes a weight: 64 MiB for hidden_layer_sizes=
    # (2048, 2048), where a VAE's fit (encoder and decoder) peaked at 251 MiB, and the
    # GAN's (generator and critic) at 297 MiB, so a limit of 150 MiB let them train.
    from skqegm.exceptions import MemoryLimitError

    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", str(150 / 1024))
    model = cls(hidden_layer_sizes=(2048, 2048), max_epochs=1, random_state=0)
    with pytest.raises(MemoryLimitError, match=(
            rf"training {cls.__name__}'s network \(8,4\d\d,\d\d\d float32 weights, "
            r"hidden_layer_sizes=\(2048, 2048\)\) needs an estimated 19\d MiB of memory")):
        model.fit(X_MIX[:100])
    assert not hasattr(model, "network_")


def test_saving_an_estimator_during_its_fit_is_refused_by_name():
    # A checkpoint pickled in a callback loaded as a model that passed check_is_fitted
    # and then failed (no _components), or failed with "cannot pickle 'generator'".
    import pickle

    class Checkpoint(Callback):
        def on_epoch_end(self, estimator, epoch):
            self.saved = pickle.dumps(estimator)

    model = VAESampler(max_epochs=2, callbacks=[Checkpoint()], **FAST)
    with pytest.raises(RuntimeError, match=r"VAESampler cannot be saved or copied during "
                                           r"its fit.*network_.state_dict\(\)"):
        model.fit(X_MIX[:200])
    # Once fitted it saves as usual, the callback with it.
    model.set_params(callbacks=None).fit(X_MIX[:200])
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.sample(3, random_state=0),
                                  model.sample(3, random_state=0))


@pytest.mark.parametrize("params, match", [
    (dict(n_iter_no_change=0), "n_iter_no_change must be >= 1; got 0"),
    (dict(n_iter_no_change="5"), "n_iter_no_change must be an integer"),
    (dict(tol=-1.0), r"tol must be in \[0, inf\); got -1.0"),
    (dict(tol=float("nan")), "tol must be a finite real number"),
])
def test_early_stopping_callback_parameters_are_checked_by_name(params, match):
    # n_iter_no_change=0 stopped every fit after one epoch, tol=-1 never stopped one, and
    # a string failed at the end of the first epoch inside a comparison.
    with pytest.raises(ValueError, match=f"EarlyStopping's {match}"):
        fit(VAESampler, max_epochs=2, callbacks=[EarlyStopping(**params)])


@pytest.mark.parametrize("fraction, needed", [(0.15, 3), (0.5, 4), (0.99, 200), (0.999, 2000)])
def test_too_few_rows_for_validation_fraction_names_the_rows_needed(fraction, needed):
    # validation_fraction=0.99 on 60 rows said "needs at least 3 samples; got 60".
    with pytest.raises(ValueError, match=rf"needs at least {needed} samples to train "
                                         rf"\(early_stopping=True, validation_fraction="
                                         rf"{fraction}\); got {needed - 1} samples"):
        fit(VAESampler, max_epochs=1, validation_fraction=fraction,
            data=np.resize(X_MIX, (needed - 1, 1)))
    assert fit(VAESampler, max_epochs=1, validation_fraction=fraction,
               data=np.resize(X_MIX, (needed, 1))).n_iter_ == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", TORCH_ESTIMATORS, ids=lambda c: c.__name__)
def test_numpy_integer_parameters_as_a_grid_gives_them(cls):
    # GridSearchCV over np.array([64, 128]) hands np.int64 values: batch_size failed in
    # torch's split ("must be tuple of ints, not numpy.int64").
    model = fit(cls, data=X_MIX[:300], batch_size=np.int64(64), max_epochs=np.int64(1))
    assert model.n_iter_ == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_numpy_strings_as_a_grid_gives_them():
    # GridSearchCV over np.array(["cpu", "auto"]) hands np.str_ values, which
    # scikit-learn's validation accepted and skqegm's then refused: "device must be one
    # of 'cpu', 'cuda', 'auto'; got np.str_('cpu')".
    grid = np.array(["auto", "amplitude"])
    model = fit(QEGMSampler, data=X_MIX[:100], max_epochs=1, n_qubits=2, device=grid[0],
                encoding=grid[1])
    assert model.n_iter_ == 1
    with pytest.raises(ValueError, match="'device' parameter"):
        fit(QEGMSampler, data=X_MIX[:100], device=np.array(["gpu"])[0])


@pytest.mark.parametrize("model", [QEGMSampler(max_epochs=2, random_state=0),
                                   VAESampler(max_epochs=2, random_state=0)],
                         ids=lambda m: type(m).__name__)
def test_constant_modelled_columns_warn_by_name(model):
    # A column constant at 1e-9 was standardised by 1 and sampled with a spread of ~0.5.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"ret": rng.normal(size=200), "flag": 1e-9, "zero": 0.0})
    with pytest.warns(UserWarning, match=r"X column\(s\) 'flag', 'zero' are constant in the "
                                         r"training data: " + type(model).__name__):
        model.fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[["ret"]])


# -- LRScheduler and Checkpoint -------------------------------------------------------------


def _reconstruction_loss(network, x):
    return ((network(x) - x) ** 2).sum(1).mean()


class _Autoencoder(BaseTorchEstimator):
    """A small MLP trained on fixed batches in row order, for hand-written references."""

    def __init__(self, hidden_layer_sizes=(4,), max_epochs=12, batch_size=60,
                 learning_rate=0.05, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, callbacks=None, random_state=0, verbose=0):
        params = dict(locals())
        del params["self"]
        vars(self).update(params)

    def _make_network(self):
        n = self.n_features_in_
        return torch.nn.Sequential(torch.nn.Linear(n, 4), torch.nn.Tanh(), torch.nn.Linear(4, n))

    def _iter_batches(self, train_set, generator):
        self.train_tensor_ = train_set  # the standardised rows, for the reference
        yield from train_set.split(self.batch_size)

    def _get_loss(self, x, generator):
        return _reconstruction_loss(self.network_, x)


class _InitialNetwork(Callback):
    def on_train_begin(self, estimator):
        self.network = copy.deepcopy(estimator.network_)


def _inverse_epoch(n):
    return 1 / (1 + n)


def _first_epoch_only(n):
    return 1.0 if n == 0 else 0.0


@pytest.mark.parametrize("schedule, reference", [
    (LRScheduler(_inverse_epoch),
     lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, _inverse_epoch)),
    (LRScheduler("step", step_size=3, gamma=0.5),
     lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)),
    (LRScheduler("step", step_size=2),
     lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2)),
    (LRScheduler("exponential", gamma=0.8),
     lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)),
    (LRScheduler("cosine", T_max=5),  # past T_max the cosine rises again, as torch's
     lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)),
], ids=["lambda", "step", "step-default-gamma", "exponential", "cosine"])
def test_lr_scheduler_equals_torchs_schedulers_driving_torchs_adam(schedule, reference):
    X = np.random.default_rng(0).normal(size=(120, 2))
    initial = _InitialNetwork()
    model = _Autoencoder(callbacks=[initial, schedule]).fit(X)
    network = copy.deepcopy(initial.network)
    optimizer = torch.optim.Adam(network.parameters(), lr=model.learning_rate)
    scheduler, rates = reference(optimizer), []
    for _ in range(model.max_epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        for x in model.train_tensor_.split(model.batch_size):
            optimizer.zero_grad()
            _reconstruction_loss(network, x).backward()
            optimizer.step()
        scheduler.step()
    assert len(set(rates)) > 2  # the rate changed
    np.testing.assert_allclose(schedule.learning_rates_, rates, rtol=1e-12, atol=1e-15)
    for name, theirs in network.state_dict().items():
        np.testing.assert_allclose(model.network_.state_dict()[name].numpy(), theirs.numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert model.learning_rate == 0.05  # the parameter is not changed
    assert not hasattr(model, "optimizer_")  # nor the optimizer kept


def test_lr_scheduler_scales_both_optimizers_of_a_gan():
    # A zero rate from the second epoch on freezes the critic and the generator alike.
    every = Checkpoint(every=1)
    schedule = LRScheduler(_first_epoch_only)
    gan = GANSampler(max_epochs=3, learning_rate=0.01, callbacks=[schedule, every],
                     **FAST).fit(X_MIX[:300])
    assert schedule.learning_rates_ == [0.01, 0.0, 0.0]
    for name, tensor in gan.network_.state_dict().items():
        assert torch.equal(every.state_dict(1)[name], tensor), name
    moving = Checkpoint(every=1)
    GANSampler(max_epochs=3, callbacks=[moving], **FAST).fit(X_MIX[:300])
    assert not all(torch.equal(moving.state_dict(1)[k], v)
                   for k, v in moving.state_dict(3).items())


@pytest.mark.parametrize("checkpoint", [Checkpoint(), Checkpoint(load_best=True)],
                         ids=["best", "load_best"])
def test_a_gan_refuses_a_checkpoint_of_its_best_epoch(checkpoint):
    # It kept the epoch of the lowest critic estimate: over 100 epochs, epoch 1 (the
    # critic untrained) in 3 runs of 6, whose draws were about the worst of all.
    gan = GANSampler(max_epochs=2, callbacks=[checkpoint], **FAST)
    with pytest.raises(ValueError, match=r"^GANSampler refuses Checkpoint without every: "
                                         r".*the critic's estimate of the Wasserstein "
                                         r"distance.*Checkpoint\(every=k\)"):
        gan.fit(X_MIX[:100])
    assert not hasattr(gan, "network_") and not hasattr(checkpoint, "epochs_")


@pytest.mark.parametrize("schedule, match", [
    (LRScheduler("linear"), r"schedule must be a callable \(epochs run -> factor\) or one "
                            r"of \['cosine', 'exponential', 'step'\]; got 'linear'"),
    (LRScheduler(["step"]), r"or one of \['cosine', 'exponential', 'step'\]; got \['step'\]"),
    (LRScheduler("step"), r"LRScheduler\(schedule='step'\) needs step_size"),
    (LRScheduler("exponential"), r"LRScheduler\(schedule='exponential'\) needs gamma"),
    (LRScheduler("cosine"), r"LRScheduler\(schedule='cosine'\) needs T_max"),
    (LRScheduler("cosine", T_max=5, gamma=0.5),
     "gamma is used only by schedule='step' or 'exponential'; got gamma=0.5 with "
     "schedule='cosine'"),
    (LRScheduler(_inverse_epoch, step_size=2), "step_size is used only by schedule='step'"),
    (LRScheduler("step", step_size=0), "step_size must be >= 1; got 0"),
    (LRScheduler("exponential", gamma=0.0), r"gamma must be in \(0, inf\); got 0.0"),
    (LRScheduler("cosine", T_max=2.5), "T_max must be an integer; got 2.5"),
    (LRScheduler(lambda n: -1.0), r"must return a finite real factor >= 0; schedule\(0\) "
                                  r"returned -1.0"),
    (LRScheduler(lambda n: 1.0 if n < 1 else float("nan")), r"schedule\(1\) returned nan"),
    (LRScheduler(lambda n: "1"), r"schedule\(0\) returned '1'"),
    (LRScheduler(lambda n: 1e7), r"gives a learning rate of 10000 at epoch 1, above the "
                                 r"largest accepted \(1000\)"),
])
def test_lr_scheduler_parameters_are_checked_by_name(schedule, match):
    model = VAESampler(max_epochs=2, early_stopping=False, callbacks=[schedule], **FAST)
    with pytest.raises(ValueError, match=match):
        model.fit(X_MIX[:100])
    assert not hasattr(model, "network_") and not hasattr(model, "optimizer_")


def test_lr_scheduler_needs_an_optimizer_with_a_rate():
    class Stub:
        optimizer_ = object()

    with pytest.raises(TypeError, match=r"cannot set the learning rate of Stub's optimizer "
                                        r"\(object\)"):
        LRScheduler("exponential", gamma=0.5).on_train_begin(Stub())


class _EpochsSeen(Callback):
    """Appends each epoch begun to a list of the caller's."""

    def __init__(self, seen):
        # Its method, not the list: a failed fit puts back the lists a callback holds.
        self.record = seen.append

    def on_epoch_begin(self, estimator, epoch):
        self.record(epoch)


def _states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("early_stopping", [True, False])
def test_checkpoint_keeps_the_best_epoch_by_validation_score_or_training_loss(early_stopping):
    best = Checkpoint()
    # A rate high enough that neither curve improves at every epoch.
    model = VAESampler(max_epochs=10, learning_rate=0.2, early_stopping=early_stopping,
                       tol=0.0, n_iter_no_change=2, callbacks=[best], **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_MIX[:400])
    if early_stopping:
        scores = np.array(model.validation_scores_)
        assert best.monitor_ == "validation_score"
        # Early stopping with tol=0 restores the same epoch.
        assert _states_equal(best.state_dict(), model.network_.state_dict())
    else:
        scores = -np.array(model.loss_curve_)
        assert best.monitor_ == "training_loss"
    assert best.best_epoch_ == np.argmax(scores) + 1 and best.epochs_ == [best.best_epoch_]
    assert best.best_score_ == scores.max() and best.paths_ is None
    assert best.best_epoch_ < model.n_iter_
    # load_best=True: the fitted network is the best epoch's.
    loaded = Checkpoint(load_best=True)
    model.set_params(callbacks=[loaded], early_stopping=False).fit(X_MIX[:400])
    assert loaded.best_epoch_ == np.argmin(model.loss_curve_) + 1 < model.n_iter_
    assert _states_equal(loaded.state_dict(), model.network_.state_dict())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_checkpoint_writes_files_that_torch_loads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    every_dir, best_dir = tmp_path / "every", tmp_path / "deep" / "best"  # created
    # A relative directory is kept as an absolute path.
    every, best = Checkpoint("every", every=2), Checkpoint(str(best_dir))
    memory = Checkpoint(every=2)
    VAESampler(max_epochs=5, callbacks=[every, best, memory], **FAST).fit(X_MIX[:300])
    assert sorted(os.listdir(every_dir)) == ["epoch_0002.pt", "epoch_0004.pt"]
    assert os.listdir(best_dir) == ["best.pt"]  # no partial file left
    assert every.epochs_ == memory.epochs_ == [2, 4]
    assert every.paths_ == [str(every_dir / "epoch_0002.pt"), str(every_dir / "epoch_0004.pt")]
    monkeypatch.chdir(best_dir)  # the relative directory is read where it was written
    for epoch, path in zip(every.epochs_, every.paths_):
        state = torch.load(path, weights_only=True)
        assert _states_equal(state, memory.state_dict(epoch))
        assert _states_equal(state, every.state_dict(epoch))
    assert _states_equal(torch.load(best.paths_[0], weights_only=True), best.state_dict())
    with pytest.raises(ValueError, match=r"kept the networks of epochs \[2, 4\]; got epoch=3"):
        every.state_dict(3)
    with pytest.raises(ValueError, match="This Checkpoint has kept nothing: it has not"):
        Checkpoint().state_dict()


def test_checkpoint_every_beyond_the_epochs_run_says_so():
    # every=10 over 4 epochs keeps nothing; state_dict said "give it to an estimator's
    # callbacks and fit", which the user had done.
    every = Checkpoint(every=10)
    VAESampler(max_epochs=4, early_stopping=False, callbacks=[every], **FAST).fit(X_MIX[:200])
    assert every.epochs_ == []
    with pytest.raises(ValueError, match=r"kept no network: every=10 is more than the 4 "
                                         r"epochs of its last fit"):
        every.state_dict()


@pytest.mark.parametrize("checkpoint, error, match", [
    (Checkpoint(every=0), ValueError, "Checkpoint's every must be >= 1; got 0"),
    (Checkpoint(every="2"), ValueError, "Checkpoint's every must be an integer"),
    (Checkpoint(load_best="yes"), ValueError, "load_best must be True or False; got 'yes'"),
    (Checkpoint(every=2, load_best=True), ValueError,
     "load_best=True keeps the best epoch, which every=2 does not choose"),
    (Checkpoint(directory=5), ValueError, "directory must be a path .* got int"),
])
def test_checkpoint_parameters_are_checked_by_name(checkpoint, error, match):
    with pytest.raises(error, match=match):
        fit(VAESampler, data=X_MIX[:100], max_epochs=2, callbacks=[checkpoint])


def test_checkpoint_refuses_a_directory_it_cannot_write_before_training(tmp_path):
    (tmp_path / "a_file").write_text("")
    epochs = []  # the caller's: seen as the callback edits it
    model = VAESampler(max_epochs=2, callbacks=[_EpochsSeen(epochs),
                                                Checkpoint(tmp_path / "a_file" / "sub")],
                       **FAST)
    with pytest.raises(ValueError, match=r"Checkpoint's directory '.*sub' cannot be written "
                                         r"to \(.*\): give a writable directory, or "
                                         r"directory=None"):
        model.fit(X_MIX[:100])
    assert epochs == []  # no epoch ran
    assert not hasattr(model, "network_")


def test_checkpoint_in_memory_refuses_copies_that_cannot_fit(monkeypatch):
    from skqegm.exceptions import MemoryLimitError

    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.001")
    with pytest.raises(MemoryLimitError, match=r"Checkpoint\(every=1\) in memory over "
                                               r"max_epochs=10000 needs an estimated"):
        fit(VAESampler, data=X_MIX[:100], max_epochs=10_000, callbacks=[Checkpoint(every=1)])


@pytest.mark.parametrize("early_stopping", [True, False])
@pytest.mark.parametrize("make", [
    lambda **kw: QEGMSampler(**kw),
    lambda **kw: TailRiskEstimator(latent="gaussian", **kw),
], ids=["quantum-QEGMSampler", "gaussian-TailRiskEstimator"])
def test_checkpoint_with_quantum_and_classical_models(make, early_stopping):
    every, best = Checkpoint(every=1), Checkpoint(load_best=True)
    model = make(max_epochs=4, early_stopping=early_stopping, callbacks=[every, best], **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if isinstance(model, TailRiskEstimator):
            model.fit(X_MIX[:300], X_MIX[:300, 0] * 2)
        else:
            model.fit(X_MIX[:300])
    assert every.epochs_ == list(range(1, model.n_iter_ + 1))
    assert best.monitor_ == ("validation_score" if early_stopping else "training_loss")
    # The fitted network (restored by load_best before the fitted attributes are derived)
    # is the best epoch's, as the every-epoch checkpoint kept it.
    assert _states_equal(model.network_.state_dict(), every.state_dict(best.best_epoch_))
    assert _states_equal(best.state_dict(), every.state_dict(best.best_epoch_))
    assert np.all(np.isfinite(_draws_of(model)))


def test_shared_callbacks_reset_at_each_fit():
    schedule, checkpoint = LRScheduler("exponential", gamma=0.5), Checkpoint(every=1)
    for max_epochs in (3, 2):
        VAESampler(max_epochs=max_epochs, early_stopping=False, learning_rate=0.01,
                   callbacks=[schedule, checkpoint], **FAST).fit(X_MIX[:200])
    assert schedule.learning_rates_ == [0.01, 0.005] and checkpoint.epochs_ == [1, 2]


class _RaiseAt(Callback):
    """Raises ``error`` at the end of epoch ``epoch``, or after the last (``None``)."""

    def __init__(self, error, epoch=None):
        self.error = error
        self.epoch = epoch

    def on_epoch_end(self, estimator, epoch):
        if epoch == self.epoch:
            raise self.error

    def on_train_end(self, estimator):
        if self.epoch is None:
            raise self.error


def _files(directory):
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


@pytest.mark.parametrize("error", [ValueError("refused"), KeyboardInterrupt()],
                         ids=["ValueError", "KeyboardInterrupt"])
def test_a_failed_refit_leaves_the_callbacks_and_their_files_as_they_were(tmp_path, error):
    # The estimator was restored, its callbacks were not: best.pt held the failed fit's
    # epoch 1, state_dict() returned it, and learning_rates_ were the failed fit's.
    schedule = LRScheduler("exponential", gamma=0.5)
    best, every = Checkpoint(tmp_path / "best"), Checkpoint(tmp_path / "every", every=1)
    memory = Checkpoint(load_best=True)
    callbacks = [schedule, best, every, memory]
    model = VAESampler(max_epochs=3, early_stopping=False, learning_rate=0.01,
                       callbacks=callbacks, **FAST).fit(X_MIX[:200])
    before = [dict(vars(callback)) for callback in callbacks]
    files = {name: _files(tmp_path / name) for name in ("best", "every")}
    assert list(files["best"]) == ["best.pt"]
    assert list(files["every"]) == ["epoch_0001.pt", "epoch_0002.pt", "epoch_0003.pt"]
    states = [best.state_dict(), memory.state_dict()] + [every.state_dict(e) for e in (1, 3)]
    # At epoch 2, and after the last epoch (load_best has run, the fit not yet derived).
    for raising in (_RaiseAt(error, epoch=2), _RaiseAt(error)):
        model.set_params(callbacks=[*callbacks, raising])
        with pytest.raises(type(error)):
            model.fit(X_MIX[200:400])
        for callback, state in zip(callbacks, before):
            assert vars(callback).keys() == state.keys()
            assert all(vars(callback)[name] is value for name, value in state.items())
        assert {name: _files(tmp_path / name) for name in files} == files  # nothing left
        now = [best.state_dict(), memory.state_dict()] + [every.state_dict(e) for e in (1, 3)]
        assert all(_states_equal(a, b) for a, b in zip(now, states))
    assert schedule.learning_rates_ == [0.01, 0.005, 0.0025]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_successful_refit_leaves_only_its_own_files(tmp_path):
    # A refit over fewer epochs left the earlier fit's epoch_0003.pt beside its own.
    (tmp_path / "notes.txt").write_text("the user's")
    every = Checkpoint(tmp_path, every=1)
    model = VAESampler(max_epochs=3, early_stopping=False, callbacks=[every], **FAST)
    model.fit(X_MIX[:200])
    assert sorted(os.listdir(tmp_path)) == ["epoch_0001.pt", "epoch_0002.pt",
                                            "epoch_0003.pt", "notes.txt"]
    model.set_params(max_epochs=2).fit(X_MIX[200:400])
    assert sorted(os.listdir(tmp_path)) == ["epoch_0001.pt", "epoch_0002.pt", "notes.txt"]
    assert _states_equal(torch.load(every.paths_[1], weights_only=True),
                         model.network_.state_dict())
    best = Checkpoint(tmp_path)
    model.set_params(callbacks=[best]).fit(X_MIX[:200])
    assert sorted(os.listdir(tmp_path)) == ["best.pt", "notes.txt"]
    assert best.paths_ == [str(tmp_path / "best.pt")]


def test_two_live_fits_on_one_checkpoint_directory_are_refused(tmp_path):
    # The second fit overwrote the first's best.pt: the first Checkpoint's state_dict()
    # then returned the other model's weights, without a word.
    refused = []

    class FitAnother(Callback):
        def on_epoch_end(self, estimator, epoch):
            if epoch == 1:
                other = VAESampler(max_epochs=2, early_stopping=False,
                                   callbacks=[Checkpoint(tmp_path)], **FAST)
                with pytest.raises(ValueError) as info:
                    other.fit(X_MIX[:100])
                refused.append(str(info.value))

    checkpoint = Checkpoint(tmp_path, load_best=True)
    model = VAESampler(max_epochs=2, early_stopping=False,
                       callbacks=[checkpoint, FitAnother()], **FAST).fit(X_MIX[:200])
    assert refused == [
        f"Checkpoint's directory {str(tmp_path)!r} is in use by another fit (process "
        f"{os.getpid()} on {socket.gethostname()}): fits at the same time (a search or "
        "cross-validation with n_jobs > 1, walk_forward's refits in parallel, or two "
        "Checkpoints of one fit) would overwrite each other's files. Give each its own "
        "directory, or directory=None to keep the networks in memory."]
    assert _states_equal(torch.load(tmp_path / "best.pt", weights_only=True),
                         model.network_.state_dict())
    with pytest.raises(ValueError, match="is in use by another fit"):
        VAESampler(max_epochs=2, callbacks=[Checkpoint(tmp_path), Checkpoint(tmp_path, every=1)],
                   **FAST).fit(X_MIX[:100])
    assert os.listdir(tmp_path) == ["best.pt"]  # the last fit's; no lock or folder left


@pytest.mark.slow  # a process that imports torch: ~8 s on 2 busy cores
def test_a_checkpoint_directory_held_by_a_dead_process_is_taken_over(tmp_path):
    # A fit whose process dies (os._exit: no cleanup runs) leaves its lock file and its
    # hidden folder; the system released its lock, so the next fit proceeds.
    import subprocess
    import sys

    import skqegm

    script = (
        "import os\n"
        "from skqegm.baselines import VAESampler\n"
        "from skqegm.datasets import make_tail_mixture\n"
        "from skqegm.nn import Callback, Checkpoint\n"
        "class Die(Callback):\n"
        "    def on_epoch_end(self, estimator, epoch):\n"
        "        os._exit(3)\n"
        "X, _ = make_tail_mixture(100, random_state=0)\n"
        f"VAESampler(max_epochs=2, hidden_layer_sizes=(8,), callbacks=[Checkpoint("
        f"{str(tmp_path)!r}), Die()]).fit(X)\n")
    root = os.path.dirname(os.path.dirname(skqegm.__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run([sys.executable, "-c", script], env=env, timeout=300)
    assert result.returncode == 3
    left = sorted(os.listdir(tmp_path))
    assert left[0] == ".checkpoint.lock" and left[1].startswith(".pending-")
    checkpoint = Checkpoint(tmp_path)
    fit(VAESampler, data=X_MIX[:100], max_epochs=2, early_stopping=False,
        callbacks=[checkpoint])
    assert os.listdir(tmp_path) == ["best.pt"]


def _scheduled_vae():
    callbacks = [LRScheduler("exponential", gamma=0.5), Checkpoint(every=1)]
    return VAESampler(max_epochs=3, learning_rate=0.01, callbacks=callbacks, **FAST)


def _cross_validate(model, n_jobs):
    from sklearn.model_selection import cross_validate

    return cross_validate(model, X_MIX[:300], cv=2, n_jobs=n_jobs, return_estimator=True)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_callbacks_in_cross_validate_and_grid_search_are_copies():
    from sklearn.model_selection import GridSearchCV

    model = _scheduled_vae()
    schedule, checkpoint = model.callbacks
    fitted = [est.callbacks for est in _cross_validate(model, n_jobs=1)["estimator"]]
    assert len({id(cb) for cbs in fitted for cb in cbs}) == 4  # each fit its own copies
    assert [cbs[0].learning_rates_ for cbs in fitted] == [[0.01, 0.005, 0.0025]] * 2
    assert [cbs[1].epochs_ for cbs in fitted] == [[1, 2, 3]] * 2
    assert not _states_equal(fitted[0][1].state_dict(), fitted[1][1].state_dict())
    assert not hasattr(schedule, "learning_rates_") and not hasattr(checkpoint, "epochs_")

    grid = {"callbacks": [[LRScheduler("step", step_size=1, gamma=0.5)],
                          [LRScheduler("exponential", gamma=0.9)]]}
    search = GridSearchCV(model, grid, cv=2).fit(X_MIX[:300])
    assert not any(hasattr(cbs[0], "learning_rates_") for cbs in grid["callbacks"])
    assert len(search.best_estimator_.callbacks[0].learning_rates_) == 3
    assert repr(search.cv_results_["params"][0]["callbacks"]) == (
        "[LRScheduler(schedule='step', step_size=1, gamma=0.5, T_max=None)]")


def test_a_result_of_a_callback_never_fitted_says_where_the_fitted_copies_are():
    # clone (and every meta-estimator) fits copies: the user's own LRScheduler said only
    # "'LRScheduler' object has no attribute 'learning_rates_'".
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    model = _scheduled_vae().set_params(early_stopping=False)
    schedule, checkpoint = model.callbacks
    fitted = clone(model).fit(X_MIX[:200])
    assert fitted.callbacks[0].learning_rates_ == [0.01, 0.005, 0.0025]
    with pytest.raises(NotFittedError, match=(
            r"^This LRScheduler has kept nothing: it has not been through a fit that "
            r"succeeded \(learning_rates_ is set when an estimator given it in callbacks "
            r"is fitted; a fit that raises leaves it as it was\)\. clone, GridSearchCV, "
            r"cross_validate and walk_forward fit copies of the callbacks, leaving this "
            r"LRScheduler unfitted: read the fitted estimator's own, e\.g\. "
            r"search\.best_estimator_\.callbacks or cross_validate\(\.\.\., "
            r"return_estimator=True\)\['estimator'\]\[i\]\.callbacks")):
        _ = schedule.learning_rates_
    for name in ("monitor_", "best_epoch_", "best_score_", "epochs_", "paths_"):
        with pytest.raises(NotFittedError, match=f"This Checkpoint has kept nothing.*"
                                                 f"\\({name} is set"):
            getattr(checkpoint, name)
    with pytest.raises(ValueError, match=r"Checkpoint has kept nothing: .*\(it keeps "
                                         r"networks when .*best_estimator_\.callbacks"):
        checkpoint.state_dict()
    with pytest.raises(NotFittedError, match="This EarlyStopping has kept nothing"):
        _ = EarlyStopping().stopped_epoch_
    assert not hasattr(checkpoint, "epochs_")  # hasattr still answers
    with pytest.raises(AttributeError, match="^'Checkpoint' object has no attribute 'best_'$"):
        _ = checkpoint.best_


@pytest.mark.slow  # two worker processes that import torch: ~12 s on 2 busy cores
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_callbacks_in_two_processes_equal_one():
    one, two = (_cross_validate(_scheduled_vae(), n_jobs) for n_jobs in (1, 2))
    np.testing.assert_array_equal(one["test_score"], two["test_score"])
    for a, b in zip(one["estimator"], two["estimator"]):
        assert a.callbacks[0].learning_rates_ == b.callbacks[0].learning_rates_
        assert a.callbacks[1].epochs_ == b.callbacks[1].epochs_ == [1, 2, 3]
        for epoch in a.callbacks[1].epochs_:
            assert _states_equal(a.callbacks[1].state_dict(epoch),
                                 b.callbacks[1].state_dict(epoch))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_model_fitted_with_the_callbacks_pickles(tmp_path):
    import pickle

    callbacks = [LRScheduler(_inverse_epoch), Checkpoint(every=2), Checkpoint(tmp_path)]
    model = QEGMSampler(max_epochs=3, callbacks=callbacks, **FAST).fit(X_MIX[:200])
    restored = pickle.loads(pickle.dumps(model))
    assert not hasattr(restored, "optimizer_")
    np.testing.assert_array_equal(restored.sample(5, random_state=0),
                                  model.sample(5, random_state=0))
    schedule, every, best = restored.callbacks
    assert schedule.learning_rates_ == callbacks[0].learning_rates_
    assert _states_equal(every.state_dict(2), callbacks[1].state_dict(2))
    assert best.paths_ == [str(tmp_path / "best.pt")]


class _History(Callback):
    """A user's callback that edits its own objects in place, never resetting them."""

    def __init__(self, seen):
        self.seen = seen  # the caller's list
        self.best = {"loss": np.inf}
        self.curve = np.zeros(4)
        self.total = torch.zeros(1)
        self.epochs = {0}

    def on_epoch_end(self, estimator, epoch):
        loss = estimator.loss_curve_[-1]
        self.seen.append(loss)
        self.best["loss"] = min(self.best["loss"], loss)
        self.curve[epoch - 1] = loss
        self.total += loss
        self.epochs.add(epoch)


def test_a_failed_fit_puts_back_what_a_callback_edited_in_place():
    # Only the callback's attributes were put back, the objects themselves: the failed
    # fit's epochs stayed in its lists, dicts and arrays (5 losses after 3 epochs + 2).
    seen = []
    history = _History(seen)
    model = VAESampler(max_epochs=3, early_stopping=False, callbacks=[history], **FAST)
    model.fit(X_MIX[:200])
    before = (list(seen), dict(history.best), history.curve.copy(), history.total.clone(),
              set(history.epochs))
    objects = [vars(history)[name] for name in ("seen", "best", "curve", "total", "epochs")]
    model.set_params(callbacks=[history, _RaiseAt(ValueError("refused"), epoch=2)],
                     learning_rate=0.1)
    with pytest.raises(ValueError, match="refused"):
        model.fit(X_MIX[200:400] * 3)
    assert seen == before[0] and len(seen) == 3
    assert history.best == before[1]
    assert np.array_equal(history.curve, before[2])
    assert torch.equal(history.total, before[3])
    assert history.epochs == before[4]
    # In place: the caller's list, and every object the callback held, are the same ones.
    assert [vars(history)[name] for name in ("seen", "best", "curve", "total", "epochs")] \
        == objects and all(a is b for a, b in zip(objects, [
            history.seen, history.best, history.curve, history.total, history.epochs]))


class _FailingMove:
    """``os.replace`` that fails (disk full) moving the file ``name`` out of a fit's
    hidden folder, and, with ``undo=True``, once more putting back the first file set
    aside."""

    def __init__(self, name, undo):
        self.name, self.undo, self.real = name, undo, os.replace

    def __call__(self, source, destination):
        folder = os.path.basename(os.path.dirname(os.fspath(source)))
        if (folder.startswith(".pending-") and os.path.basename(destination) == self.name
                and not os.path.dirname(os.fspath(destination)).endswith(folder)):
            raise OSError(28, "No space left on device")
        if self.undo and folder.startswith(".previous-"):
            self.undo = False
            raise OSError(28, "No space left on device")
        return self.real(source, destination)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("undo_fails", [False, True], ids=["undone", "undo-fails"])
def test_a_move_of_checkpoint_files_failing_half_way_leaves_the_last_fits(
        tmp_path, monkeypatch, undo_fails):
    # A refit's move failed after epoch_0001.pt was in: the directory held it beside the
    # last fit's epoch_0002.pt and epoch_0003.pt, and the Checkpoint, put back, read the
    # failed fit's weights as the last fit's epoch 1.
    every = Checkpoint(tmp_path, every=1)
    model = VAESampler(max_epochs=3, early_stopping=False, callbacks=[every], **FAST)
    model.fit(X_MIX[:200])
    files = _files(tmp_path)
    states = {epoch: every.state_dict(epoch) for epoch in (1, 2, 3)}
    monkeypatch.setattr(os, "replace", _FailingMove("epoch_0002.pt", undo_fails))
    with pytest.raises(OSError, match="No space left") as info:
        model.set_params(max_epochs=2).fit(X_MIX[200:400])
    assert ("move them back into the directory" if undo_fails else "the directory keeps "
            "the files of the last fit") in "".join(info.value.__notes__)
    monkeypatch.undo()
    assert every.epochs_ == [1, 2, 3]
    if undo_fails:  # the last fit's files wait aside, where the note says: none is read
        aside = [name for name in os.listdir(tmp_path) if name.startswith(".previous-")]
        assert len(aside) == 1 and aside[0] in "".join(info.value.__notes__)
        assert sorted(os.listdir(tmp_path / aside[0])) == sorted(files)
        with pytest.raises(FileNotFoundError):
            every.state_dict(1)
        for name in files:  # moved back by hand, as the note says
            os.replace(tmp_path / aside[0] / name, tmp_path / name)
        os.rmdir(tmp_path / aside[0])
    assert _files(tmp_path) == files
    assert all(_states_equal(every.state_dict(e), states[e]) for e in (1, 2, 3))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_checkpoint_whose_files_a_later_fit_replaced_refuses_to_read_them(tmp_path):
    # cross_validate's folds fit copies of one Checkpoint, sharing its directory: every
    # fold's state_dict() returned the last fold's network, none of them its own.
    from sklearn.model_selection import cross_validate

    model = VAESampler(max_epochs=2, early_stopping=False,
                       callbacks=[Checkpoint(tmp_path, load_best=True)], **FAST)
    folds = cross_validate(model, X_MIX[:300], cv=3, return_estimator=True)["estimator"]
    last = folds[-1]
    assert _states_equal(last.callbacks[0].state_dict(), last.network_.state_dict())
    for fold in folds[:-1]:
        with pytest.raises(ValueError, match=(
                r"'.*best\.pt' no longer holds the network this Checkpoint kept: a later "
                r"fit wrote over it \(another fit given this directory, or a copy of this "
                r"Checkpoint: clone, GridSearchCV, cross_validate and walk_forward fit "
                r"copies, which share its directory\)")):
            fold.callbacks[0].state_dict()
    # Put back (a user's copy of the files), they are read again.
    every = Checkpoint(tmp_path / "every", every=1)
    model.set_params(callbacks=[every]).fit(X_MIX[:200])
    saved = _files(tmp_path / "every")
    other = VAESampler(max_epochs=1, early_stopping=False, hidden_layer_sizes=(8,),
                       random_state=1, callbacks=[Checkpoint(tmp_path / "every", every=1)])
    other.fit(X_MIX[:200])
    with pytest.raises(ValueError, match="epoch_0001.pt' no longer holds"):
        every.state_dict(1)
    for name, data in saved.items():
        (tmp_path / "every" / name).write_bytes(data)
    assert _states_equal(every.state_dict(2), model.network_.state_dict())


def test_convergence_warning_points_at_the_callers_line_through_a_pipeline():
    # stacklevel=4 pointed into scikit-learn's pipeline.py when a Pipeline called fit.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), VAESampler(max_epochs=1, **FAST))
    with pytest.warns(ConvergenceWarning, match="max_epochs") as record:
        model.fit(X_MIX[:200])
    assert {w.filename for w in record if w.category is ConvergenceWarning} == {__file__}


def test_a_model_saved_with_the_former_name_of_the_fit_record_loads_its_fit():
    # The parameters of the fit were kept as _network_params before utils._fit_params;
    # such a model, saved after a set_params, rebuilds the network of its fit.
    import pickle

    model = VAESampler(hidden_layer_sizes=(8,), latent_dim=2, max_epochs=1,
                       random_state=0).fit(X_MIX[:200])
    draws = model.sample(20, random_state=0)
    state = model.set_params(latent_dim=7).__getstate__()
    state["_network_params"] = state.pop("_fit_params")
    saved = object.__new__(VAESampler)
    saved.__setstate__(state)
    restored = pickle.loads(pickle.dumps(saved))
    np.testing.assert_array_equal(restored.sample(20, random_state=0), draws)
    assert restored.latent_dim == 7


class _LoggerThatKeeps(EpochLogger):
    """A subclass of a package callback that edits a list of its own in place."""

    def __init__(self, verbose=0):
        super().__init__(verbose)
        self.kept = []

    def on_epoch_end(self, estimator, epoch):
        self.kept.append(epoch)
        return super().on_epoch_end(estimator, epoch)


def test_a_subclass_of_a_package_callback_is_put_back_as_a_users_is():
    # The package's callbacks replace their objects at each fit (no copy needed); a
    # subclass of one may edit in place, so its contents are copied like a user's.
    assert replaces_its_state(EarlyStopping()) and replaces_its_state(Checkpoint())
    logger = _LoggerThatKeeps()
    assert not replaces_its_state(logger) and not replaces_its_state(Callback())
    model = VAESampler(max_epochs=2, early_stopping=False, callbacks=[logger], **FAST)
    model.fit(X_MIX[:200])
    model.set_params(callbacks=[logger, _RaiseAt(ValueError("refused"), epoch=1)])
    with pytest.raises(ValueError, match="refused"):
        model.fit(X_MIX[:200])
    assert logger.kept == [1, 2]


@pytest.mark.parametrize("cls", TORCH_ESTIMATORS, ids=lambda c: c.__name__)
def test_fit_argument_errors_name_the_estimator(cls):
    # Python named the shared base class: "BaseTorchEstimator.fit() got an unexpected ...".
    with pytest.raises(TypeError, match=rf"^{cls.__name__}\.fit\(\) .*'sample_weight': "
                       rf"{cls.__name__} does not support sample_weight\.$"):
        cls().fit(np.zeros((10, 1)), sample_weight=np.ones(10))
