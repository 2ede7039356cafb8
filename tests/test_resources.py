"""Memory: what grows with a user's argument is estimated first and refused with the
estimate, or drawn in blocks; never a minute of work that dies in the allocator."""

import numpy as np
import pytest
import sklearn

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.baselines import GPDTailSampler, VAESampler
from skqegm.exceptions import MemoryLimitError
from skqegm.utils._memory import check_memory, format_bytes, memory_limit, rows_per_chunk

X = np.random.default_rng(0).standard_t(4, size=(300, 2))
TINY = dict(hidden_layer_sizes=(4,), max_epochs=1, random_state=0)


def test_memory_limit_follows_the_environment(monkeypatch):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    assert memory_limit() == 0.5 * 2**30
    with pytest.raises(MemoryLimitError, match=r"f\(n=3\) needs an estimated 1 GiB of memory, "
                                               r"more than the 512 MiB available; ask less"):
        check_memory(2**30, "f(n=3)", "ask less")
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "lots")
    with pytest.raises(ValueError, match="SKQEGM_MEMORY_LIMIT_GB must be a number of GiB"):
        memory_limit()
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(3 * 2**50) == "3 PiB"



def test_a_cuda_allocation_is_checked_against_the_gpu_s_free_memory(monkeypatch):
    import torch

    monkeypatch.delenv("SKQEGM_MEMORY_LIMIT_GB", raising=False)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2**20, 80 * 2**30))
    cuda = torch.device("cuda", 0)
    assert memory_limit(cuda) == 2**20
    with pytest.raises(MemoryLimitError, match=r"f\(\) needs an estimated 2 MiB of GPU memory "
                                               r"on cuda:0, more than the 1 MiB available"):
        check_memory(2**21, "f()", device=cuda)
    check_memory(2**21, "f()", device=torch.device("cpu"))  # the machine's memory
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", str(2**-11))  # the user's, lower
    assert memory_limit(cuda) == 2**19

def test_chunks_of_work_on_a_gpu_fit_its_free_memory(monkeypatch):
    import torch

    monkeypatch.delenv("SKQEGM_MEMORY_LIMIT_GB", raising=False)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2**28, 80 * 2**30))
    cuda = torch.device("cuda", 0)
    with sklearn.config_context(working_memory=1024):  # 1 GiB: 2**20 rows of 1 KiB
        assert rows_per_chunk(10**7, 1024, 0, "f()") == 2**20
        assert rows_per_chunk(10**7, 1024, 0, "f()", device=torch.device("cpu")) == 2**20
        # Half of the GPU's 256 MiB free, in rows of 1 KiB.
        assert rows_per_chunk(10**7, 1024, 0, "f()", device=cuda) == 2**17
        with pytest.raises(MemoryLimitError, match=r"f\(\) needs an estimated 512 MiB of GPU "
                                                   r"memory on cuda:0, more than the 256 MiB"):
            rows_per_chunk(10**7, 1024, 2**29, "f()", device=cuda)


def test_the_exact_transformer_sizes_its_chunks_for_its_device(monkeypatch):
    from skqegm.quantum import EstimatorTransformer, transformers

    seen = []

    def spy(*args, **kwargs):
        seen.append(args[5] if len(args) > 5 else kwargs.get("device"))
        return rows_per_chunk(*args, **kwargs)

    monkeypatch.setattr(transformers, "rows_per_chunk", spy)
    EstimatorTransformer(n_layers=1, random_state=0, device="cpu").fit_transform(X[:5, :2])
    assert [str(d) for d in seen] == ["cpu"]


@pytest.mark.parametrize("make", [
    lambda: QEGMSampler(n_qubits=2, n_layers=1, **TINY),
    lambda: VAESampler(**TINY),
    lambda: GPDTailSampler(),
], ids=["QEGMSampler", "VAESampler", "GPDTailSampler"])
def test_huge_samples_are_refused_before_any_work(make):
    model = make().fit(X)
    with pytest.raises(MemoryLimitError, match=r"sample\(n_samples=10000000000000\) needs an "
                                               r"estimated [\d.]+ (TiB|PiB)"):
        model.sample(10**13)


def test_samples_are_drawn_in_blocks_of_fixed_size(monkeypatch):
    # More rows than one block (2**16): the same draws under any memory setting.
    model = QEGMSampler(n_qubits=2, n_layers=1, latent="gaussian", **TINY).fit(X)
    first = model.sample(70_000, random_state=1)
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "4")
    np.testing.assert_array_equal(model.sample(70_000, random_state=1), first)
    assert np.all(np.isfinite(first))


def test_fits_too_large_for_memory_are_refused_naming_n_qubits(monkeypatch):
    # 12 qubits, a conditional model: about 3 GiB per training step (2.6 GB measured).
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "1")
    model = TailRiskEstimator(n_qubits=12, n_layers=1, max_epochs=1, random_state=0)
    with pytest.raises(MemoryLimitError, match=r"fitting with n_qubits=12 \(2\*\*12 outcomes "
                                               r"per row\) and batch_size=256 needs"):
        model.fit(X, X[:, 0])
    model.set_params(n_qubits=4).fit(X, X[:, 0])  # a small one still fits under the limit


def test_a_huge_max_epochs_costs_nothing_before_training():
    # The cost estimate of every fit held a list of max_epochs numbers: max_epochs=10**12
    # (train until early stopping) died in a MemoryError before the first epoch.
    from skqegm.nn import Callback

    class StopAfterOne(Callback):
        def on_epoch_end(self, estimator, epoch):
            return True

    model = QEGMSampler(n_qubits=2, n_layers=1, hidden_layer_sizes=(4,), max_epochs=10**12,
                        callbacks=[StopAfterOne()], early_stopping=False, random_state=0)
    assert model.estimate_cost(X)["max_epochs"] == 10**12
    assert model.fit(X).n_iter_ == 1
    qrng = model.set_params(noise="qrng", backend="aer", latent="gaussian")
    one = qrng.set_params(max_epochs=1).estimate_cost(X)
    many = qrng.set_params(max_epochs=10**12).estimate_cost(X)
    per_epoch = qrng.set_params(max_epochs=2).estimate_cost(X)["qrng_shots"] - one["qrng_shots"]
    assert per_epoch > 0
    assert many["qrng_shots"] == one["qrng_shots"] + (10**12 - 1) * per_epoch
    assert many["jobs"] == one["jobs"] + 10**12 - 1


@pytest.mark.parametrize("X", [3, np.float64(2.0), np.array(7), "abc", None])
def test_estimate_cost_refuses_what_has_no_rows(X):
    # A number gave IndexError: tuple index out of range; a string counted its characters.
    with pytest.raises(ValueError, match="X must be an array-like of samples"):
        QEGMSampler(n_qubits=2, n_layers=1).estimate_cost(X)
    assert QEGMSampler(n_qubits=2, n_layers=1).estimate_cost([[1.0], [2.0]])["rows"] == 2


def test_a_vae_density_too_large_for_memory_is_refused_before_training(monkeypatch):
    # n_density_draws=10**9 trained, then died in torch's allocator ("you tried to
    # allocate 32000000000 bytes").
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "1")
    model = VAESampler(n_density_draws=10**9, **TINY)
    with pytest.raises(MemoryLimitError, match=r"fitting with n_density_draws=1000000000 "
                                               r"needs an estimated [\d.]+ GiB"):
        model.fit(X)
    assert not hasattr(model, "loss_curve_")  # before any epoch
    assert np.isfinite(model.set_params(n_density_draws=4096).fit(X).score(X))
