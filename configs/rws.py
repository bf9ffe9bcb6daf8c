"""Reweighted wake-sleep (Bornschein & Bengio 2015; Le, Kosiorek, Siddharth, Teh & Wood 2019).

θ: wake-θ, Σ_k w̃_k ∇θ log p(x, z_k) (the IWAE θ gradient); φ by ``phi``:
  phi=wake_phi   Σ_k w̃_k ∇φ log q(z_k|x) (inclusive KL(p(z|x)||q), no gradient through z)
  phi=sleep_phi  ∇φ log q(z|x) at (x, z) dreamed from p (Hinton et al.'s sleep phase)
  phi=mixed      the mean of the two (Bornschein & Bengio's recommendation)
Setting: Burda et al.'s continuous-latent architecture and schedule (configs/common.py),
fixed-binarized MNIST, K=50 (``k=``), ``layers=1|2``. ``latents=bernoulli``: sigmoid
belief nets instead (configs/sbn_common.py: ``layers`` of 200 binary units, K=5, batch 24,
Adam 3e-4), the model family of Bornschein & Bengio's results; their numbers are not in
../shared/papers and their SBN protocol is not reproduced here, so no paper number is
quoted; see docs/em_family.md for our comparison.

  python -m zoo.train --config=configs/rws.py:k=5 --workdir=runs/rws_k5
  python -m zoo.train --config=configs/rws.py:phi=mixed,k=50 --workdir=runs/rws_mixed
  python -m zoo.train --config=configs/rws.py:latents=bernoulli,layers=2 --workdir=runs/rws_sbn
  python -m zoo.train --config=configs/rws.py:runlocal --workdir=/tmp/rws   # seconds
"""
from configs import common, sbn_common


def _latents(arg):
  return dict(item.partition("=")[::2] for item in (arg or "").split(",")
              if item).get("latents", "gaussian")


def get_config(arg=None):
  if _latents(arg) == "bernoulli":  # sigmoid belief nets (configs/sbn_common.py), K=5
    c = sbn_common.get_config(arg, "rws", k=5, phi="wake_phi")
  else:
    c = common.get_config(arg, phi="wake_phi", latents="gaussian")
    c.method.name = "rws"
    c.method.latents = "gaussian"
  c.method.phi_update = c.args.phi
  if c.args.runlocal:
    common.runlocal(c)
  return c
