"""Quickstart: a short IWAE run on the embedded fixed-binarized MNIST (about 5 minutes on
2 CPU cores, training plus evaluation), printing the test log-likelihood.

  python -m zoo.train --config=configs/quickstart.py --workdir=runs/quickstart

The 1-layer Burda architecture (784-200-200-50, tanh), IWAE with k=5, batch 100, Adam
(lr 1e-3, eps 1e-4) at a constant rate, for 30 epochs. Evaluation: the IWAE bound
with K=5000 importance samples on all 10,000 test images.
Reproduces no paper row: it is far from converged (Burda et al. train for 3280 epochs;
their fixed-MNIST protocol is configs/papers/burda2016_appd.py); see README for the
number it printed on our machine.
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg)
  c.method.name = "iwae"
  c.method.num_samples = 5
  c.data.batch_size = 100
  c.optim.schedule = "constant"
  c.train.validation_freq = 1
  c.train.epochs = 30
  if c.args.runlocal:
    common.runlocal(c)
  return c
