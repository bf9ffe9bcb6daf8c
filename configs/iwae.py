"""IWAE (Burda, Grosse & Salakhutdinov 2016).

Setting: Burda et al.'s architectures, batch 20, Adam(lr=1e-3, eps=1e-4), 3^i-epoch stages
at lr 1e-3*10^(-i/7), i = 0..7 (3280 epochs), test NLL with K=5000, on the embedded
FIXED-binarized MNIST (``binarized_mnist``). The paper row for that dataset is Burda et
al.'s appendix D (1 layer, IWAE k = 1 / 5 / 50: 88.71 / 87.63 / 87.10 nats), run with
its protocol by ``configs/papers/burda2016_appd.py``. Their Table 1 (1 layer k=1 86.76,
k=5 85.54, k=50 84.78; 2 layers 85.33 / 83.89 / 82.90) is on DYNAMICALLY binarized MNIST
and is not what this config trains: its rows are ``configs/papers/burda2016_table1.py``.

  python -m zoo.train --config=configs/iwae.py:k=50,layers=2 --workdir=runs/iwae_k50_l2
  python -m zoo.train --config=configs/iwae.py:runlocal --workdir=/tmp/iwae   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg)
  c.method.name = "iwae"
  if c.args.runlocal:
    common.runlocal(c)
  return c
