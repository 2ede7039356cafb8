"""Fit speed: seconds per fit and rows per second of the fit loop, and bit-identity checks.

What is measured
----------------
Each model fitted on a fixed ``random_state``, single-threaded (as every fit trains),
``--repeats`` times in turn, in fresh interpreters (one per model and tree, so that one
model's allocations do not slow the next). Models, package defaults:

* ``qegm``: ``TailRiskEstimator()`` (the quantum latent) and ``twin``:
  ``TailRiskEstimator(latent="gaussian")``, on the main job's data: the S&P 500 lagged
  features of :func:`skqegm.preprocessing.make_lagged_features` from 1999 to 2014
  (``load_sp500_returns``), about 4,000 rows;
* ``sampler``: ``QEGMSampler()`` on ``make_tail_mixture(5000)``;
* ``vae``, ``gan``, ``diffusion``: the deep baselines on the same mixture.

Printed per model: the median fit time, wall clock and CPU (process time, less moved by
other processes on a shared machine), the epochs run, and the fit loop's throughput:
training rows times epochs over the seconds between the loop's first and last callback
(validation included), in CPU time, and of its fastest epoch over all the repeats (the
figure least moved by other processes). The load average is printed before and after.

Comparing two checkouts
-----------------------
A speed-up must leave every result unchanged. ``--tree DIR`` (repeatable) times the same
fits with ``DIR`` first on ``PYTHONPATH`` (e.g. ``git archive main | tar -x -C DIR``),
the trees taking turns within each repeat so that both see the same load, and prints
each tree's times with their ratio to the first tree's. Every fit of every tree also saves
its results (the fitted network's ``state_dict``, ``loss_curve_``, ``validation_scores_``,
and predictions or draws on fixed seeds), and the run reports whether they are equal bit
for bit (``np.array_equal``) to the first tree's. Without ``--tree`` the checkout this
script belongs to is timed alone: keep the output to compare with a later run.

Run ``python benchmarks/bench_fit.py`` (about 3 minutes on 2 cores), ``--tree /tmp/old
--tree .`` to compare a checkout with this one, ``--models qegm twin`` for a subset,
``--quick`` for a smoke test (3 epochs, 1 repeat), ``--json PATH`` for every figure.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _options import at_least, check_output_folders  # this folder is on sys.path
from bench_scale import print_table  # the same tables

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("qegm", "twin", "sampler", "vae", "gan", "diffusion")
#: The main job's last training day (the fixed design's first test day).
LAST_TRAIN_DAY = "2015-01-01"
MIXTURE_ROWS = 5000
SEED = 0


def load():
    """The 1-minute load average, with the number of cores."""
    return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


# -- one fit, in a worker interpreter ---------------------------------------------------------
def model_and_data(name, quick):
    """``(estimator, fit arguments, evaluation rows)`` of the model ``name``."""
    from skqegm import QEGMSampler, TailRiskEstimator
    from skqegm.baselines import DiffusionSampler, GANSampler, VAESampler
    from skqegm.datasets import load_sp500_dates, load_sp500_returns, make_tail_mixture
    from skqegm.preprocessing import make_lagged_features

    extra = {"max_epochs": 3} if quick else {}
    if name in ("qegm", "twin"):
        returns, dates = load_sp500_returns(), load_sp500_dates()
        X, y = make_lagged_features(returns)
        first = int(np.searchsorted(dates[len(returns) - len(y):], np.datetime64(LAST_TRAIN_DAY)))
        latent = {"latent": "gaussian"} if name == "twin" else {}
        return (TailRiskEstimator(random_state=SEED, **latent, **extra), (X[:first], y[:first]),
                (X[first:first + 250], y[first:first + 250]))
    X = make_tail_mixture(MIXTURE_ROWS, random_state=SEED)[0]
    make = {"sampler": QEGMSampler, "vae": VAESampler, "gan": GANSampler,
            "diffusion": DiffusionSampler}[name]
    return make(random_state=SEED, **extra), (X,), (X[:500], None)


def results(model, X_eval, y_eval):
    """Every array a fit determines: the network, the curves, predictions or draws."""
    out = {f"state/{key}": value.detach().cpu().numpy()
           for key, value in model.network_.state_dict().items()}
    out["loss_curve"] = np.asarray(model.loss_curve_)
    if getattr(model, "validation_scores_", None) is not None:
        out["validation_scores"] = np.asarray(model.validation_scores_)
    if y_eval is not None:  # a TailRiskEstimator
        out["predict"] = model.predict(X_eval)
        out["var"] = model.predict_var(X_eval, 0.99)
        out["es"] = model.predict_es(X_eval, 0.99)
        out["sample_y"] = model.sample_y(X_eval[:50], n_draws=100, random_state=1)
        out["score"] = np.asarray(model.score(X_eval, y_eval))
    else:
        draws = model.sample(500, random_state=1)
        out["sample"] = np.asarray(draws[0] if isinstance(draws, tuple) else draws)
        if hasattr(model, "score_samples"):
            out["score_samples"] = model.score_samples(X_eval)
    return out


def worker(name, quick, save):
    """Fit ``name`` once; print one JSON line of timings; save its results to ``save``."""
    import torch

    from skqegm.nn import Callback

    class LoopClock(Callback):
        """CPU and wall time between the loop's first and last callback, and each
        epoch's CPU time."""

        def on_train_begin(self, estimator):
            self.start = (time.process_time(), time.perf_counter())
            self.epochs = []

        def on_epoch_begin(self, estimator, epoch):
            self.epoch_start = time.process_time()

        def on_epoch_end(self, estimator, epoch):
            self.epochs.append(time.process_time() - self.epoch_start)

        def on_train_end(self, estimator):
            self.stop = (time.process_time(), time.perf_counter())

    torch.set_num_threads(1)
    model, args, (X_eval, y_eval) = model_and_data(name, quick)
    clock = LoopClock()
    model.set_params(callbacks=[clock])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning and the like: not timed here
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(*args)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n_rows = len(args[0])
        if getattr(model, "early_stopping", False):
            n_rows -= math.ceil(model.validation_fraction * n_rows)
        if save:
            np.savez(save, **results(model, X_eval, y_eval))
    print(json.dumps({
        "model": name, "wall": wall, "cpu": cpu, "epochs": model.n_iter_,
        "train_rows": n_rows, "loop_cpu": clock.stop[0] - clock.start[0],
        "loop_wall": clock.stop[1] - clock.start[1], "epoch_cpu": clock.epochs}))


# -- the driver --------------------------------------------------------------------------------
def run_in_tree(script, tree, args):
    """Run ``script`` (a worker) with ``args`` in a fresh single-threaded interpreter,
    ``tree`` first on ``PYTHONPATH`` (``None``: this checkout); its last line of output,
    read as JSON."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, script, *args], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} on {tree or 'this checkout'} failed:\n"
                           f"{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_worker(tree, name, quick, save):
    args = ["--worker", name] + (["--quick"] if quick else []) + (["--save", save] if save else [])
    return run_in_tree(__file__, tree, args)


def same_arrays(path_a, path_b):
    """Names of the arrays that differ between two saved runs (bit for bit)."""
    a, b = np.load(path_a), np.load(path_b)
    if set(a.files) != set(b.files):
        return sorted(set(a.files) ^ set(b.files))
    return [key for key in a.files if not np.array_equal(a[key], b[key])]


def check_tree(tree):
    """The skqegm a tree imports: refuse a tree without one."""
    if not (Path(tree) / "skqegm" / "__init__.py").is_file():
        raise SystemExit(f"--tree {tree}: no skqegm package there")
    return Path(tree).resolve()


def measure(args):
    trees = [check_tree(t) for t in args.tree] or [None]
    labels = [str(t) if t is not None else "this checkout" for t in trees]
    records = {(label, name): [] for label in labels for name in args.models}
    identical = {}
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            for repeat in range(repeats):
                saves = []
                for tree, label in zip(trees, labels):
                    save = str(Path(folder) / f"{name}-{len(saves)}.npz") if repeat == 0 else None
                    records[label, name].append(run_worker(tree, name, args.quick, save))
                    saves.append(save)
                    print(f"  {name:10s} {label}: {records[label, name][-1]['cpu']:.2f} s CPU",
                          flush=True)
                if repeat == 0:
                    identical[name] = [same_arrays(saves[0], other) for other in saves[1:]]
    return labels, records, identical


def summarize(labels, records, identical, models):
    rows, summary = [], []
    for name in models:
        base = None
        for j, label in enumerate(labels):
            runs = records[label, name]
            cpu = statistics.median(r["cpu"] for r in runs)
            wall = statistics.median(r["wall"] for r in runs)
            loop = statistics.median(r["loop_cpu"] for r in runs)
            rate = runs[0]["train_rows"] * runs[0]["epochs"] / loop
            # The fastest epoch of all the fits (its validation loss and early stopping's
            # bookkeeping included): the figure least moved by other processes.
            best = runs[0]["train_rows"] / min(min(r["epoch_cpu"]) for r in runs)
            base = base or (cpu, rate, best)
            same = "" if j == 0 else ("identical" if not identical[name][j - 1]
                                      else f"DIFFER ({len(identical[name][j - 1])} arrays)")
            rows.append([name, label, f"{wall:.2f}", f"{cpu:.2f}", runs[0]["epochs"],
                         f"{rate:,.0f}", f"{best:,.0f}", f"{cpu / base[0]:.2f}" if j else "",
                         f"{rate / base[1]:.2f}" if j else "",
                         f"{best / base[2]:.2f}" if j else "", same])
            summary.append({"model": name, "tree": label, "wall_s": wall, "cpu_s": cpu,
                            "epochs": runs[0]["epochs"], "loop_rows_per_cpu_s": rate,
                            "best_epoch_rows_per_cpu_s": best, "runs": runs,
                            "identical_to_first": same or None})
    header = ["model", "tree", "wall s", "CPU s", "epochs", "loop rows/CPU s",
              "best epoch rows/CPU s", "CPU / first", "rows/s / first", "best / first",
              "results vs first"]
    print_table("Fit time (median of the repeats) and fit-loop throughput", header, rows)
    return summary


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--tree", action="append", default=[],
                        help="a checkout to time (repeatable; the first is the reference)")
    parser.add_argument("--repeats", type=at_least(1), default=3, help="fits per model and tree")
    parser.add_argument("--quick", action="store_true", help="3 epochs, 1 repeat")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    check_output_folders(parser, args, ("json",))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args.worker, args.quick, args.save)
        return
    start_load = load()
    print(f"bench_fit: {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}, load {start_load}")
    labels, records, identical = measure(args)
    summary = summarize(labels, records, identical, args.models)
    end_load = load()
    print(f"\nLoad average: {start_load} before, {end_load} after.")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"load_before": start_load, "load_after": end_load, "results": summary}, indent=1))


if __name__ == "__main__":
    main()
