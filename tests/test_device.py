"""The ``device`` parameter of the torch-trained estimators and of the exact transformers.

Everything here runs on the CPU; the tests that need a GPU are skipped without one.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.baselines import DiffusionSampler, GANSampler, VAESampler
from skqegm.quantum import EstimatorTransformer, SamplerTransformer
from skqegm.utils._validation import check_device

FAST = dict(max_epochs=2, hidden_layer_sizes=(8,), random_state=0)
TORCH_ESTIMATORS = [
    lambda **kw: QEGMSampler(n_qubits=2, n_layers=1, **FAST, **kw),
    lambda **kw: QEGMSampler(latent="gaussian", n_qubits=2, **FAST, **kw),
    lambda **kw: TailRiskEstimator(n_qubits=2, n_layers=1, tail_fraction=0.1, **FAST, **kw),
    lambda **kw: GANSampler(**FAST, **kw),
    lambda **kw: VAESampler(**FAST, **kw),
    lambda **kw: DiffusionSampler(n_steps=5, **FAST, **kw),
]
IDS = ["qegm", "twin", "tail-risk", "gan", "vae", "diffusion"]
rng = np.random.default_rng(0)
X = rng.standard_normal((120, 2))
y = rng.standard_t(4, size=120)


def _fit(model):
    return model.fit(X, y) if isinstance(model, TailRiskEstimator) else model.fit(X)


def _outputs(model):
    if isinstance(model, TailRiskEstimator):
        return model.predict_var(X[:10])
    return model.sample(10, random_state=0)


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_check_device_resolves_auto_and_refuses_cuda_without_a_gpu(no_cuda):
    assert check_device("cpu") == torch.device("cpu")
    assert check_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"device='cuda' but torch sees no CUDA device"):
        check_device("cuda")
    with pytest.raises(ValueError, match=r"device must be one of 'cpu', 'cuda', 'auto'"):
        check_device("gpu")


@pytest.mark.parametrize("make", TORCH_ESTIMATORS, ids=IDS)
def test_device_is_a_declared_parameter_defaulting_to_the_cpu(make):
    model = make()
    assert model.get_params()["device"] == "cpu"
    assert "device" in type(model)._parameter_constraints
    with pytest.raises(InvalidParameterError, match="'device' parameter"):
        _fit(make(device="gpu"))


@pytest.mark.parametrize("make", TORCH_ESTIMATORS, ids=IDS)
def test_cuda_without_a_gpu_fails_at_fit_naming_the_parameter(make, no_cuda):
    with pytest.raises(ValueError, match=r"device='cuda' but torch sees no CUDA device"):
        _fit(make(device="cuda"))


@pytest.mark.parametrize("make", TORCH_ESTIMATORS, ids=IDS)
def test_auto_without_a_gpu_gives_the_cpu_fit_exactly(make, no_cuda):
    cpu, auto = _fit(make()), _fit(make(device="auto"))
    assert cpu.loss_curve_ == auto.loss_curve_
    np.testing.assert_array_equal(_outputs(cpu), _outputs(auto))


def test_a_qiskit_backend_refuses_cuda_and_trains_auto_on_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # no tensor goes there
    model = QEGMSampler(n_qubits=2, n_layers=1, backend="statevector", device="cuda", **FAST)
    with pytest.raises(ValueError, match=r"device='cuda' trains the exact simulator"):
        model._fit_device()
    assert model.set_params(device="auto")._fit_device() == torch.device("cpu")
    exact = QEGMSampler(n_qubits=2, n_layers=1, device="auto", **FAST)
    assert exact._fit_device() == torch.device("cuda")


@pytest.mark.parametrize("cls", [EstimatorTransformer, SamplerTransformer])
def test_transformer_device(cls, no_cuda):
    Z = rng.uniform(-np.pi, np.pi, (5, 3))
    assert cls().get_params()["device"] == "cpu"
    reference = cls(random_state=0).fit(Z).transform(Z)
    np.testing.assert_array_equal(cls(device="auto", random_state=0).fit(Z).transform(Z),
                                  reference)
    with pytest.raises(ValueError, match=r"device='cuda' but torch sees no CUDA device"):
        cls(device="cuda").fit(Z)
    cls(device="cuda", backend="aer").fit(Z)  # Qiskit backends ignore it


def test_models_pickled_before_the_parameter_existed_load_on_the_cpu():
    model = _fit(VAESampler(**FAST))
    state = model.__getstate__()
    del state["device"]
    loaded = VAESampler.__new__(VAESampler)
    loaded.__setstate__(state)
    assert loaded.get_params()["device"] == "cpu"
    np.testing.assert_array_equal(_outputs(loaded), _outputs(model))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("make", TORCH_ESTIMATORS, ids=IDS)
def test_a_cuda_fit_predicts_and_pickles_on_the_cpu(make):
    model = _fit(make(device="cuda"))
    assert all(p.device.type == "cpu" for p in model.network_.parameters())
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(_outputs(loaded), _outputs(model))
    cpu = _fit(make())
    # Float rounding differs between devices; the random streams do not.
    np.testing.assert_allclose(model.loss_curve_, cpu.loss_curve_, rtol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", [EstimatorTransformer, SamplerTransformer])
def test_transformers_on_cuda_match_the_cpu(cls):
    Z = rng.uniform(-np.pi, np.pi, (3000, 4))
    cpu = cls(random_state=0).fit(Z).transform(Z)
    np.testing.assert_allclose(cls(device="cuda", random_state=0).fit(Z).transform(Z), cpu,
                               atol=1e-10)
