"""Reweighted wake-sleep (Bornschein & Bengio 2015; Le, Kosiorek, Siddharth, Teh & Wood 2019).

θ: wake-θ, Σ_k w̃_k ∇θ log p(x, z_k) (the IWAE θ gradient); φ by ``phi``:
  phi=wake_phi   Σ_k w̃_k ∇φ log q(z_k|x) (inclusive KL(p(z|x)||q), no gradient through z)
  phi=sleep_phi  ∇φ log q(z|x) at (x, z) dreamed from p (Hinton et al.'s sleep phase)
  phi=mixed      the mean of the two (Bornschein & Bengio's recommendation)
Setting: Burda et al.'s continuous-latent architecture and schedule (configs/common.py),
fixed-binarized MNIST, K=50 (``k=``), ``layers=1|2``. Bornschein & Bengio report results
for discrete (sigmoid belief net / NADE) latents, not for this Gaussian-latent setting, so
there is no paper number to reproduce here; see docs/em_family.md for our comparison.

  python -m zoo.train --config=configs/rws.py:k=5 --workdir=runs/rws_k5
  python -m zoo.train --config=configs/rws.py:phi=mixed,k=50 --workdir=runs/rws_mixed
  python -m zoo.train --config=configs/rws.py:runlocal --workdir=/tmp/rws   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg, phi="wake_phi")
  c.method.name = "rws"
  c.method.phi_update = c.args.phi
  return c
