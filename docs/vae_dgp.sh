#!/bin/bash
# VAE-DGP demonstration on Frey faces (docs/vae_dgp.md): 2 GP layers (5 -> 8 -> 560),
# M=50 inducing points each, recognition MLP 560-200-5, batch 100, Adam 1e-2, ELBO (K=1),
# 40 epochs (600 steps of 100 faces), seed 0; test log-likelihood with K=1000 on the 200 test faces.
set -e
DATA=${DATA:-/work/shared/data}
start=$(date +%s)
nice -n 19 python -m zoo.train --config=configs/vae_dgp.py --data_dir=$DATA \
  --workdir=runs/vae_dgp_frey40 --config.train.epochs=40 --config.train.validation_freq=100 \
  --config.train.verbose=2 --config.eval.num_samples=1000
nice -n 19 python docs/vae_dgp_demo.py runs/vae_dgp_frey40 docs/vae_dgp_samples.png
echo "wall seconds: $(( $(date +%s) - start ))"
