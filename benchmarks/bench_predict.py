"""Prediction speed: milliseconds per call of every prediction method, and bit-identity checks.

What is measured
----------------
The methods that walk-forward backtests, grid searches and conformal wrappers call
many times, on fitted models of the package defaults (a fixed ``random_state``, a
short fit: prediction costs do not depend on how long a model trained), timed
single-threaded in fresh interpreters, one per model and tree:

* ``qegm``: ``TailRiskEstimator()`` (the quantum latent), ``twin``:
  ``TailRiskEstimator(latent="gaussian")``, and both with
  ``mixture_weights="conditional"`` (``qegm-cond``, ``twin-cond``; and
  ``categorical-cond`` for ``latent="categorical"``), fitted on the main
  job's S&P 500 lagged features (:func:`skqegm.preprocessing.make_lagged_features` of
  ``load_sp500_returns``) to 2014 and predicting the ~1,000 test days from 2015:
  ``predict``, ``predict_var``, ``predict_es``, ``predict_interval``,
  ``predict_quantiles``, ``predict_tail_proba``, ``sample_y`` (100 draws a row, with and
  without ``random_state``), ``score``, and ``predict_var`` / ``predict_es`` of a
  walk-forward block (``walk_forward``'s default ``refit_every=20`` rows);
* ``filtered``: ``FilteredRiskEstimator`` around ``TailRiskEstimator()``, the same data;
* ``sampler`` and ``sampler-twin``: ``QEGMSampler()`` and its twin on
  ``make_tail_mixture(5000)``: ``score_samples`` of the 5,000 rows, ``sample(5000)``;
* ``vae``, ``gan``, ``diffusion``: the deep baselines on the same mixture:
  ``score_samples`` (VAE) and ``sample(5000)``.

Printed per method: the median CPU time (process time, less moved by other processes
on a shared machine) and wall time of a call, over the calls of ``--budget`` seconds.
The load average is printed before and after.

Comparing two checkouts
-----------------------
A speed-up must leave every result unchanged. ``--tree DIR`` (repeatable) times the same
calls with ``DIR`` first on ``PYTHONPATH`` (e.g. ``git archive main | tar -x -C DIR``),
the trees taking turns within each repeat so that both see the same load, and prints
each tree's times with the first tree's over this one's (above 1: faster). Every tree
also saves every method's result (and the fitted network), and the run reports whether
they equal the first tree's bit for bit (``np.array_equal``). Set
``ATEN_CPU_CAPABILITY=default`` (or ``avx2``) in the environment to check the other
vector paths of torch: the workers inherit it.

Run ``python benchmarks/bench_predict.py`` (about 3 minutes on 2 cores), ``--tree
/tmp/old --tree .`` to compare a checkout with this one, ``--models qegm twin`` for a
subset, ``--quick`` for a smoke test (2 epochs, 200 test rows, short budgets),
``--json PATH`` for every figure.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _options import at_least, check_output_folders, positive_float  # this folder is on sys.path

# This folder is on sys.path: the same tables, and the same way of running two trees.
from bench_fit import check_tree, load, run_in_tree, same_arrays
from bench_scale import print_table

MODELS = ("qegm", "twin", "qegm-cond", "twin-cond", "categorical-cond", "filtered", "sampler",
          "sampler-twin", "vae", "gan", "diffusion")
#: The main job's last training day (the fixed design's first test day).
LAST_TRAIN_DAY = "2015-01-01"
MIXTURE_ROWS = 5000
#: Rows of one walk-forward forecast block (walk_forward's default refit_every).
BLOCK_ROWS = 20
SEED = 0


# -- one model, in a worker interpreter -------------------------------------------------------
def model_and_calls(name, quick):
    """The fitted model ``name`` and its timed calls ``{label: (n_rows, function)}``."""
    from skqegm import FilteredRiskEstimator, QEGMSampler, TailRiskEstimator
    from skqegm.baselines import DiffusionSampler, GANSampler, VAESampler
    from skqegm.datasets import load_sp500_dates, load_sp500_returns, make_tail_mixture
    from skqegm.preprocessing import make_lagged_features

    epochs = {"max_epochs": 2 if quick else 20}
    if name in ("qegm", "twin", "qegm-cond", "twin-cond", "categorical-cond", "filtered"):
        returns, dates = load_sp500_returns(), load_sp500_dates()
        X, y = make_lagged_features(returns)
        first = int(np.searchsorted(dates[len(returns) - len(y):], np.datetime64(LAST_TRAIN_DAY)))
        stop = first + 200 if quick else len(y)
        options = ({"latent": "gaussian"} if name.startswith("twin") else
                   {"latent": "categorical"} if name.startswith("categorical") else {})
        if name.endswith("-cond"):
            options["mixture_weights"] = "conditional"
        model = TailRiskEstimator(random_state=SEED, **options, **epochs)
        if name == "filtered":
            model = FilteredRiskEstimator(model)
        model.fit(X[:first], y[:first])
        X_test, y_test, block = X[first:stop], y[first:stop], X[first:first + BLOCK_ROWS]
        n = len(X_test)
        calls = {
            "predict": (n, lambda: model.predict(X_test)),
            "predict_var": (n, lambda: model.predict_var(X_test, 0.99)),
            "predict_es": (n, lambda: model.predict_es(X_test, 0.99)),
            "predict_interval": (n, lambda: model.predict_interval(X_test)),
            "predict_quantiles": (n, lambda: model.predict_quantiles(X_test, [0.01, 0.05, 0.5])),
            "sample_y(random_state=1)": (n, lambda: model.sample_y(X_test, 100, random_state=1)),
            "sample_y": (n, lambda: model.sample_y(X_test, 100)),
            "score": (n, lambda: np.asarray(model.score(X_test, y_test))),
            "predict_var, block": (BLOCK_ROWS, lambda: model.predict_var(block, 0.99)),
            "predict_es, block": (BLOCK_ROWS, lambda: model.predict_es(block, 0.99)),
        }
        if name != "filtered":
            calls["predict_tail_proba"] = (n, lambda: model.predict_tail_proba(X_test))
        return model, calls
    X = make_tail_mixture(MIXTURE_ROWS, random_state=SEED)[0]
    make = {"sampler": QEGMSampler, "sampler-twin": QEGMSampler, "vae": VAESampler,
            "gan": GANSampler, "diffusion": DiffusionSampler}[name]
    options = {"latent": "gaussian"} if name == "sampler-twin" else {}
    model = make(random_state=SEED, **options, **epochs).fit(X)
    n_draws = 500 if quick else MIXTURE_ROWS

    def draws():
        out = model.sample(n_draws, random_state=1)
        return np.asarray(out[0] if isinstance(out, tuple) else out)

    calls = {"sample(random_state=1)": (n_draws, draws)}
    if hasattr(model, "score_samples"):
        calls["score_samples"] = (len(X), lambda: model.score_samples(X))
    return model, calls


def network_of(model):
    """The fitted torch network (of the inner model for FilteredRiskEstimator)."""
    return getattr(model, "estimator_", model).network_


def worker(name, quick, budget, save):
    """Fit ``name``, time each call; print one JSON line of timings; save every result."""
    import torch

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning and the like: not timed here
        model, calls = model_and_calls(name, quick)
        out = {f"state/{key}": value.detach().cpu().numpy()
               for key, value in network_of(model).state_dict().items()}
        timings = {}
        for label, (n_rows, call) in calls.items():
            out[label] = np.asarray(call())  # the first call, also the warm-up
            cpu, wall = [], []
            stop = time.process_time() + budget
            while time.process_time() < stop or len(cpu) < 3:
                start = (time.process_time(), time.perf_counter())
                call()
                cpu.append(time.process_time() - start[0])
                wall.append(time.perf_counter() - start[1])
            timings[label] = {"rows": n_rows, "calls": len(cpu),
                              "cpu": statistics.median(cpu), "wall": statistics.median(wall),
                              "cpu_best": min(cpu)}
    if save:
        np.savez(save, **out)
    print(json.dumps({"model": name, "timings": timings}))


# -- the driver --------------------------------------------------------------------------------
def run_worker(tree, name, quick, budget, save):
    args = ["--worker", name, "--budget", str(budget)]
    args += (["--quick"] if quick else []) + (["--save", save] if save else [])
    return run_in_tree(__file__, tree, args)["timings"]


def measure(args):
    trees = [check_tree(t) for t in args.tree] or [None]
    labels = [str(t) if t is not None else "this checkout" for t in trees]
    records = {(label, name): [] for label in labels for name in args.models}
    differ = {}
    repeats = 1 if args.quick else args.repeats
    budget = min(0.2, args.budget) if args.quick else args.budget
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            for repeat in range(repeats):
                saves = []
                for label, tree in zip(labels, trees):
                    save = str(Path(folder) / f"{name}-{len(saves)}.npz") if repeat == 0 else None
                    records[label, name].append(run_worker(tree, name, args.quick, budget, save))
                    saves.append(save)
                    print(f"  {name:12s} {label}: done (load {load()})", flush=True)
                if repeat == 0:
                    differ[name] = [same_arrays(saves[0], other) for other in saves[1:]]
    return labels, records, differ


def summarize(labels, records, differ, models):
    rows, summary = [], []
    for name in models:
        methods = list(records[labels[0], name][0])
        for method in methods:
            base = None
            for j, label in enumerate(labels):
                runs = [run[method] for run in records[label, name]]
                cpu = statistics.median(r["cpu"] for r in runs) * 1e3
                wall = statistics.median(r["wall"] for r in runs) * 1e3
                best = min(r["cpu_best"] for r in runs) * 1e3
                base = base or (cpu, wall, best)
                if j == 0:
                    same = None
                else:
                    bad = differ[name][j - 1]
                    same = ("DIFFER" if method in bad else
                            "identical" if not [b for b in bad if b.startswith("state/")]
                            else "DIFFER (network)")
                rows.append([name, method, runs[0]["rows"], label, f"{cpu:.2f}", f"{wall:.2f}",
                             f"{best:.2f}", f"{base[0] / cpu:.2f}" if j else "",
                             f"{base[1] / wall:.2f}" if j else "",
                             f"{base[2] / best:.2f}" if j else "", same or ""])
                summary.append({"model": name, "method": method, "rows": runs[0]["rows"],
                                "tree": label, "cpu_ms": cpu, "wall_ms": wall,
                                "best_cpu_ms": best, "runs": runs,
                                "identical_to_first": same})
    header = ["model", "method", "rows", "tree", "CPU ms", "wall ms", "best CPU ms",
              "first/this CPU", "first/this wall", "first/this best", "results vs first"]
    print_table("Time per call (median over the calls and repeats)", header, rows)
    return summary


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--tree", action="append", default=[],
                        help="a checkout to time (repeatable; the first is the reference)")
    parser.add_argument("--repeats", type=at_least(1), default=2,
                        help="workers per model and tree")
    parser.add_argument("--budget", type=positive_float, default=1.0,
                        help="CPU seconds of calls per method and worker")
    parser.add_argument("--quick", action="store_true",
                        help="2 epochs, 200 test rows, 0.2 s (at most) per method, 1 repeat")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    check_output_folders(parser, args, ("json",))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, args.quick, args.budget, args.save)
        return
    start_load = load()
    print(f"bench_predict: {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}, ATEN_CPU_CAPABILITY="
          f"{os.environ.get('ATEN_CPU_CAPABILITY', '(unset)')}, load {start_load}")
    labels, records, differ = measure(args)
    summary = summarize(labels, records, differ, args.models)
    end_load = load()
    print(f"\nLoad average: {start_load} before, {end_load} after.")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"load_before": start_load, "load_after": end_load,
             "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY"),
             "results": summary}, indent=1))


if __name__ == "__main__":
    main()
