"""Sigmoid belief network trained with plain REINFORCE (Williams 1992): the reference point.

ELBO with a single sample; φ learns from the score-function estimator with learning
signal l = log p(x,z) - log q(z|x) and no baseline (high variance, see docs/discrete_latents.md).
Arguments: see configs/sbn_common.py (layers, hidden, units, k, runlocal).
Reproduces no paper row (a baseline for NVIL and VIMCO).

  python -m zoo.train --config=configs/reinforce.py --workdir=runs/reinforce_sbn200
  python -m zoo.train --config=configs/reinforce.py:runlocal --workdir=/tmp/reinforce  # seconds
  python -m zoo.train --config=configs/reinforce.py:latents=gaussian --workdir=runs/reinforce_gauss  # Gaussian z
  python -m zoo.diagnose_sbn --workdir=runs/reinforce_sbn200      # gradient variance
"""
from configs import common, sbn_common


def get_config(arg=None):
  c = sbn_common.get_config(arg, "reinforce", k=1)
  if c.args.runlocal:
    common.runlocal(c)
  return c
