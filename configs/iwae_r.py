"""IWAE with random network weights: IWAE-R, IWAE-Rrec and the deterministic baseline.

Reference setting: one stochastic layer of 40 units, encoder and decoder with one hidden
layer of 400 tanh units, K=25 importance samples in training, weights drawn per
importance sample with the local reparameterisation trick, no KL term on the weights;
dynamically binarized MNIST and Omniglot; test log-likelihood with K=5000.
Arguments (defaults first):
  variant=iwae_r|iwae_rrec|iwae   random weights in both networks / only in the
                  recognition network / none (deterministic IWAE, same architecture)
  dataset=mnist|omniglot|binarized_mnist   mnist/omniglot need mnist.npz /
                  omniglot_28x28_areadown.npz in --data_dir (or $TFIW_DATA_DIR), or the TFDS
                  datasets prepared; binarized_mnist is embedded
  k=25            training K
  init_stddev=0.001   initial σ of every random weight
  kl_weight=0.0   Bayes-by-backprop KL(q(weights) || N(0, prior_stddev²)) / N_train weight
  prior_stddev=1.0
  runlocal        seconds on CPU (2 x 5 steps, K_eval=20, 200 test images); without
                  $TFIW_DATA_DIR it trains on the embedded binarized_mnist

Reference test log-likelihood (nats, K=5000; higher is better):
  MNIST     IWAE -95.18   IWAE-R -94.35   IWAE-Rrec -94.71
  Omniglot  IWAE -118.77  IWAE-R -118.54  IWAE-Rrec -118.65
This config's ``dataset=mnist|omniglot`` settings are the poster's rows; run with their
protocol and reported by ``configs/papers/iwae_random_weights.py``. Our short-budget
comparison of the three variants (same data, seeds, budget) is in docs/random_weights.md.

  python -m zoo.train --config=configs/iwae_r.py:variant=iwae_r,dataset=mnist \
      --data_dir=../shared/data --workdir=runs/iwae_r_mnist
  python -m zoo.train --config=configs/iwae_r.py:variant=iwae_rrec,dataset=omniglot \
      --data_dir=../shared/data --workdir=runs/iwae_rrec_omniglot
  python -m zoo.train --config=configs/iwae_r.py:runlocal --workdir=/tmp/iwae_r  # seconds
"""
import os

from configs import common

VARIANTS = {"iwae_r": "both", "iwae_rrec": "recognition", "iwae": "none"}
NUM_TRAIN = {"mnist": 60000, "omniglot": 24345, "binarized_mnist": 50000}


def get_config(arg=None):
  c = common.get_config(arg, k=25, variant="iwae_r", dataset="mnist", init_stddev=1e-3,
                        kl_weight=0.0, prior_stddev=1.0)
  a = c.args
  if a.variant not in VARIANTS:
    raise ValueError(f"unknown variant {a.variant!r}; valid: {sorted(VARIANTS)}")
  if a.dataset not in NUM_TRAIN:
    raise ValueError(f"unknown dataset {a.dataset!r}; valid: {sorted(NUM_TRAIN)}")
  c.data.name = a.dataset
  c.model.latent_dims = [40]
  c.model.hidden = [[400]]
  c.method = dict(name="iwae_r", num_samples=a.k, random_weights=VARIANTS[a.variant],
                  init_stddev=a.init_stddev, kl_weight=a.kl_weight,
                  prior_stddev=a.prior_stddev, num_train=NUM_TRAIN[a.dataset])
  if a.runlocal:
    common.runlocal(c)
    if not os.environ.get("TFIW_DATA_DIR"):
      # runlocal must run anywhere: without $TFIW_DATA_DIR, the embedded fixed-binarized MNIST.
      c.data.name = "binarized_mnist"
  return c
