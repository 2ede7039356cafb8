"""The prediction path's kept float64 copies and its pieces: never stale, never saved, and
the numbers of the plain computation bit for bit."""

import copy
import pickle
import threading

import joblib
import numpy as np
import pytest
import torch

from skqegm import TailRiskEstimator
from skqegm.nn.modules import GaussianHead, _split_first_layer, float64_copy

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.default_rng(0)
X = RNG.uniform(-2, 2, size=(600, 2))
Y = np.exp(0.5 * X[:, 0]) * RNG.standard_t(4, size=600)
X2 = RNG.uniform(-2, 2, size=(600, 2))
Y2 = np.exp(-0.5 * X2[:, 1]) * RNG.standard_t(4, size=600)


def small(**params):
    return TailRiskEstimator(**{"n_qubits": 2, "n_layers": 1, "max_epochs": 2,
                                "hidden_layer_sizes": (8,), "tail_fraction": 0.1,
                                "random_state": 0, **params})


def predictions(model, rows=X[:40]):
    return np.column_stack([model.predict(rows), model.predict_var(rows),
                            model.predict_es(rows), model.predict_interval(rows),
                            model.sample_y(rows, 5, random_state=1)])


def one_pass(head, codes, context):
    """forward_pairs as one pass over every pair through a float64 copy of the module."""
    net = copy.deepcopy(head.net).double()
    hidden = _split_first_layer(net[0], codes.double(), context.double())
    return head._gaussian(net[1:](hidden))


# -- the decoder's float64 copy and pieces ----------------------------------------------------
@pytest.mark.parametrize("hidden", [(64, 64), (8,), ()])
@pytest.mark.parametrize("n_codes", [1, 3, 16, 256])
def test_forward_pairs_in_pieces_equals_one_pass_bit_for_bit(hidden, n_codes):
    # Pieces end on multiples of 384 pairs and the last holds the rest: every row,
    # the last incomplete BLAS panel's included, is rounded as in one product.
    torch.manual_seed(n_codes)
    head = GaussianHead(3 + 2, hidden, 1)
    codes = torch.randn(n_codes, 3)
    for n_rows in (0, 1, 3, 5, 97, 385) + ((1001,) if n_codes <= 16 else ()):
        context = torch.randn(n_rows, 2, dtype=torch.float64)
        for got, want in zip(head.forward_pairs(codes, context), one_pass(head, codes, context)):
            assert got.shape == want.shape and torch.equal(got, want), (n_rows, n_codes)
        if 0 < n_rows <= 97:  # one code table per row (the twin's conditional prior)
            per_row = torch.randn(n_rows, n_codes, 3, dtype=torch.float64)
            for got, want in zip(head.forward_pairs(per_row, context),
                                 one_pass(head, per_row, context)):
                assert torch.equal(got, want), (n_rows, n_codes)


def test_forward_pairs_follows_every_change_of_the_weights():
    torch.manual_seed(0)
    head = GaussianHead(3 + 2, (16,), 1)
    codes, context = torch.randn(4, 3), torch.randn(10, 2, dtype=torch.float64)
    head.forward_pairs(codes, context)  # the copy is made
    other = GaussianHead(3 + 2, (16,), 1)
    changes = {
        "load_state_dict": lambda: head.load_state_dict(other.state_dict()),
        "in place": lambda: head.net[-1].bias.data.add_(1.0),  # .data: no version bump
        "optimizer step": lambda: _step(head, codes, context),
        "new parameter": lambda: setattr(head.net[0], "weight",
                                         torch.nn.Parameter(head.net[0].weight * 2)),
    }
    for name, change in changes.items():
        with torch.no_grad():
            change()
        for got, want in zip(head.forward_pairs(codes, context), one_pass(head, codes, context)):
            assert torch.equal(got, want), name


def _step(head, codes, context):
    with torch.enable_grad():
        optimizer = torch.optim.SGD(head.parameters(), lr=0.1)
        head.pairs(codes, context.float())[0].sum().backward()
        optimizer.step()


def test_the_float64_copy_is_never_saved():
    head = GaussianHead(3, (8,), 1)
    head.forward_pairs(torch.randn(2, 1), torch.randn(3, 2, dtype=torch.float64))
    assert "_cast" in vars(head)
    assert "_cast" not in vars(pickle.loads(pickle.dumps(head)))
    assert "_cast" not in vars(copy.deepcopy(head))


def test_float64_copy_is_remade_when_the_module_changes():
    layer = torch.nn.Linear(3, 2)
    first = float64_copy(layer)
    assert first.weight.dtype == torch.float64 and float64_copy(layer) is first
    layer.weight.data[0, 0] += 1.0  # through .data: torch's version counter does not move
    second = float64_copy(layer)
    assert second is not first and torch.equal(second.weight, layer.weight.double())
    assert vars(pickle.loads(pickle.dumps(layer))).keys() == vars(layer).keys()


# -- the estimator: refit, set_params, load ---------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"latent": "gaussian"},
                                     {"mixture_weights": "conditional"},
                                     {"latent": "gaussian", "mixture_weights": "conditional"},
                                     {"latent": "categorical", "mixture_weights": "conditional"}])
def test_a_refit_predicts_from_its_own_network(options):
    model = small(**options).fit(X, Y)
    predictions(model)  # the float64 copies are made
    model.fit(X2, Y2)
    np.testing.assert_array_equal(predictions(model), predictions(small(**options).fit(X2, Y2)))


def test_set_params_after_predictions_reads_the_fitted_network():
    model = small().fit(X, Y)
    predictions(model)
    model.set_params(side="upper", hidden_layer_sizes=(4,))
    fresh = small(side="upper").fit(X, Y)
    np.testing.assert_array_equal(predictions(model), predictions(fresh))


def test_weights_loaded_into_a_fitted_network_are_used_at_once():
    # EarlyStopping and Checkpoint restore weights in place: a kept copy must follow.
    model = small().fit(X, Y)
    before = predictions(model)
    decoder = model.network_.decoder
    decoder.load_state_dict({k: v + 0.01 for k, v in decoder.state_dict().items()})
    reference = pickle.loads(pickle.dumps(model))  # a network rebuilt, no copy kept
    after = predictions(model)
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, predictions(reference))


@pytest.mark.parametrize("save", ["pickle", "joblib"])
def test_a_loaded_model_predicts_as_the_saved_one_and_holds_no_copy(save, tmp_path):
    model = small(mixture_weights="conditional").fit(X, Y)
    expected = predictions(model)
    if save == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        joblib.dump(model, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
    assert "_cast" not in vars(loaded.network_.decoder)
    np.testing.assert_array_equal(predictions(loaded), expected)


def test_predictions_in_threads_equal_predictions_alone():
    models = [small(latent="gaussian").fit(X, Y), small().fit(X2, Y2)]
    alone = [predictions(m, X[:200]) for m in models]
    for m in models:
        m.network_.decoder.__dict__.pop("_cast")  # the threads make the copies at once
    results, errors = {}, []

    def run(i):
        try:
            results[i] = predictions(models[i % 2], X[:200])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i, got in results.items():
        np.testing.assert_array_equal(got, alone[i % 2])
