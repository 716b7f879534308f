#!/usr/bin/env bash
# Runs references/gpu/transformers-serve.yaml on a machine with an NVIDIA GPU, PyTorch and
# transformers (>= 5.x, with `transformers serve`), from the repository root of a clean checkout.
#
#   scripts/gpu/run-transformers-search.sh [RESULTS_TARBALL]
#
# - autobench: $AUTOBENCH, else target/release/autobench, else built with `cargo build --release`.
# - Python packages `transformers serve` needs but the machine lacks can be carried as wheels in
#   .whl/ (see ../shared/gpu/README.md for the list); they are installed into /tmp/site.
# - The model is built locally (no hub access): scripts/gpu/make_model.py /tmp/m 1024 8.
# The results folder (./gpu_results) is packed into RESULTS_TARBALL (default gpu_results.tar.gz).
set -euo pipefail
cd "$(dirname "$0")/../.."
tarball=${1:-gpu_results.tar.gz}

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
bin=${AUTOBENCH:-target/release/autobench}
if [[ ! -x $bin ]]; then
    cargo build --release
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
[[ -d /tmp/m ]] || python3 scripts/gpu/make_model.py /tmp/m 1024 8
# transformers serve answers /v1/models with a 500 when the hub cache folder is missing.
mkdir -p ~/.cache/huggingface/hub

rm -rf gpu_results
started=$(date +%s)
status=0
"$bin" run --config references/gpu/transformers-serve.yaml --quiet || status=$?
echo "autobench exit status $status after $(( $(date +%s) - started )) s"
"$bin" --version > gpu_results/autobench_version.txt 2>&1 || true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > gpu_results/gpu.txt
tar czf "$tarball" gpu_results
exit "$status"
