"""STL: "sticking the landing" φ-gradient for IWAE (Roeder, Wu & Duvenaud 2017).

The recognition network's gradient drops the score term of q:
sum_k w~_k ∂log w_k/∂z_k ∂z_k/∂φ. Zero variance when q is the exact posterior; biased for
K > 1 (DReG, configs/dreg.py, is the unbiased fix). θ's gradient is IWAE's.
The model is ``tfiw.IWAE(estimator="stl")``. Setting: Burda et al.'s architectures and
schedule (as configs/iwae.py) on fixed-binarized MNIST. Reproduces no paper row (Roeder
et al. report MNIST/Omniglot numbers for other architectures; none is checked here).

  python -m zoo.train --config=configs/stl.py:k=50 --workdir=runs/stl_k50
  python -m zoo.train --config=configs/stl.py:runlocal --workdir=/tmp/stl   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg)
  c.method.name = "stl"
  c.method.estimator = "stl"
  if c.args.runlocal:
    common.runlocal(c)
  return c
