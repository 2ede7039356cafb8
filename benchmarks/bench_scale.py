"""Scale: the public API at the simulator's speed, and fits on up to a million rows.

Sections (``--section``, default all; each is one function, so others can be added):

``api``: public API vs simulator
    The exact path at 6 qubits x 5 layers on one batch (100,000 rows): forward
    evaluations per second of the simulator called directly (``StatevectorSimulator``,
    complex128 as the transformers use, inputs already tensors) and of the public
    ``EstimatorTransformer.transform`` / ``SamplerTransformer.transform`` on a numpy
    array (validation, conversions and the output included), with their ratio. The
    methods are timed in turn within each repeat (so load hits them alike) and the best
    of ``--repeats`` is kept. Also the machine's limit: GFLOP/s of a torch matmul of the
    simulator's shapes (``[Re U ; Im U] (128 x 64) @ psi (64 x 2048)``, float64, over
    the whole batch) against the simulator's effective GFLOP/s (the FLOPs of its
    products divided by its time), and the complex64 simulator for reference.

``rows``: rows
    ``QEGMSampler`` (on ``make_tail_mixture``) and ``TailRiskEstimator`` (2 features,
    Student-t target) with default parameters, fitted for ``--epochs`` epochs on
    10,000, 100,000 and 1,000,000 rows, each size in a fresh subprocess: the median
    time per epoch (a callback stamps the epochs; validation loss included), that time
    per row (flat when an epoch grows linearly with the rows), the time of predicting
    every row (``score_samples`` / ``predict_var``), and the process's peak resident
    memory (``ru_maxrss``) before the fit (the data) and after fit and prediction.

Every table names the device and the torch threads; the machine's load average is
printed at the start and the end (timings on a shared machine are noisy: compare the
ratios measured side by side in one run). ``--quick`` runs tiny sizes (a smoke test);
``--json PATH`` writes every figure.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import torch

API_QUBITS, API_LAYERS, API_ROWS = 6, 5, 100_000
ROW_SIZES = (10_000, 100_000, 1_000_000)
QUICK_ROW_SIZES = (2_000, 4_000)
SECTIONS = ("api", "rows")
TARGET_RATE, TARGET_RATIO = 2_000_000, 1.3


# -- shared helpers ---------------------------------------------------------------------------
def print_table(title, columns, rows):
    """Print ``rows`` (lists of cells) under ``columns``, left-aligned, with a title."""
    cells = [[str(c) for c in columns]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    print(f"\n{title}")
    for k, row in enumerate(cells):
        print("  ".join(cell.rjust(w) if k and i else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def rate(value):
    """A rate as text: 2.31M/s, 845k/s, 12.3/s."""
    for scale, unit in ((1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{unit}/s"
    return f"{value:.3g}/s"


def device_name():
    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def load_average():
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def best_of(functions, repeats):
    """Best wall time of each function, the functions timed in turn in every repeat."""
    times = {name: [] for name in functions}
    for f in functions.values():  # warm-up
        f()
    for _ in range(repeats):
        for name, f in functions.items():
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


# -- section "api": public API vs simulator -----------------------------------------------------
def section_api(args):
    from skqegm.quantum import EstimatorTransformer, SamplerTransformer, StatevectorSimulator

    n, layers = API_QUBITS, API_LAYERS
    n_rows = 5_000 if args.quick else API_ROWS
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.uniform(-np.pi, np.pi, (n_rows, n))
    estimator = EstimatorTransformer(n_layers=layers, random_state=0).fit(X)
    sampler = SamplerTransformer(n_layers=layers, random_state=0).fit(X)
    weights = torch.from_numpy(estimator.weights_)
    sim = StatevectorSimulator(n, layers, dtype=torch.complex128)
    sim64 = StatevectorSimulator(n, layers, dtype=torch.complex64)
    X_t, X_32, w_32 = torch.from_numpy(X), torch.from_numpy(X).float(), weights.float()
    # The simulator's products: [Re U ; Im U] (2 dim x dim) @ psi (dim x chunk), float64.
    dim, chunk = 2**n, 2048
    u_rows = torch.randn(2 * dim, dim, dtype=torch.float64)
    psi = torch.randn(dim, chunk, dtype=torch.float64)
    amps = torch.empty(2 * dim, chunk, dtype=torch.float64)
    n_chunks = -(-n_rows // chunk)

    def matmul():
        for _ in range(n_chunks):
            torch.mm(u_rows, psi, out=amps)

    tall_in = torch.randn(n_rows, dim, dtype=torch.float64)
    tall_w = torch.randn(dim, 2 * dim, dtype=torch.float64)
    with torch.no_grad():
        functions = {
            "sim_expval": lambda: sim.expval_z(X_t, weights),
            "api_estimator": lambda: estimator.transform(X),
            "sim_probs": lambda: sim.probabilities(X_t, weights),
            "api_sampler": lambda: sampler.transform(X),
            "sim64_expval": lambda: sim64.expval_z(X_32, w_32),
            "matmul": matmul,
            "matmul_tall": lambda: tall_in @ tall_w,
        }
        times = best_of(functions, args.repeats)
    # Outputs equal: the public path is the simulator's.
    with torch.no_grad():
        np.testing.assert_allclose(estimator.transform(X), sim.expval_z(X_t, weights).numpy(),
                                   atol=1e-12)
    per_s = {name: n_rows / t for name, t in times.items()}
    flop_evolve = 2.0 * (2 * dim) * dim * n_rows
    flop_expval = flop_evolve + 2.0 * n * dim * n_rows
    gflops = {
        "matmul": n_chunks * chunk * 2.0 * (2 * dim) * dim / times["matmul"] / 1e9,
        "matmul_tall": flop_evolve / times["matmul_tall"] / 1e9,
        "sim_expval": flop_expval / times["sim_expval"] / 1e9,
        "sim_probs": flop_evolve / times["sim_probs"] / 1e9,
    }
    where = f"{n} qubits x {layers} layers, batch {n_rows:,}, {device_name()}, " \
            f"{args.threads} torch threads"
    rows = [
        ["<Z>", "simulator (complex128)", rate(per_s["sim_expval"]), ""],
        ["<Z>", "EstimatorTransformer.transform", rate(per_s["api_estimator"]),
         f"{times['api_estimator'] / times['sim_expval']:.2f}x"],
        ["probabilities", "simulator (complex128)", rate(per_s["sim_probs"]), ""],
        ["probabilities", "SamplerTransformer.transform", rate(per_s["api_sampler"]),
         f"{times['api_sampler'] / times['sim_probs']:.2f}x"],
        ["<Z>", "simulator (complex64, reference)", rate(per_s["sim64_expval"]), ""],
    ]
    print_table(f"Public API vs simulator ({where}; best of {args.repeats})",
                ["output", "path", "evaluations", "time / simulator's"], rows)
    print_table("Machine limit (float64 products)", ["what", "GFLOP/s", "share of matmul"], [
        ["torch.mm (128 x 64) @ (64 x 2048), the simulator's chunks",
         f"{gflops['matmul']:.1f}", "1.00"],
        [f"torch.mm ({n_rows:,} x 64) @ (64 x 128), one tall product",
         f"{gflops['matmul_tall']:.1f}", f"{gflops['matmul_tall'] / gflops['matmul']:.2f}"],
        ["simulator <Z> (its products' FLOPs / its time)", f"{gflops['sim_expval']:.1f}",
         f"{gflops['sim_expval'] / gflops['matmul']:.2f}"],
        ["simulator probabilities", f"{gflops['sim_probs']:.1f}",
         f"{gflops['sim_probs'] / gflops['matmul']:.2f}"],
    ])
    ratios = {"estimator": times["api_estimator"] / times["sim_expval"],
              "sampler": times["api_sampler"] / times["sim_probs"]}
    print(f"\nTargets ({n} qubits x {layers} layers, batch {n_rows:,}, {args.threads} threads):")
    for name, key in (("EstimatorTransformer", "api_estimator"),
                      ("SamplerTransformer", "api_sampler")):
        ok = per_s[key] >= TARGET_RATE
        print(f"  {name}.transform >= {TARGET_RATE:,}/s: {per_s[key]:,.0f}/s "
              f"{'PASS' if ok else 'MISS'}")
        ratio = ratios["estimator" if key == "api_estimator" else "sampler"]
        print(f"  {name}.transform within {TARGET_RATIO}x of the simulator: {ratio:.2f}x "
              f"{'PASS' if ratio <= TARGET_RATIO else 'MISS'}")
    return {"n_qubits": n, "n_layers": layers, "n_rows": n_rows, "threads": args.threads,
            "device": device_name(), "seconds": times, "per_s": per_s, "gflops": gflops,
            "ratios": ratios}


# -- section "rows": fit and predict on up to a million rows -----------------------------------
def _rows_data(model, n_rows):
    if model == "qegm":
        from skqegm.datasets import make_tail_mixture

        return make_tail_mixture(n_rows, random_state=0)[0], None
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(n_rows, 2))
    return X, (1 + X[:, 0] ** 2) * rng.standard_t(4, size=n_rows)


def _rows_worker(model, n_rows, epochs):
    """One fit and one prediction in this (fresh) process; the figures as a dict."""
    from skqegm import QEGMSampler, TailRiskEstimator
    from skqegm.nn import Callback

    class EpochTimes(Callback):
        def __init__(self):
            self.stamps = []

        def on_epoch_begin(self, estimator, epoch):
            self.stamps.append([time.perf_counter()])

        def on_epoch_end(self, estimator, epoch):
            self.stamps[-1].append(time.perf_counter())

    X, y = _rows_data(model, n_rows)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    clock = EpochTimes()
    params = dict(max_epochs=epochs, random_state=0, callbacks=[clock])
    estimator = QEGMSampler(**params) if model == "qegm" else TailRiskEstimator(**params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X) if y is None else estimator.fit(X, y)
    fit_s = time.perf_counter() - start
    rss_fit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    out = estimator.score_samples(X) if y is None else estimator.predict_var(X)
    predict_s = time.perf_counter() - start
    assert out.shape == (n_rows,) and np.isfinite(out).all()
    rss_predict = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    epoch_s = [end - begin for begin, end in clock.stamps]
    return {"model": model, "n_rows": n_rows, "epochs": len(epoch_s),
            "epoch_s": statistics.median(epoch_s), "epoch_times": epoch_s, "fit_s": fit_s,
            "predict_s": predict_s, "rss_data": rss_data, "rss_fit": rss_fit,
            "rss_predict": rss_predict, "device": device_name(),
            "threads": torch.get_num_threads()}


def section_rows(args):
    sizes = QUICK_ROW_SIZES if args.quick else tuple(args.rows)
    records = []
    for model in ("qegm", "tail_risk"):
        for n_rows in sizes:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", model,
                   "--n-rows", str(n_rows), "--epochs", str(args.epochs)]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"worker {model} {n_rows} failed:\n{result.stderr}")
            records.append(json.loads(result.stdout.strip().splitlines()[-1]))
    mb = 2.0**20
    rows = []
    for r in records:
        first = next(q for q in records if q["model"] == r["model"])
        per_row = r["epoch_s"] / r["n_rows"] * 1e6
        per_row_first = first["epoch_s"] / first["n_rows"] * 1e6
        rows.append([r["model"], f"{r['n_rows']:,}", f"{r['epoch_s']:.2f}",
                     f"{per_row:.2f}", f"{per_row / per_row_first:.2f}",
                     f"{r['predict_s']:.2f}", f"{r['rss_data'] / mb:.0f}",
                     f"{r['rss_fit'] / mb:.0f}", f"{r['rss_predict'] / mb:.0f}"])
    print_table(f"Rows (default parameters, {args.epochs} epochs, each size a fresh process; "
                f"{records[0]['device']}, {records[0]['threads']} torch threads)",
                ["model", "rows", "s / epoch", "us / row", "vs smallest", "predict s",
                 "RSS data MB", "RSS fit MB", "RSS predict MB"], rows)
    return records


# -- main ----------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--section", nargs="+", choices=SECTIONS + ("all",), default=["all"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (api section)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, nargs="+", default=list(ROW_SIZES))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--worker", choices=("qegm", "tail_risk"), help=argparse.SUPPRESS)
    parser.add_argument("--n-rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_rows_worker(args.worker, args.n_rows, args.epochs)))
        return
    if args.quick:
        args.repeats, args.epochs = min(args.repeats, 2), 1
    sections = SECTIONS if "all" in args.section else tuple(args.section)
    print(f"bench_scale: {device_name()}, torch {torch.__version__}, {load_average()}")
    figures = {"device": device_name(), "load_start": os.getloadavg()}
    for name in sections:
        figures[name] = {"api": section_api, "rows": section_rows}[name](args)
    figures["load_end"] = os.getloadavg()
    print(f"\n{load_average()} (end)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
