"""REM's covariance and ε against IWAE at equal budget (the measurement behind REM's defaults).

Each CONFIG is trained for STEPS steps (batch 20, Adam(1e-3, eps=1e-4) with Burda's schedule
on 2,500-step epochs, seed 0, the same initial weights for every config of one architecture),
then scored on a fixed random subset of the fixed-binarized MNIST test set (not its first
images: the test file is ordered by digit): log p(x) as the IWAE bound at K=K_EVAL, the
closed-form KL(q(z|x) || p(z)) and ``sigma_q``, the median over units of q(z_1|x)'s standard
deviation averaged over the images (the training metric of the same name). One JSON line per
config goes to stdout and to OUT. ``released:`` before a REM config adds the authors'
released code's extra encoder gradient (see ``ReleasedREM``).

  python docs/rem_defaults.py STEPS OUT.jsonl CONFIG [CONFIG ...]
  python docs/rem_defaults.py 1000 runs/rem_defaults/short.jsonl configs/iwae.py:k=10 \\
      configs/rem.py:k=10,z=50,cov=weighted,eps=1e-3 released:configs/rem.py:k=10,z=50,cov=sample,eps=1e-6

Options (environment): K_EVAL (500), N_TEST (500), LOG_EVERY (steps per logged epoch, 250).
"""
import importlib
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import data, evaluation, rem as em
from tfiw.models import REM
from zoo import trainer

EPOCH_STEPS = 2500  # 50,000 training images / batch 20: the schedule's real epoch


class ReleasedREM(REM):
  """REM as the authors' released code trains it (github.com/adjidieng/REM, models.py).

  There, v1's θ-loss -Σ_k α_k log p(x, z_k) is taken at *reparameterised* z_k ~ q, and one
  optimiser differentiates the sum of all losses, so v1's encoder also receives
  -Σ_k α_k ∇_z log p(x, z_k) ∂z_k/∂φ on top of Algorithm 1's Σ_k β_k ∇φ log q(z'_k|x).
  (v2's θ-loss is on s's detached samples: no extra term.) Only for this measurement.
  """

  def compute_losses(self, x, seed):
    losses = super().compute_losses(x, seed)
    if self.version != 1:
      return losses
    q_seed = tfp.random.split_seed(seed, 2)[0]  # the same draws as REM's step 1
    lw = self.log_weights(tf.cast(x, tf.float32), self.num_samples, q_seed)
    extra = em.reweighted_nll(lw.log_w, lw.log_p)  # φ's gradient: through z only
    return losses._replace(inference_loss=losses.inference_loss + extra
                           - tf.stop_gradient(extra))


def build(spec):
  released = spec.startswith("released:")
  path, _, arg = spec.removeprefix("released:").partition(":")
  module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
  cfg = module.get_config(arg)
  model = trainer.build_model(cfg, 784)
  if released:
    if cfg.method.name != "rem":
      raise ValueError(f"released: needs a REM config, got {spec}")
    keras.utils.set_random_seed(0)  # the same initial weights as the plain REM config
    model = ReleasedREM.from_config(model.get_config())
  return cfg, model


def main(steps, out, specs):
  k_eval = int(os.environ.get("K_EVAL", 500))
  n_test = int(os.environ.get("N_TEST", 500))
  log_every = min(int(os.environ.get("LOG_EVERY", 250)), steps)
  splits = data.load("binarized_mnist")
  idx = np.sort(np.random.default_rng(0).choice(splits.test.shape[0], n_test, replace=False))
  x_test = splits.test[idx]
  os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
  for spec in specs:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    cfg, model = build(spec)
    model.set_output_bias(splits.train.mean(0))
    model.compile(trainer.build_optimizer(cfg, EPOCH_STEPS), jit_compile=True,
                  steps_per_execution=trainer.steps_per_execution(50, log_every))
    ds = data.train_dataset(splits.train, cfg.data.batch_size, cfg.seed, False)
    start = time.time()
    hist = model.fit(ds, epochs=steps // log_every, steps_per_epoch=log_every, verbose=0).history
    train_s = time.time() - start
    start = time.time()
    lp = evaluation.log_likelihood(model, x_test, num_samples=k_eval, seed=0)
    loc, scale = model.encode(x_test)
    row = {
        "config": spec, "steps": steps, "k_eval": k_eval, "n_test": n_test,
        "test_log_px": round(float(lp.mean()), 2),
        "stderr": round(float(lp.std() / np.sqrt(len(lp))), 2),
        "kl_q_prior": round(evaluation.kl_to_prior(model, x_test), 2),
        "sigma_q": round(float(np.mean(em.median_last_axis(scale).numpy())), 3),
        "active_units": evaluation.active_units(model, x_test)[0],
        "train_s": round(train_s, 1), "eval_s": round(time.time() - start, 1),
        # Per logged epoch (LOG_EVERY steps): training means, to see a collapse develop.
        "history": {key: [round(float(v), 3) for v in vals] for key, vals in hist.items()
                    if key in ("bound", "ess", "ess_s", "kl", "sigma_q")},
    }
    line = json.dumps(row)
    print(line, flush=True)
    with open(out, "a") as f:
      f.write(line + "\n")


if __name__ == "__main__":
  if len(sys.argv) < 4:
    sys.exit(__doc__)
  main(int(sys.argv[1]), sys.argv[2], sys.argv[3:])
