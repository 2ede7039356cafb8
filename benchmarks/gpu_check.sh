#!/usr/bin/env bash
# Issue 18's GPU checks in one call of the device machine (about 6 minutes).
#
# Here, with the package registries reachable, once:
#     bash benchmarks/gpu_check.sh fetch
# puts the wheels the device machine's Python lacks (Qiskit and Aer, which the tests
# import, and this checkout's scikit-learn) into .whl/ (34 MB, git-ignored through
# .git/info/exclude). Then, on the device machine (the device tool's run, carry [".whl"],
# timeout_s 540):
#     bash benchmarks/gpu_check.sh
# installs them, prints the versions and the GPU, runs tests/test_device.py (its CUDA
# tests run only where torch sees a GPU) and `bench_scale.py --section gpu`, and writes
# every log and the JSON figures to $OUT (./gpu-check without it).
set -o pipefail
cd "$(dirname "$0")/.."
WHEELS=(qiskit==2.6.2 rustworkx==0.18.1 stevedore==5.10.0 dill==0.4.1 qiskit-aer==0.18.2
        scikit-learn==1.9.1)

if [ "${1:-}" = fetch ]; then
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >> "$exclude"
    # The device machine runs CPython 3.12 on x86-64.
    exec python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
fi

out=${OUT:-gpu-check}
mkdir -p "$out"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
{
    python3 -c 'import platform, numpy, scipy, sklearn, torch
print("python", platform.python_version(), "numpy", numpy.__version__, "scipy",
      scipy.__version__, "scikit-learn", sklearn.__version__, "torch", torch.__version__,
      "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())'
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
} | tee "$out/versions.txt"
python3 -m pytest -q -p no:cacheprovider tests/test_device.py 2>&1 | tee "$out/tests.log"
tests=$?
python3 benchmarks/bench_scale.py --section gpu --json "$out/gpu.json" 2>&1 | tee "$out/gpu.log"
bench=$?
echo "tests rc $tests, benchmark rc $bench"
exit $((tests || bench))
