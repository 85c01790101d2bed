#!/usr/bin/env bash
# How the shipped default model is made, step by step (the exact commands of its latest
# training session; its card in models/ names the session and the figures it measured).
#
#   models/build-default.sh WORK_DIR [HOURS]
#
# WORK_DIR receives the generated data and the run folder (keep it outside git, e.g. runs/s3);
# HOURS is the training budget (default 2.2). Each session continues from the weights shipped
# in models/ (stripped of optimizer state), so training accumulates across sessions.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:?usage: models/build-default.sh WORK_DIR [HOURS]}"
hours="${2:-2.2}"
# Training seeds change every session (777 is held out and never trained on).
seed640="${SEED640:-21001}"; n640="${N640:-3600}"
seed320="${SEED320:-21003}"; n320="${N320:-1000}"
name="$(sed 's/\.onnx$//' models/DEFAULT)"
mkdir -p "$work"
# A step whose output folder already holds a data.yaml is skipped, so the script can be re-run
# after an interruption (an interrupted training run continues with
# `finishscan train --data WORK_DIR/train-mix/data.yaml --out WORK_DIR/run --resume`).
have() { [ -f "$1/data.yaml" ] && echo "have $1, skipped"; }

# 1. Data: 640-px renders cut into the model's 320-px tiles (the scale `detect --tile` uses on
#    photos), half of the defect-free tiles kept, plus whole renders at 320 px (defects shrunk).
#    Seeds are new each session; 777 is never trained on (held-out).
#    `dataset tile` erases a piece of a defect that a tile shows without a label (--erase, on
#    for these synthetic folders since session 17; v0.17.0 is the first model trained on such tiles).
have "$work/r640-s$seed640" || finishscan dataset synth --out "$work/r640-s$seed640" --n "$n640" --seed "$seed640" --workers 2
have "$work/r320-s$seed320" || finishscan dataset synth --out "$work/r320-s$seed320" --n "$n320" --seed "$seed320" --imgsz 320 --workers 2
have "$work/r640-s777" || finishscan dataset synth --out "$work/r640-s777" --n 300 --seed 777 --workers 2
have "$work/t320-s$seed640" || finishscan dataset tile "$work/r640-s$seed640" --out "$work/t320-s$seed640" --size 320 --overlap 0 --keep-empty 0.5 --seed 1
have "$work/heldout-t320-s777" || finishscan dataset tile "$work/r640-s777" --out "$work/heldout-t320-s777" --size 320 --overlap 0
have "$work/train-mix" || finishscan dataset merge "$work/t320-s$seed640" "$work/r320-s$seed320" --out "$work/train-mix"

# 2. Train: continue from the shipped weights (configs/train/continue.yaml), time-boxed.
#    DEEPEN=1.0 first gives them a larger depth multiple (finishscan deepen: the same detections,
#    new blocks that start at zero effect); later sessions continue from the deeper weights.
start="models/$name.pt"
if [ -n "${DEEPEN:-}" ]; then
    finishscan deepen "$start" --out "$work/deep.pt" --depth "$DEEPEN"
    start="$work/deep.pt"
fi
finishscan train --data "$work/train-mix/data.yaml" --model "$start" --recipe continue \
    --hours "$hours" --out "$work/run"
# SOUP=1 (version 0.20.0): ship the half-and-half average of the starting and the new weights
# (training.train.average_weights), which kept what the run gained without what it lost.
best="$work/run/weights/best.pt"
if [ -n "${SOUP:-}" ]; then
    python -c "from training.train import average_weights; average_weights('$start', '$best', '$work/soup.pt')"
    best="$work/soup.pt"
fi

# 3. Export with the card, measure on the held-out tiles, INT8 copy calibrated on training tiles.
mkdir -p "$work/calib"
ls "$work/train-mix/images/val" | sort | awk 'NR % 3 == 0 && NR <= 450' | xargs -I{} cp "$work/train-mix/images/val/{}" "$work/calib/"
finishscan export "$best" --out "models/$name.onnx" --version "${VERSION:-dev}" \
    --data "$work/heldout-t320-s777/data.yaml" --split all --card "${CARD:-configs/cards/$name.yaml}" \
    --int8 --calib "$work/calib"
finishscan evaluate --model "models/$name.onnx" --data "$work/heldout-t320-s777/data.yaml" \
    --split all --json "models/$name-eval/heldout-t320-s777.json" --plots "models/$name-eval"
python -c "from training.train import strip_weights; strip_weights('$best', 'models/$name.pt')"
