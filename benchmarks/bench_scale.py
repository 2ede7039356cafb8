"""Scale: parallel and distributed model selection, and the cost of importing skqegm.

Independent sections, run with ``--section NAME`` (repeatable; default: every section).
Each prints its own table through :func:`print_table`, with the machine's load average
before and after, and returns records for ``--json``. A new section is a function
decorated with ``@section("name")`` taking the parsed arguments.

Sections
--------
``gridsearch``
    ``GridSearchCV(QEGMSampler(...), 4 candidates, cv=3, scoring=SCORERS)`` with
    ``n_jobs=1`` and ``n_jobs=2`` (joblib's default loky backend), side by side in one
    run, on three grids (``--grids``): ``light`` (2,000 rows, 20 epochs: fits under a
    second), ``heavy`` (4,000 rows, 40 epochs) and ``long`` (6,000 rows, 100 epochs
    without early stopping: fits of a few seconds).
    ``n_jobs=1`` runs in this process after a warm-up fit; ``n_jobs=2`` is timed with
    cold workers (loky's pool shut down first, so the workers start and import skqegm
    inside the timing, as in a user's first search) and again with the warm pool. The
    ``cv_results_`` of every run must equal those of ``n_jobs=1`` (timing columns aside).
``dask``
    The light grid through joblib's Dask backend on a ``distributed.LocalCluster`` of 2
    worker processes (1 thread each), cold (the workers' first tasks) and warm, beside
    ``n_jobs=1`` in this process; same ``cv_results_`` check. Needs ``distributed``.
``api``
    The public API against the simulator at 6 qubits x 5 layers on one batch of 100,000
    rows: forward evaluations per second of ``StatevectorSimulator`` called directly and
    of ``EstimatorTransformer.transform`` / ``SamplerTransformer.transform`` (validation
    and conversions included), their ratio, and the machine's limit (GFLOP/s of a torch
    matmul of the simulator's shapes against the simulator's effective GFLOP/s).
``rows``
    ``QEGMSampler`` and ``TailRiskEstimator`` fitted for ``--epochs`` epochs on 10,000,
    100,000 and 1,000,000 rows, each size in a fresh process: time per epoch and per
    row, prediction time and peak resident memory.
``gpu``
    The exact simulator at 12 to 20 qubits (``--gpu-qubits``) and ``QEGMSampler`` and
    ``TailRiskEstimator`` on ``--gpu-rows`` rows (default 1,000,000), on the GPU beside
    this machine's CPU in the same run: forward evaluations per second of
    ``StatevectorSimulator.expval_z`` and of ``EstimatorTransformer(device=...).transform``
    (a batch of about 2 GiB of amplitudes on the GPU, 128 MiB on the CPU), the largest
    difference between the two devices' ``<Z>``, for the fits seconds per epoch,
    prediction time and peak GPU memory, each fit in a fresh process, and
    ``TailRiskEstimator``'s fit time over its twin's on each device. Without a CUDA
    device the section says so and measures nothing, unless ``--device cpu`` runs its
    code on the CPU alone (a smoke test). Whether ``qiskit-aer-gpu`` can be imported is
    reported; it is not timed (see ``benchmarks/README.md``, "GPU").
``import``
    Wall time of fresh interpreters running ``import skqegm``, ``from skqegm import
    QEGMSampler`` and a first fit, against a bare ``python -c pass``, and the total of
    ``python -X importtime -c "import skqegm"``; the first run and the median of
    ``--repeats``. It measures whichever skqegm the interpreter imports (set PYTHONPATH
    to compare checkouts).

On a shared machine timings move with the other processes: read the ratios, measured
side by side, with the load printed beside them. On Linux with autogroup scheduling
(``/proc/sys/kernel/sched_autogroup_enabled`` is 1), the processes of one session share
one share of the CPU: while other sessions keep every core busy, ``n_jobs=2`` gets no
more CPU than ``n_jobs=1``, and its speedup says nothing about an idle machine.

Run ``python benchmarks/bench_scale.py`` (about 5 minutes on 2 idle cores), ``--quick`` for a
smoke test, ``--json PATH`` for every figure.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from _options import at_least, check_output_folders  # this folder is on sys.path

SECTIONS = {}
TIMING_COLUMNS = ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time")
GRID = {"n_qubits": [2, 4], "latent": ["quantum", "gaussian"]}


def section(name):
    """Register ``function(args) -> list of records`` as the section ``name``."""
    def register(function):
        SECTIONS[name] = function
        return function
    return register


def print_table(title, header, rows):
    """Print ``rows`` (sequences of cells, already formatted) under ``header``."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(header))]
    print(f"\n{title}")
    line = "  ".join(h.ljust(w) if j == 0 else h.rjust(w)
                     for j, (h, w) in enumerate(zip(cells[0], widths)))
    print(line)
    print("-" * len(line))
    for row in cells[1:]:
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(row, widths))))


def load():
    """The 1-minute load average, with the number of cores."""
    return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--section", action="append",
                        help="a section to run (repeatable): " + ", ".join(SECTIONS))
    parser.add_argument("--repeats", type=at_least(1), default=5,
                        help="fresh interpreters per command in the import section")
    parser.add_argument("--grids", nargs="+", choices=list(GRIDS), default=list(GRIDS),
                        help="grids of the gridsearch section (the dask section runs the "
                             "first)")
    parser.add_argument("--quick", action="store_true", help="toy sizes for a smoke test")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--threads", type=at_least(1), default=2,
                        help="torch threads (api section)")
    parser.add_argument("--rows", type=at_least(1), nargs="+", default=list(ROW_SIZES),
                        help="training rows of the rows section")
    parser.add_argument("--epochs", type=at_least(1), default=2, help="epochs of the rows section")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="the gpu section's device ('cpu': its code on the CPU alone, "
                             "a smoke test); the rows section's fits run on the CPU")
    parser.add_argument("--gpu-qubits", type=at_least(1), nargs="+", default=list(GPU_QUBITS),
                        help="simulator sizes of the gpu section")
    parser.add_argument("--gpu-rows", type=at_least(1), default=GPU_ROWS,
                        help="training rows of the gpu section's fits")
    parser.add_argument("--worker", choices=("qegm", "tail_risk"), help=argparse.SUPPRESS)
    parser.add_argument("--worker-device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--n-rows", type=at_least(1), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    check_output_folders(parser, args, ("json",))
    unknown = set(args.section or ()) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {list(SECTIONS)}")
    return args


# -- model selection ----------------------------------------------------------------------------
GRIDS = {
    # The issue's light grid: fits under a second, where the workers' start weighs most.
    "light": (2000, 20),
    # The heavier grid.
    "heavy": (4000, 40),
    # Fits of a few seconds each: every fit runs its 100 epochs.
    "long": (6000, 100),
}
#: Estimator parameters of a grid, beside rows and epochs.
GRID_OPTIONS = {"long": {"early_stopping": False}}


def grids(args):
    """(label, rows, epochs) of the grids timed."""
    if args.quick:
        return [("quick", 300, 2)]
    return [(label, *GRIDS[label]) for label in args.grids]


def grid_label(label, n_rows, epochs):
    stop = ", no early stop" if "early_stopping" in GRID_OPTIONS.get(label, {}) else ""
    return f"{label} ({n_rows:,} rows, {epochs} epochs{stop})"


def search(rows, epochs, n_jobs=1, label=None):
    """The search timed everywhere: 4 candidates, 3 folds, every scorer of SCORERS."""
    from sklearn.model_selection import GridSearchCV

    from skqegm import QEGMSampler
    from skqegm.metrics import SCORERS

    options = GRID_OPTIONS.get(label, {})
    return GridSearchCV(QEGMSampler(max_epochs=epochs, random_state=0, **options), GRID,
                        scoring=SCORERS, refit=False, cv=3, n_jobs=n_jobs, error_score="raise")


def data(rows):
    from skqegm.datasets import make_tail_mixture

    return make_tail_mixture(rows, random_state=0)[0]


def timed_fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at toy epochs
        start = time.perf_counter()
        estimator.fit(X)
        return time.perf_counter() - start


def same_results(a, b):
    """Whether two ``cv_results_`` are equal, timing columns aside (bit for bit)."""
    if set(a) != set(b):
        return False
    for key in a:
        if key in TIMING_COLUMNS:
            continue
        x, y = a[key], b[key]
        if key == "params" or np.asarray(x).dtype == object:
            if list(x) != list(y):
                return False
        elif not np.array_equal(np.asarray(x), np.asarray(y)):
            return False
    return True


def shutdown_loky():
    """Stop joblib's reusable worker pool, so the next ``n_jobs > 1`` starts cold."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def warm_up(args):
    """Pay this process's one-off costs (imports, first fit) before anything is timed."""
    timed_fit(search(200, 1).estimator, data(200))


@section("gridsearch")
def gridsearch(args):
    warm_up(args)
    records, rows = [], []
    for label, n_rows, epochs in grids(args):
        X = data(n_rows)
        before = load()
        serial = search(n_rows, epochs, 1, label)
        t1 = timed_fit(serial, X)
        shutdown_loky()
        cold = search(n_rows, epochs, 2, label)
        t2_cold = timed_fit(cold, X)
        warm = search(n_rows, epochs, 2, label)
        t2_warm = timed_fit(warm, X)
        same = (same_results(serial.cv_results_, cold.cv_results_)
                and same_results(serial.cv_results_, warm.cv_results_))
        fit_s = float(np.sum(serial.cv_results_["mean_fit_time"]) * 3)
        record = dict(grid=label, rows=n_rows, epochs=epochs, n_jobs1_s=t1,
                      n_jobs2_cold_s=t2_cold, n_jobs2_warm_s=t2_warm, fits_s=fit_s,
                      speedup_cold=t1 / t2_cold, speedup_warm=t1 / t2_warm,
                      same_cv_results=same, load_before=before, load_after=load())
        records.append(record)
        rows.append([grid_label(label, n_rows, epochs), f"{fit_s / 12:.2f} s",
                     f"{t1:.1f} s", f"{t2_cold:.1f} s", f"{t2_warm:.1f} s",
                     f"{t2_cold - t2_warm:.1f} s", f"{t1 / t2_cold:.2f}x",
                     f"{t1 / t2_warm:.2f}x", "yes" if same else "NO",
                     f"{record['load_before']} -> {record['load_after']}"])
    print_table("GridSearchCV(QEGMSampler, 4 candidates, cv=3): n_jobs=1 vs n_jobs=2 (loky)",
                ["grid", "per fit", "n_jobs=1", "n_jobs=2 cold", "n_jobs=2 warm",
                 "cold - warm", "speedup cold", "speedup warm", "same cv_results_",
                 "load (1 min)"], rows)
    print("Target: n_jobs=2 at least 1.6x faster than n_jobs=1 on 2 cores for fits of a "
          "few seconds.\n'cold - warm' is the workers' start: Python, torch and "
          "scikit-learn's imports.")
    return records


@section("dask")
def dask_section(args):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("\nSection dask skipped: distributed is not installed "
              "(pip install 'skqegm[distributed]').")
        return []
    from joblib import parallel_backend

    warm_up(args)
    label, n_rows, epochs = grids(args)[0]
    X = data(n_rows)
    before = load()
    serial = search(n_rows, epochs, 1, label)
    t1 = timed_fit(serial, X)
    start = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        t_start = time.perf_counter() - start
        with parallel_backend("dask"):
            cold = search(n_rows, epochs, -1, label)
            t_cold = timed_fit(cold, X)
            warm = search(n_rows, epochs, -1, label)
            t_warm = timed_fit(warm, X)
    same = (same_results(serial.cv_results_, cold.cv_results_)
            and same_results(serial.cv_results_, warm.cv_results_))
    record = dict(grid=label, rows=n_rows, epochs=epochs, n_jobs1_s=t1, cluster_start_s=t_start,
                  dask_cold_s=t_cold, dask_warm_s=t_warm, speedup_cold=t1 / t_cold,
                  speedup_warm=t1 / t_warm, same_cv_results=same, load_before=before,
                  load_after=load())
    print_table("GridSearchCV through joblib's Dask backend, LocalCluster of 2 processes",
                ["grid", "n_jobs=1", "cluster start", "dask cold", "dask warm",
                 "speedup cold", "speedup warm", "same cv_results_", "load (1 min)"],
                [[grid_label(label, n_rows, epochs), f"{t1:.1f} s",
                  f"{t_start:.1f} s", f"{t_cold:.1f} s", f"{t_warm:.1f} s",
                  f"{t1 / t_cold:.2f}x", f"{t1 / t_warm:.2f}x", "yes" if same else "NO",
                  f"{before} -> {record['load_after']}"]])
    return [record]


# -- import time --------------------------------------------------------------------------------
IMPORT_COMMANDS = {
    "python -c pass": "pass",
    "import skqegm": "import skqegm",
    "from skqegm import QEGMSampler": "from skqegm import QEGMSampler",
    # What a search's worker does before its first task's result: import the search's
    # task function, the estimator and the scorers, then fit and score once (exact).
    "a worker's start (first fit and score)": (
        "import warnings; warnings.simplefilter('ignore'); import numpy as np; "
        "import sklearn.model_selection._validation; from skqegm import QEGMSampler; "
        "from skqegm.metrics import SCORERS; X = np.linspace(-1, 1, 200)[:, None]; "
        "m = QEGMSampler(max_epochs=1, random_state=0).fit(X); "
        "[scorer(m, X) for scorer in SCORERS.values()]"),
}
HEAVY_MODULES = ("torch", "sklearn", "scipy", "qiskit", "matplotlib", "torch._dynamo")


def run_python(*argv):
    """``(wall seconds, CPU seconds, result)`` of a fresh interpreter given ``argv``.

    The CPU seconds (user + system, of the child) move less with the machine's load than
    the wall time does.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # From a neutral directory: ``-c`` puts the working directory first on sys.path, which
    # would import a checkout found there instead of the one given by PYTHONPATH.
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                            check=True, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result


def importtime_total():
    """skqegm's cumulative import time in microseconds, from ``-X importtime``."""
    _, _, result = run_python("-X", "importtime", "-c", "import skqegm")
    for line in result.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "skqegm":
            return int(parts[1])
    raise RuntimeError("no line for skqegm in -X importtime's output")


@section("import")
def import_section(args):
    repeats = 1 if args.quick else args.repeats
    before = load()
    records, rows = [], []
    for label, code in IMPORT_COMMANDS.items():
        runs = [run_python("-c", code)[:2] for _ in range(repeats + 1)]
        probe = f"{code}; import sys; print(sorted(m for m in {HEAVY_MODULES!r} " \
                "if m in sys.modules))"
        loaded = run_python("-c", probe)[2].stdout.strip()
        record = dict(command=label, first_s=runs[0][0],
                      median_s=statistics.median(wall for wall, _ in runs[1:]),
                      median_cpu_s=statistics.median(cpu for _, cpu in runs[1:]), loaded=loaded)
        records.append(record)
        rows.append([label, f"{runs[0][0]:.2f} s", f"{record['median_s']:.2f} s",
                     f"{record['median_cpu_s']:.2f} s", loaded])
    totals = [importtime_total() for _ in range(repeats)]
    records.append(dict(command="-X importtime import skqegm",
                        median_s=statistics.median(totals) / 1e6))
    rows.append(["-X importtime: import skqegm (cumulative)", "",
                 f"{statistics.median(totals) / 1e6:.3f} s", "", ""])
    import skqegm

    print_table(f"Fresh interpreters ({skqegm.__file__}); load {before} -> {load()}",
                ["command", "first run", f"median of {repeats}", "CPU (median)",
                 "heavy modules loaded"], rows)
    print("Target: import skqegm under 1 s, without torch, qiskit or matplotlib.")
    return records



# -- public API and rows (device, rates) ---------------------------------------------------------
API_QUBITS, API_LAYERS, API_ROWS = 6, 5, 100_000
ROW_SIZES = (10_000, 100_000, 1_000_000)
QUICK_ROW_SIZES = (2_000, 4_000)
TARGET_RATE, TARGET_RATIO = 2_000_000, 1.3


def rate(value):
    """A rate as text: 2.31M/s, 845k/s, 12.3/s."""
    for scale, unit in ((1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{unit}/s"
    return f"{value:.3g}/s"


def device_name():
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


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


@section("api")
def section_api(args):
    import torch

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
        times = best_of(functions, 2 if args.quick else args.repeats)
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


def _rows_worker(model, n_rows, epochs, device="cpu"):
    """One fit and one prediction in this (fresh) process; the figures as a dict."""
    import torch

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
    params = dict(max_epochs=epochs, random_state=0, callbacks=[clock], device=device)
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
    gpu_peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return {"model": model, "n_rows": n_rows, "epochs": len(epoch_s), "on": device,
            "gpu_peak": gpu_peak,
            "epoch_s": statistics.median(epoch_s), "epoch_times": epoch_s, "fit_s": fit_s,
            "predict_s": predict_s, "rss_data": rss_data, "rss_fit": rss_fit,
            "rss_predict": rss_predict, "device": device_name(),
            "threads": torch.get_num_threads()}


def run_worker(model, n_rows, epochs, device="cpu"):
    """:func:`_rows_worker` in a fresh process (its peak memory is the fit's alone)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", model, "--n-rows",
           str(n_rows), "--epochs", str(epochs), "--worker-device", device]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"worker {model} {n_rows} on {device} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@section("rows")
def section_rows(args):
    sizes = QUICK_ROW_SIZES if args.quick else tuple(args.rows)
    records = []
    for model in ("qegm", "tail_risk"):
        for n_rows in sizes:
            records.append(run_worker(model, n_rows, args.epochs))
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


# -- section "gpu": the simulator at 12-20 qubits and million-row fits, GPU beside CPU --------
GPU_QUBITS, GPU_LAYERS, GPU_ROWS = (12, 14, 16, 18, 20), 3, 1_000_000
QUICK_GPU_QUBITS = (4, 6)
# Amplitudes of one timed batch (complex128, 16 bytes each): 2 GiB on the GPU, 128 MiB on
# the CPU, whose reference at 20 qubits then takes seconds rather than minutes.
GPU_BATCH_BYTES, CPU_BATCH_BYTES, MAX_BATCH = 2**31, 2**27, 100_000
# The CPU's reference fits: time per epoch grows linearly with rows (the rows section),
# so a tenth of a million rows gives the per-row figure at a tenth of the device time.
CPU_FIT_ROWS = 100_000


def _synchronized(function, device):
    """``function``, then a wait for the device's queue: CUDA work is timed to its end."""
    import torch

    def run():
        out = function()
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    return run


def _batch_rows(n_qubits, budget, quick):
    rows = max(1, min(MAX_BATCH, budget // (16 * 2**n_qubits)))
    return min(rows, 2_000) if quick else rows


def _simulator_on_devices(n_qubits, device, quick, repeats):
    """Rates of the simulator on ``device`` and on the CPU, and of the public path."""
    import torch

    from skqegm.quantum import EstimatorTransformer, StatevectorSimulator

    rng = np.random.default_rng(n_qubits)
    n_device = _batch_rows(n_qubits, GPU_BATCH_BYTES, quick)
    n_cpu = min(n_device, _batch_rows(n_qubits, CPU_BATCH_BYTES, quick))
    X = rng.uniform(-np.pi, np.pi, (n_device, n_qubits))
    transformer = EstimatorTransformer(n_layers=GPU_LAYERS, random_state=0,
                                       device=device).fit(X[:1])
    weights = torch.from_numpy(transformer.weights_)
    simulator = StatevectorSimulator(n_qubits, GPU_LAYERS, dtype=torch.complex128)
    X_device, w_device = torch.from_numpy(X).to(device), weights.to(device)
    X_cpu = torch.from_numpy(X[:n_cpu])
    with torch.no_grad():
        times = best_of({
            "device": _synchronized(lambda: simulator.expval_z(X_device, w_device), device),
            "api": lambda: transformer.transform(X),
            "cpu": lambda: simulator.expval_z(X_cpu, weights),
        }, repeats)
        difference = float(np.abs(simulator.expval_z(X_device[:n_cpu], w_device).cpu().numpy()
                                  - simulator.expval_z(X_cpu, weights).numpy()).max())
    rates = {"device": n_device / times["device"], "api": n_device / times["api"],
             "cpu": n_cpu / times["cpu"]}
    return {"n_qubits": n_qubits, "n_layers": GPU_LAYERS, "rows_device": n_device,
            "rows_cpu": n_cpu, "seconds": times, "per_s": rates,
            "speedup": rates["device"] / rates["cpu"], "max_difference": difference}


def _fit_or_error(model, n_rows, epochs, device):
    """:func:`run_worker`'s figures, or its error: one failed fit keeps the others' figures
    (a device's time is scarce)."""
    try:
        return run_worker(model, n_rows, epochs, device)
    except RuntimeError as error:
        last = str(error).strip().splitlines()[-1]
        return {"model": model, "on": device, "n_rows": n_rows, "error": last}


def _fit_ratios(device, quick):
    """``TailRiskEstimator``'s fit time over its twin's (issue 18's bar: 1.5x) on ``device``
    and on the CPU: ``bench_tail_risk.fit_time_ratio`` on the main job's data, 20 epochs
    without early stopping, one fit of each."""
    from bench_tail_risk import fit_time_ratio, main_job_data

    X, y = main_job_data()
    if quick:
        X, y = X[-800:], y[-800:]
    return [fit_time_ratio(X, y, 2 if quick else 20, repeats=1, device=on)
            for on in dict.fromkeys((device, "cpu"))]


def _aer_gpu():
    """Whether qiskit-aer can simulate on a GPU here, in words."""
    try:
        from qiskit_aer import AerSimulator
    except ImportError:
        return "qiskit-aer is not installed"
    devices = AerSimulator().available_devices()
    return ("qiskit-aer has a GPU build (not timed)" if "GPU" in devices
            else f"qiskit-aer without a GPU build (devices: {', '.join(devices)})")


@section("gpu")
def section_gpu(args):
    import torch

    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("\nSection gpu: torch sees no CUDA device; nothing measured (--device cpu runs "
              "its code on the CPU).")
        return []
    name = device_name()
    cpu = f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    qubits = QUICK_GPU_QUBITS if args.quick else tuple(args.gpu_qubits)
    repeats = 1 if args.quick else 2  # a device's time is scarce
    simulated, broken = [], []
    for n in qubits:  # a size that fails keeps the other figures (a device's time is scarce)
        try:
            simulated.append(_simulator_on_devices(n, device, args.quick, repeats))
        except Exception as error:  # any failure is a figure to report
            broken.append({"n_qubits": n, "error": f"{type(error).__name__}: {error}"})
    print_table(f"Exact simulator, <Z> of {GPU_LAYERS} layers (complex128), {name} beside "
                f"{cpu}; best of {repeats}",
                ["qubits", "rows (device / cpu)", "device", "EstimatorTransformer",
                 "cpu", "device / cpu", "max |difference|"],
                [[r["n_qubits"], f"{r['rows_device']:,} / {r['rows_cpu']:,}",
                  rate(r["per_s"]["device"]), rate(r["per_s"]["api"]), rate(r["per_s"]["cpu"]),
                  f"{r['speedup']:.1f}x", f"{r['max_difference']:.1e}"] for r in simulated])
    for r in broken:
        print(f"\nSimulator at {r['n_qubits']} qubits failed: {r['error']}")
    n_rows = QUICK_ROW_SIZES[0] if args.quick else args.gpu_rows
    epochs = 1  # a device's time is scarce; the first epoch includes CUDA's start-up
    fits = [_fit_or_error(model, rows, n_epochs, on)
            for model in ("qegm", "tail_risk")
            for rows, n_epochs, on in ((n_rows, epochs, device),
                                       (min(n_rows, CPU_FIT_ROWS), 1, "cpu"))]
    failed = [r for r in fits if "error" in r]
    fits = [r for r in fits if "error" not in r]
    mb = 2.0**20
    print_table("Fits (one epoch; default parameters, each fit in a fresh process)",
                ["model", "on", "rows", "s / epoch", "us / row", "predict s",
                 "peak GPU MB", "RSS fit MB"],
                [[r["model"], r["on"], f"{r['n_rows']:,}", f"{r['epoch_s']:.2f}",
                  f"{r['epoch_s'] / r['n_rows'] * 1e6:.2f}", f"{r['predict_s']:.2f}",
                  "" if r["gpu_peak"] is None else f"{r['gpu_peak'] / mb:.0f}",
                  f"{r['rss_fit'] / mb:.0f}"] for r in fits])
    for r in failed:
        print(f"\n{r['model']} on {r['on']} ({r['n_rows']:,} rows) failed: {r['error']}")
    ratios = _fit_ratios(device, args.quick)
    print_table("TailRiskEstimator against its twin (main job's data, "
                f"{ratios[0]['max_epochs']} epochs, one fit each)",
                ["on", "twin s", "quantum s", "ratio"],
                [[r["params"]["device"], f"{r['wall']['gaussian']:.2f}",
                  f"{r['wall']['quantum']:.2f}", f"{r['wall']['ratio']:.2f}"] for r in ratios])
    aer = _aer_gpu()
    print(f"\n{aer}.")
    return [{"part": "simulator", "device": name, **r} for r in simulated + broken] + [
        {"part": "fit", **r} for r in fits + failed] + [
        {**r, "part": "fit_ratio"} for r in ratios] + [{"part": "aer", "status": aer}]


def main(argv=None):
    args = parse_args(argv)
    if args.worker:  # one fit of the rows section, in its own process
        print(json.dumps(_rows_worker(args.worker, args.n_rows, args.epochs,
                                      args.worker_device)))
        return 0
    if args.quick:
        args.epochs = 1
    names = args.section or list(SECTIONS)
    import skqegm

    print(f"skqegm {skqegm.__version__}, python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores; load {load()}")
    payload = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "cores": os.cpu_count(), "device": device_name()}}
    for name in names:
        payload[name] = SECTIONS[name](args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)
    failed = [r for name in names if isinstance(payload[name], list) for r in payload[name]
              if r.get("same_cv_results") is False]
    if failed:
        print(f"\n{len(failed)} parallel run(s) gave other cv_results_ than n_jobs=1.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
