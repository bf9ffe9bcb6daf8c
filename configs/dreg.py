"""DReG: doubly reparameterised φ-gradients (Tucker, Lawson, Gu & Maddison 2019).

IWAE-DReG (default): φ gets sum_k w~_k^2 ∂log w_k/∂z_k ∂z_k/∂φ, unbiased for ∇φ IWAE, whose
signal-to-noise ratio does not decay with K as IWAE's does (Rainforth et al. 2018).
RWS-DReG (argument ``rws``): φ gets sum_k (w~_k - w~_k^2) ∂log w_k/∂z_k ∂z_k/∂φ, the
doubly reparameterised RWS wake-φ update. θ's gradient is IWAE's in both.
The model is ``tfiw.IWAE(estimator="dreg" | "dreg_rws")``. Paper setting: Burda et al.'s
single-stochastic-layer architecture on dynamically binarized MNIST/Omniglot, K = 64
(use ``configs/dreg.py:k=64`` with ``--config.data.name=mnist``). This config trains on
fixed-binarized MNIST and reproduces no paper row; the paper-setting row (no verified
number) is ``configs/papers/other_methods.py:row=dreg_k64``.

  python -m zoo.train --config=configs/dreg.py:k=50 --workdir=runs/dreg_k50
  python -m zoo.train --config=configs/dreg.py:k=64,rws --workdir=runs/dreg_rws_k64
  python -m zoo.train --config=configs/dreg.py:runlocal --workdir=/tmp/dreg   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg, rws=False)
  c.method.name = "dreg"
  c.method.estimator = "dreg_rws" if c.args.rws else "dreg"
  if c.args.runlocal:
    common.runlocal(c)
  return c
