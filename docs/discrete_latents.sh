#!/bin/bash
# Short-budget comparison of REINFORCE / NVIL / VIMCO on the same SBN (docs/discrete_latents.md).
# Same SBN (linear, 200 binary units), data (fixed-binarized MNIST), seed 0, batch 24,
# Adam lr 1e-3, 2 x 500 steps; test NLL with K=5000 on the first 200 test images;
# φ-gradient variance at the NVIL and VIMCO(K=5) checkpoints (50 draws, first 24 training
# images). Usage: bash docs/discrete_latents.sh [OUTDIR]   (default runs/discrete_latents)
set -e
OUT=${1:-runs/discrete_latents}
mkdir -p "$OUT"
COMMON="--config.seed=0 --config.optim.learning_rate=1e-3 --config.train.epochs=2
  --config.train.steps_per_epoch=500 --config.train.validation_freq=100
  --config.train.verbose=2 --config.eval.max_examples=200"
for run in reinforce:reinforce.py nvil:nvil.py vimco5:vimco.py:k=5 vimco50:vimco.py:k=50; do
  name=${run%%:*}; cfg=${run#*:}
  start=$(date +%s)
  nice -n 19 python -m zoo.train --config=configs/$cfg $COMMON --workdir="$OUT/$name"
  echo "$name train+eval $(($(date +%s) - start)) s" | tee -a "$OUT/wall_times.txt"
done
for name in nvil vimco5; do
  start=$(date +%s)
  nice -n 19 python -m zoo.diagnose_sbn --workdir="$OUT/$name" --num_draws=50 \
    --estimators=reinforce,nvil,iwae_reinforce:5,vimco:5,iwae_reinforce:50,vimco:50
  echo "$name diagnose $(($(date +%s) - start)) s" | tee -a "$OUT/wall_times.txt"
done
