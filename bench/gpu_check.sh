#!/usr/bin/env bash
# The GPU check of issue 9 in one go (at most 8 minutes), printing one JSON object on stdout:
# ResNet-152 bf16 training and inference images/s at batch 64 and 256 (224 px), XLM-R base
# (built from config) training sequences/s at length 256, and the image input pipeline with
# DataLoader workers.  Needs the project's dependencies (pip install -e .); no network.
#
#   bash bench/gpu_check.sh            # on a CUDA machine
#   bash bench/gpu_check.sh --smoke    # anywhere, CPU, toy sizes: checks that the script runs
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
# 470 s for the measurements, the rest of the 8 minutes for starting Python and CUDA
exec timeout --signal=INT --kill-after=10 470 "$PYTHON" bench/gpu_check.py --budget 360 "$@"
