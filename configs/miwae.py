"""MIWAE(M, K): mean of M independent K-sample IWAE bounds (Rainforth et al. 2018).

Trains θ and φ on (1/M) sum_m log (1/K) sum_k w_{m,k}, drawing M*K samples per example.
MIWAE(1, K) is IWAE(K); MIWAE(M, 1) is the M-sample ELBO (VAE). Paper setting: a budget of
M*K = 64 samples split as (M, K) in {(1, 64), (4, 16), (8, 8), (16, 4), (64, 1)}.
Arguments: ``m`` (M, default 8), ``k`` (K, default 8); ``gradient`` may also be set
(``--config.method.estimator=dreg``: DReG applies group by group).
Reproduces no paper row as it stands (fixed-binarized MNIST). Rainforth et al.'s Table 1
number (MIWAE(8, 8) 84.97 nats, as quoted by a third party) is for the paper-setting row
``configs/papers/other_methods.py:row=miwae_8_8`` (dynamic MNIST), which carries its source.

  python -m zoo.train --config=configs/miwae.py:m=8,k=8 --workdir=runs/miwae_8_8
  python -m zoo.train --config=configs/miwae.py:runlocal --workdir=/tmp/miwae   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg, m=8)
  if "k" not in [item.partition("=")[0] for item in (arg or "").split(",")]:
    c.args.k = c.method.num_samples = 8
  c.method.name = "miwae"
  c.method.objective = "miwae"
  c.method.num_groups = c.args.m
  c.method.estimator = "reparameterized"
  if c.args.runlocal:
    common.runlocal(c)
  return c
