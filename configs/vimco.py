"""Sigmoid belief network trained with VIMCO (Mnih & Rezende 2016) on the K-sample bound.

Each sample's learning signal is L̂ - L̂_{-j}, where the leave-one-out baseline L̂_{-j}
replaces log w_j by the mean of the other log-weights (geometric mean of their weights).
No baseline network and no running statistics. ``k`` sets K (>= 2; default 5).

Paper (MNIST generative modelling, SBN 200-200-200, test NLL): VIMCO improves with K and
beats NVIL at K >= 2; its reported values are around 92-93 nats for K = 5..50 (as
recalled, not re-checked here: the paper text is not in /work/shared/papers).

  python -m zoo.train --config=configs/vimco.py:k=5 --workdir=runs/vimco5_sbn200
  python -m zoo.train --config=configs/vimco.py:k=50,layers=3 --workdir=runs/vimco50_sbn200x3
  python -m zoo.train --config=configs/vimco.py:runlocal --workdir=/tmp/vimco    # seconds
  python -m zoo.diagnose_sbn --workdir=runs/vimco5_sbn200                       # grad variance
"""
from configs import sbn_common


def get_config(arg=None):
  return sbn_common.get_config(arg, "vimco", k=5)
