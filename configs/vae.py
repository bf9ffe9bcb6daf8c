"""VAE (Kingma & Welling 2014) with the k-sample averaged ELBO, in Burda et al.'s setting.

Setting (Burda et al. 2016): batch 20, Adam(lr=1e-3, eps=1e-4), 3^i-epoch stages at
lr 1e-3*10^(-i/7), i = 0..7 (3280 epochs), test NLL with K=5000, on the embedded
FIXED-binarized MNIST. Reproduces no paper row as it stands: Burda et al.'s VAE numbers
(Table 1: 1 layer k=1 86.76, k=5 86.47, k=50 86.35; 2 layers 85.33 / 85.01 / 84.78) are on
DYNAMICALLY binarized MNIST; their rows are ``configs/papers/burda2016_table1.py``.

  python -m zoo.train --config=configs/vae.py:k=5 --workdir=runs/vae_k5
  python -m zoo.train --config=configs/vae.py:runlocal --workdir=/tmp/vae   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg)
  c.method.name = "vae"
  if c.args.runlocal:
    common.runlocal(c)
  return c
