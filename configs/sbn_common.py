"""Shared base of the sigmoid-belief-network configs (reinforce.py, nvil.py, vimco.py).

Arguments (``configs/nvil.py:layers=3,hidden=200,runlocal``):
  layers   stochastic layers of 200 binary units each (1 to 3; Mnih & Gregor's "SBN 200",
           "200-200", "200-200-200")
  hidden   0: linear (logistic) layers between stochastic layers, as in both papers' SBNs;
           N: one deterministic tanh layer of N units inside every conditional
  units    binary units per stochastic layer (default 200)
  k        samples per example (VIMCO's K; 1 for REINFORCE and NVIL)
  runlocal shrink the run to seconds (a few steps, small evaluation K, 200 test images)

Training defaults (ours, not the papers'): Adam(lr=3e-4, eps=1e-4) at a constant rate,
batch 24, fixed-binarized MNIST, data-mean output bias; test NLL with K=5000.
"""
from configs import common


def get_config(arg, method, k=1):
  a = common.parse_arg(arg, runlocal=False, k=k, layers=1, hidden=0, units=200)
  if not 1 <= a.layers <= 3:
    raise ValueError(f"layers must be 1, 2 or 3, got {a.layers}")
  # The Gaussian base config; only runlocal is passed on (its `layers` means Burda's nets).
  c = common.get_config("runlocal" if a.runlocal else None)
  c.model.latent_dims = [a.units] * a.layers
  c.model.hidden = [[a.hidden] if a.hidden else [] for _ in range(a.layers)]
  c.model.activation = "tanh"
  c.method = dict(name=method, num_samples=a.k)
  c.data.batch_size = 24
  c.optim.learning_rate = 3e-4
  c.optim.schedule = "constant"
  c.args = a.to_dict()
  return c
