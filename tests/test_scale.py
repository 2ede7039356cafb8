"""Scale: what a process imports, and parallel or distributed searches equal serial ones.

Import behaviour is checked in fresh interpreters: this test process has imported qiskit
already (conftest), so only a subprocess can see what ``import skqegm`` or an exact fit
loads. No test here asserts a time; ``benchmarks/bench_scale.py`` measures them.
"""

import importlib
import json
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

import skqegm
from skqegm import QEGMSampler
from skqegm.datasets import make_tail_mixture
from skqegm.metrics import SCORERS
from skqegm.nn.optim import Adam
from skqegm.quantum import SamplerTransformer, variational_circuit

PACKAGES = ("skqegm", "skqegm.baselines", "skqegm.datasets", "skqegm.extremes",
            "skqegm.metrics", "skqegm.models", "skqegm.nn", "skqegm.preprocessing",
            "skqegm.quantum")
TIMING_COLUMNS = {"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"}
X_SMALL = make_tail_mixture(240, random_state=0)[0]
GRID = {"n_qubits": [2, 3], "latent": ["quantum", "gaussian"]}


def run_fresh(code):
    """Run ``code`` in a fresh interpreter; return what it printed, parsed as JSON."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def loaded(*modules):
    """Code printing which of ``modules`` the process has imported."""
    return f"import sys, json; print(json.dumps([m for m in {modules!r} if m in sys.modules]))"


# -- imports ------------------------------------------------------------------------------------
def test_import_skqegm_loads_neither_torch_nor_qiskit_nor_matplotlib():
    code = "import skqegm; " + loaded("torch", "qiskit", "matplotlib", "sklearn", "scipy")
    assert run_fresh(code) == []


def test_subpackages_load_only_what_their_names_need():
    # A dataset or a backtest needs neither torch nor qiskit; the exact simulator no qiskit.
    code = ("from skqegm.datasets import make_tail_mixture; "
            "from skqegm.metrics import kupiec_pof_test; "
            "from skqegm.quantum import StatevectorSimulator; "
            + loaded("qiskit", "matplotlib", "torch._dynamo"))
    assert run_fresh(code) == []


def test_exact_fits_import_no_qiskit_and_no_torch_dynamo():
    code = """
import warnings; warnings.simplefilter("ignore")
import numpy as np
from sklearn.utils._param_validation import InvalidParameterError
from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.baselines import GANSampler
X = np.random.default_rng(0).normal(size=(200, 2))
model = QEGMSampler(max_epochs=2, random_state=0).fit(X)
model.sample(5, random_state=0); model.score(X)
TailRiskEstimator(max_epochs=2, random_state=0).fit(X, X[:, 0]).predict_interval(X)
GANSampler(max_epochs=1, random_state=0).fit(X)
try:
    QEGMSampler(backend=3).fit(X)
except InvalidParameterError as error:
    message = str(error)
import sys, json
before = [m for m in ("qiskit", "torch._dynamo") if m in sys.modules]
n_qubits = model.quantum_layer_.circuit_.num_qubits  # built, with qiskit, when first read
print(json.dumps([before, "BackendV2" in message, n_qubits, "qiskit" in sys.modules]))
"""
    assert run_fresh(code) == [[], True, 4, True]


@pytest.mark.parametrize("package", PACKAGES)
def test_lazy_names_are_the_defining_modules_objects(package):
    module = importlib.import_module(package)
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert name in dir(module)
        value = getattr(module, name)
        if name != "__version__":
            defining = getattr(value, "__module__", None) or package
            assert value is getattr(importlib.import_module(defining), name, value)
    namespace = {}
    exec(f"from {package} import *", namespace)  # the names that __all__ promises
    assert set(module.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_subpackages_are_attributes_of_the_package():
    assert {"quantum", "metrics", "baselines"} <= set(dir(skqegm))
    assert skqegm.quantum.StatevectorSimulator is importlib.import_module(
        "skqegm.quantum.simulator").StatevectorSimulator


def test_an_exact_transformer_builds_its_circuit_on_first_read():
    X = np.random.default_rng(0).uniform(size=(10, 3))
    qt = SamplerTransformer(n_layers=2, random_state=0).fit(X)
    assert "circuit_" not in vars(qt)
    circuit, inputs, weights = variational_circuit(3, 2)

    def same_circuit(fitted):
        names = [p.name for p in fitted.circuit_.parameters]
        return (fitted.circuit_.num_qubits == 3 and names == [p.name for p in circuit.parameters]
                and fitted.circuit_.count_ops() == circuit.count_ops()
                and [p.name for p in fitted.input_params_] == [p.name for p in inputs]
                and [p.name for p in fitted.weight_params_] == [p.name for p in weights])

    assert same_circuit(qt)
    # Once more after a round trip, whose state holds no circuit.
    loaded_qt = pickle.loads(pickle.dumps(qt))
    assert "circuit_" not in vars(loaded_qt) and same_circuit(loaded_qt)
    np.testing.assert_array_equal(loaded_qt.transform(X), qt.transform(X))
    with pytest.raises(AttributeError):
        SamplerTransformer().circuit_  # noqa: B018 - unfitted


# -- reproducibility across threads and processes ------------------------------------------------
@pytest.mark.parametrize("every", [1, 2])
def test_adam_steps_exactly_as_torch_adam(every):
    # every=1: every parameter has a gradient at every step (Adam's flat update);
    # every=2: one has a gradient at every other step only (one parameter at a time).
    def train(make_optimizer):
        gen = torch.Generator().manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
        extra = torch.nn.Parameter(torch.ones(2))
        optimizer = make_optimizer([*net.parameters(), extra])
        for step in range(12):
            x = torch.randn(16, 3, generator=gen)
            loss = net(x).pow(2).mean() + (extra.sum() ** 2 if step % every == 0 else 0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return [p.detach().clone() for p in [*net.parameters(), extra]]

    for kwargs in ({"lr": 0.01}, {"lr": 0.3, "betas": (0.5, 0.9)}):
        mine = train(lambda params, kw=kwargs: Adam(params, **kw))
        theirs = train(lambda params, kw=kwargs: torch.optim.Adam(params, **kw))
        assert all(torch.equal(a, b) for a, b in zip(mine, theirs))


def test_results_do_not_depend_on_the_callers_thread_settings():
    def fit_and_score():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = QEGMSampler(max_epochs=2, random_state=0).fit(X_SMALL)
        return (model.sample(50, random_state=1), model.score_samples(X_SMALL),
                {name: scorer(model, X_SMALL) for name, scorer in SCORERS.items()})

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        many = fit_and_score()
        torch.set_num_threads(1)
        with threadpool_limits(1):
            one = fit_and_score()
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(many[0], one[0])
    np.testing.assert_array_equal(many[1], one[1])
    assert many[2] == one[2]


def assert_same_cv_results(a, b):
    assert set(a) == set(b)
    for key in set(a) - TIMING_COLUMNS:
        if key == "params" or np.asarray(a[key]).dtype == object:
            assert list(a[key]) == list(b[key]), key
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def grid_search(**kwargs):
    return GridSearchCV(QEGMSampler(max_epochs=2, random_state=0), GRID, scoring=SCORERS,
                        refit=False, cv=3, error_score="raise", **kwargs)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_in_two_processes_equals_one():
    serial = grid_search(n_jobs=1).fit(X_SMALL)
    parallel = grid_search(n_jobs=2).fit(X_SMALL)
    assert_same_cv_results(serial.cv_results_, parallel.cv_results_)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_grid_search_on_a_dask_cluster_equals_one_process():
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_backend

    serial = grid_search(n_jobs=1).fit(X_SMALL)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), parallel_backend("dask"):
        on_dask = grid_search(n_jobs=-1).fit(X_SMALL)
    assert_same_cv_results(serial.cv_results_, on_dask.cv_results_)
