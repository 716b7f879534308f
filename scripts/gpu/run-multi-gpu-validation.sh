#!/usr/bin/env bash
# The executor's validation on a real GPU (docs/gpu-validation/multi-gpu/): one search of
# `transformers serve` with 4 candidates, run one candidate at a time (`serial`) or two at once
# on one GPU (`two-at-once`, references/gpu/transformers-serve-two-at-once.yaml). Run from the
# repository root of a checkout on the GPU machine:
#
#   scripts/gpu/run-multi-gpu-validation.sh serial|two-at-once
#
# Wheels `transformers serve` lacks go in .whl/ (../shared/gpu/README.md); autobench is
# $AUTOBENCH, else target/release/autobench. Results: gpu_results/<mode>/ and
# gpu_results/<mode>.tar.gz, with the wall time, the GPU, and nvidia-smi samples every 2 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?serial or two-at-once}
if compgen -G ".whl/*.whl" > /dev/null && [[ ! -d /tmp/site/fastapi ]]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
bin=${AUTOBENCH:-target/release/autobench}
[[ -d /tmp/m ]] || python3 scripts/gpu/make_model.py /tmp/m 1024 8
mkdir -p ~/.cache/huggingface/hub
rm -rf "gpu_results/$mode"
mkdir -p "gpu_results/$mode"
nvidia-smi --query-gpu=timestamp,index,memory.used,utilization.gpu --format=csv -l 2 \
    > "gpu_results/$mode/nvidia-smi-samples.csv" 2>&1 &
sampler=$!
started=$(date +%s.%N)
status=0
"$bin" run --config "references/gpu/transformers-serve-$mode.yaml" --quiet > "gpu_results/$mode/stdout.txt" 2>&1 || status=$?
ended=$(date +%s.%N)
kill "$sampler" 2>/dev/null || true
python3 -c "print(f'wall_s {float($ended) - float($started):.1f}')" | tee "gpu_results/$mode/wall.txt"
echo "exit $status" >> "gpu_results/$mode/wall.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "gpu_results/$mode/gpu.txt"
nproc >> "gpu_results/$mode/gpu.txt"
"$bin" --version >> "gpu_results/$mode/gpu.txt" 2>&1 || true
tail -25 "gpu_results/$mode/stdout.txt"
tar czf "gpu_results/$mode.tar.gz" -C gpu_results "$mode"
exit 0
