"""Variance saved by the local reparameterisation trick (docs/random_weights.md).

For one IWAE-R model and one minibatch, draws the training objective (the minibatch mean
of the IWAE bound) and its gradient w.r.t. the decoder's output-layer weight means
R times with fresh seeds, for each way of drawing the weights:
  local       LRT: pre-activations drawn per row = an independent weight draw per
              (importance sample, example) (what training uses)
  per_sample  one weight matrix per importance sample, shared by the minibatch
  per_batch   one weight matrix for the whole minibatch
and prints the variance of the objective and the total gradient variance
(Σ over elements of Var[g]) with the time per evaluation.

  python -m zoo.lrt_variance --model=runs/random_weights/iwae_r/model.keras \\
      --data_dir=../shared/data --stddev=0.05
  python -m zoo.lrt_variance --stddev=0.05      # an untrained IWAE-R 784-400-40

The minibatch is the first ``--batch`` test images of ``mnist`` (tfiw.data).
"""
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

import tfiw
from tfiw import bounds, data
from tfiw.bayes_layers import BayesDense
from tfiw.distributions import inverse_softplus
from zoo import cli

flags.DEFINE_string("model", "", "A trained IWAE-R model file (model.keras of a zoo.train "
                    "run); empty: an untrained IWAE-R 784-400-40.")
flags.DEFINE_string("data_dir", None, "Local .npz datasets (else $TFIW_DATA_DIR).")
flags.DEFINE_float("stddev", 0.0, "Set every weight's posterior σ to this value (0: keep the "
                   "model's).")
flags.DEFINE_integer("batch", 20, "Examples in the minibatch.")
flags.DEFINE_integer("k", 5, "Importance samples K.")
flags.DEFINE_integer("repeats", 50, "Seeds R: draws of objective and gradient per way of "
                     "drawing the weights.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}: every option is a --flag")
  a = flags.FLAGS
  x = data.load("mnist", data_dir=a.data_dir).test[:a.batch]
  if a.model:
    model = keras.models.load_model(a.model)
  else:
    model = tfiw.get_method("iwae_r")(input_dim=784, latent_dims=[40], hidden=[400])
    model.build()
  layers = [l for l in model._flatten_layers() if isinstance(l, BayesDense)]
  if a.stddev:
    for l in layers:
      for v in (l.kernel_rho, l.bias_rho):
        v.assign(tf.fill(v.shape, inverse_softplus(a.stddev)))
  target = model.decoder_blocks[0].heads[0].kernel_loc
  print(f"sigma: mean {np.mean([tf.reduce_mean(l.kernel_stddev).numpy() for l in layers]):.4g}; "
        f"batch {a.batch}, K={a.k}, {a.repeats} seeds; gradient w.r.t. {target.path}")
  print("| weight draws | Var[objective] | Σ Var[grad] | ms per evaluation |")
  print("|---|---|---|---|")
  for mode in ("local", "per_sample", "per_batch"):
    for l in layers:
      l.sampling = mode

    @tf.function
    def value_and_grad(seed):
      with tf.GradientTape() as tape:
        obj = tf.reduce_mean(bounds.iwae_bound(model.log_weights(x, a.k, seed).log_w))
      return obj, tape.gradient(obj, target)

    value_and_grad(tf.constant([0, 0]))
    start = time.time()
    vals, grads = zip(*[value_and_grad(tf.constant([1, r])) for r in range(a.repeats)])
    ms = 1000 * (time.time() - start) / a.repeats
    grads = np.stack([g.numpy() for g in grads])
    print(f"| {mode} | {np.var(vals):.4g} | {np.sum(np.var(grads, 0)):.4g} | {ms:.0f} |")


if __name__ == "__main__":
  cli.run(main, "zoo.lrt_variance")
