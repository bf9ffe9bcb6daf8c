"""Shared base of the score-function configs (reinforce.py, nvil.py, vimco.py) and of
rws.py with ``latents=bernoulli``.

Arguments (``configs/nvil.py:layers=3,hidden=200,runlocal``):
  latents  bernoulli (default): sigmoid belief nets, ``layers`` stochastic layers of
           ``units`` binary units; gaussian: the same estimator on Burda et al.'s
           Gaussian-latent nets (``layers`` 1 or 2, their units; ``units``/``hidden``
           ignored)
  layers   stochastic layers (bernoulli: 1 to 3, Mnih & Gregor's "SBN 200", "200-200",
           "200-200-200")
  hidden   0: linear (logistic) layers between stochastic layers, as in both papers' SBNs;
           N: one deterministic tanh layer of N units inside every conditional
  units    binary units per stochastic layer (default 200)
  k        samples per example (VIMCO's K; 1 for REINFORCE and NVIL)
  runlocal shrink the run to seconds (a few steps, small evaluation K, 200 test images)

Training defaults (ours, not the papers'): Adam(lr=3e-4, eps=1e-4) at a constant rate,
batch 24, fixed-binarized MNIST, data-mean output bias; test NLL with K=5000.
"""
from configs import common


LATENTS = ("bernoulli", "gaussian")


def get_config(arg, method, k=1, **extra_args):
  """The config without the final runlocal block (the method's config applies it last)."""
  a = common.parse_arg(arg, runlocal=False, k=k, layers=1, hidden=0, units=200,
                       latents="bernoulli", **extra_args)
  if a.latents not in LATENTS:
    raise ValueError(f"latents must be one of {LATENTS}, got {a.latents!r}")
  if a.latents == "bernoulli" and not 1 <= a.layers <= 3:
    raise ValueError(f"layers must be 1, 2 or 3, got {a.layers}")
  # The Gaussian base config (its `layers` means Burda's nets).
  c = common.get_config(f"layers={a.layers}" if a.latents == "gaussian" else None)
  if a.latents == "bernoulli":
    c.model.latent_dims = [a.units] * a.layers
    c.model.hidden = [[a.hidden] if a.hidden else [] for _ in range(a.layers)]
    c.model.activation = "tanh"
  c.method = dict(name=method, num_samples=a.k, latents=a.latents)
  c.data.batch_size = 24
  c.optim.learning_rate = 3e-4
  c.optim.schedule = "constant"
  c.args = a.to_dict()
  return c
