"""Sigmoid belief network trained with VIMCO (Mnih & Rezende 2016) on the K-sample bound.

Each sample's learning signal is L̂ - L̂_{-j}, where the leave-one-out baseline L̂_{-j}
replaces log w_j by the mean of the other log-weights (geometric mean of their weights).
No baseline network and no running statistics. ``k`` sets K (>= 2; default 5).

Reproduces no paper row: Mnih & Rezende's Table 2 numbers (SBN 200-200-200 on MNIST) are
not in /work/shared/papers, so none is quoted here; the paper-setting rows are
``configs/papers/other_methods.py:row=vimco_sbn3_k5`` and ``vimco_sbn3_k50``.

  python -m zoo.train --config=configs/vimco.py:k=5 --workdir=runs/vimco5_sbn200
  python -m zoo.train --config=configs/vimco.py:k=50,layers=3 --workdir=runs/vimco50_sbn200x3
  python -m zoo.train --config=configs/vimco.py:runlocal --workdir=/tmp/vimco    # seconds
  python -m zoo.train --config=configs/vimco.py:latents=gaussian --workdir=runs/vimco_gauss  # Gaussian z
  python -m zoo.diagnose_sbn --workdir=runs/vimco5_sbn200                       # grad variance
"""
from configs import common, sbn_common


def get_config(arg=None):
  c = sbn_common.get_config(arg, "vimco", k=5)
  if c.args.runlocal:
    common.runlocal(c)
  return c
