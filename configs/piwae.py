"""PIWAE(M, K): θ trained on IWAE(M*K), φ on MIWAE(M, K) (Rainforth et al. 2018).

Both objectives use the same M*K samples per example: the generative network gets the
tight IWAE bound, the inference network the MIWAE bound whose gradient SNR does not decay
with M. Paper setting: M*K = 64, e.g. PIWAE(8, 8) or PIWAE(4, 16). Arguments: ``m``
(M, default 8), ``k`` (K, default 8). For a comparison at a total budget of N samples use
M*K = N (e.g. ``m=5,k=10`` for 50).
Reproduces no paper row as it stands (fixed-binarized MNIST). Rainforth et al.'s Table 1
number (PIWAE(8, 8) 84.46 nats, as quoted by a third party) is for the paper-setting row
``configs/papers/other_methods.py:row=piwae_8_8`` (dynamic MNIST), which carries its source.

  python -m zoo.train --config=configs/piwae.py:m=8,k=8 --workdir=runs/piwae_8_8
  python -m zoo.train --config=configs/piwae.py:runlocal --workdir=/tmp/piwae   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg, m=8)
  if "k" not in [item.partition("=")[0] for item in (arg or "").split(",")]:
    c.args.k = c.method.num_samples = 8
  c.method.name = "piwae"
  c.method.objective = "piwae"
  c.method.num_groups = c.args.m
  c.method.estimator = "reparameterized"
  if c.args.runlocal:
    common.runlocal(c)
  return c
