#!/usr/bin/env bash
# The GPU check of issue 24, one command under 9 minutes on one H100/H200 (results under $OUT):
#   animate's code path (placement.place + driving.animate_motion) at 16×576×1024 with the svd-xt-width model
#   (random weights) in bf16, without and with model offload, with and without the InterAnimate modules in the same
#   run (their step-time ratio), seconds per step and per clip, peak GiB, and the physical floor (the clip's FLOPs at
#   the GPU's dense bf16 peak).
#
#   run (device tool):  bash benchmarks/gpu_inference.sh        carry: [".devcarry"]
#
# The device machine has torch, transformers and accelerate but no diffusers and no network: the pure-Python and
# wheel dependencies come from .devcarry/wheels (ignored by git; fill it here with
#   pip download --no-deps -d .devcarry/wheels diffusers==0.42.1 opencv-python-headless==4.10.0.84 omegaconf antlr4-python3-runtime==4.9.3 pyyaml
# ). 10 denoising steps keep it inside the limit; s/step does not depend on the step count.
set -euo pipefail
OUT="${OUT:-runs/gpu_inference}"
mkdir -p "$OUT"
SITE="$(mktemp -d)"
if ! python -c "import diffusers, cv2" 2>/dev/null; then
  python -m pip install --quiet --no-index --no-deps --target "$SITE" .devcarry/wheels/*.whl
fi
export PYTHONPATH="$PWD/src:$SITE:${PYTHONPATH:-}"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python benchmarks/infer_speed.py --configs svd-xt --size 576x1024 --frames 16 --steps 10 --dtypes bf16 \
  --offloads none,model --floor --json "$OUT/infer_speed.json" 2>&1 | tee "$OUT/infer_speed.log"
