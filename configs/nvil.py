"""Sigmoid belief network trained with NVIL (Mnih & Gregor 2014).

Single-sample ELBO; φ learns from (l - b(x) - c) / max(1, sqrt(v)) ∇φ log q(z|x), with an
input-dependent baseline b(x) (MLP, one tanh layer of 100 units as in the paper), running
mean c and variance v (exponential moving averages, α = 0.8 as in the paper).
Not implemented from the paper: its "local learning signals" per layer of deep SBNs
(each layer here gets the whole-network signal) and its learning-rate schedule.

Reproduces no paper row: the training schedule and local learning signals differ from
the paper (above), and its Table 1 numbers (SBN 200 / 200-200 / 200-200-200 on
fixed-binarized MNIST) are not in /work/shared/papers, so none is quoted here; the
paper-setting row is ``configs/papers/other_methods.py:row=nvil_sbn3``. This repo's
short-budget numbers are in docs/discrete_latents.md.

  python -m zoo.train --config=configs/nvil.py --workdir=runs/nvil_sbn200
  python -m zoo.train --config=configs/nvil.py:layers=3 --workdir=runs/nvil_sbn200x3
  python -m zoo.train --config=configs/nvil.py:runlocal --workdir=/tmp/nvil      # seconds
  python -m zoo.train --config=configs/nvil.py:latents=gaussian --workdir=runs/nvil_gauss  # Gaussian z
  python -m zoo.diagnose_sbn --workdir=runs/nvil_sbn200                         # grad variance
"""
from configs import common, sbn_common


def get_config(arg=None):
  c = sbn_common.get_config(arg, "nvil", k=1)
  c.method.baseline_hidden = [100]
  c.method.input_baseline = True
  c.method.variance_normalization = True
  c.method.decay = 0.8
  if c.args.runlocal:
    common.runlocal(c)
  return c
