"""IWAE (Burda, Grosse & Salakhutdinov 2016).

Paper setting: batch 20, Adam(lr=1e-3, eps=1e-4), 3^i-epoch stages at lr 1e-3*10^(-i/7),
i = 0..7 (3280 epochs), fixed-binarized MNIST, test NLL with K=5000.
Paper test NLL (MNIST, Table 1): 1 layer k=1 86.76, k=5 85.54, k=50 84.78;
2 layers k=1 85.33, k=5 83.89, k=50 82.90.

  python -m zoo.train --config=configs/iwae.py:k=50,layers=2 --workdir=runs/iwae_k50_l2
  python -m zoo.train --config=configs/iwae.py:runlocal --workdir=/tmp/iwae   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg)
  c.method.name = "iwae"
  return c
