"""VAE (Kingma & Welling 2014) with the k-sample averaged ELBO, in Burda et al.'s setting.

Paper setting (Burda et al. 2016): batch 20, Adam(lr=1e-3, eps=1e-4), 3^i-epoch stages at
lr 1e-3*10^(-i/7), i = 0..7 (3280 epochs), test NLL with K=5000.
Burda et al.'s VAE test NLL (MNIST, Table 1): 1 layer k=1 86.76, k=5 86.47, k=50 86.35;
2 layers k=1 85.33, k=5 85.01, k=50 84.78.

  python -m zoo.train --config=configs/vae.py:k=5 --workdir=runs/vae_k5
  python -m zoo.train --config=configs/vae.py:runlocal --workdir=/tmp/vae   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg)
  c.method.name = "vae"
  return c
