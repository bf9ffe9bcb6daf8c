#!/bin/bash
# Short-budget comparison of IWAE / IWAE-Rrec / IWAE-R (docs/random_weights.md).
# Same data (dynamically binarized MNIST from $DATA), seed 0, 500 steps of batch 20
# (10,000 examples, 1/6 epoch), K=25, Adam lr 1e-3; test log-likelihood with K=5000 on
# the first 100 test images. Results in runs/random_weights/<variant>/results.json.
set -e
DATA=${DATA:-/work/shared/data}
STEPS=${STEPS:-500}
for v in iwae iwae_rrec iwae_r; do
  start=$(date +%s)
  nice -n 19 python -m zoo.train --config=configs/iwae_r.py:variant=$v,dataset=mnist \
    --data_dir=$DATA --workdir=runs/random_weights/$v \
    --config.train.epochs=1 --config.train.steps_per_epoch=$STEPS \
    --config.train.verbose=2 --config.eval.max_examples=100 --config.eval.num_samples=5000
  echo "$v wall seconds: $(( $(date +%s) - start ))"
done
