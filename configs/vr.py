"""VR-IWAE: the Rényi / variational Rényi bound with importance weights (Li & Turner 2016,
eq. 12; Daudel, Benton, Shi & Doucet 2023).

  L_α = 1/(1-α) log (1/K) Σ_k w_k^(1-α),   α in [0, 1)

α=0 is the IWAE bound, α -> 1 the ELBO; ELBO <= L_α <= IWAE for every draw
(``tfiw.objectives.VR``). Reparameterised gradients (``--config.method.estimator=dreg``: its
doubly reparameterised form, or stl). Setting: Burda et al.'s architectures and schedule
(as configs/iwae.py) on fixed-binarized MNIST. Reproduces no paper row (Daudel et al.
report other architectures and budgets; none is checked here).

Arguments: ``alpha`` (default 0.5), ``k`` (default 50), ``layers`` (1 or 2), runlocal.

  python -m zoo.train --config=configs/vr.py:alpha=0.5,k=50 --workdir=runs/vr_05_k50
  python -m zoo.train --config=configs/vr.py:runlocal --workdir=/tmp/vr   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg, alpha=0.5)
  c.method.name = "vr"
  c.method.objective = "vr"
  c.method.alpha = float(c.args.alpha)
  if c.args.runlocal:
    common.runlocal(c)
  return c
