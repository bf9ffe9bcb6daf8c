"""SavedModel export: signatures that score and sample without importing tfiw or TFP.

Contract (shared/DESIGN.md):
| signature | inputs | outputs |
| ``log_prob`` (= ``serving_default``) | x float32 [None, D] | log_prob float32 [None] |
| ``log_prob_k`` | x float32 [None, D], num_samples int32 [] | log_prob float32 [None] |
| ``sample`` | num_samples int32 [], seed int32 [] | x, mean float32 [None, D] |
| ``encode`` | x float32 [None, D] | loc, scale float32 [None, Z] |

log p(x) is the IWAE estimate with K samples, computed exactly as
``tfiw.evaluation.log_likelihood`` does (blocks of ``batch_size`` examples, the last one
padded, chunks of ``chunk_size`` samples, stateless seed [seed, block]), so the
exported number equals the in-process one for the same K and seed, and memory stays
bounded by batch_size * chunk_size whatever K or the number of rows.
Bad input raises InvalidArgumentError naming the problem; an empty batch returns an
empty result.
"""
import contextlib
import json
import logging
import os

import tensorflow as tf

from tfiw import evaluation


def _gate(value, ok, message):
  """``value``, let through only once the scalar check ``ok`` has passed.

  The Assert names the problem. The CheckNumerics on a scalar that is NaN exactly when
  the check fails puts the check on ``value``'s data path, so no consumer can run before
  it: a control dependency alone did not order it. Grappler's arithmetic optimizer drops
  the reshape of x to [-1, D] the control dependency hung on, and on about half of the
  fresh loads, ``encode`` fed images [N, H, W] ran its first matmul first: "In[0]
  is not a matrix" (measured 31/60 on 2026-12-06). Either error names the problem.
  """
  with tf.control_dependencies([tf.debugging.Assert(ok, [message])]):
    zero = tf.debugging.check_numerics(tf.where(ok, 0.0, float("nan")), message)
  return value + tf.cast(zero, value.dtype)


def checked_x(model, x):
  """x after graph-side input checks, chained so the first problem found is the one named.

  The signature declares [None, D], and a signature call does not check the shape it is
  fed: TensorFlow folds rank-dependent ops at trace time (``tf.rank(x)`` is the constant
  2) and Grappler drops the reshape to [-1, D] as a no-op, so a rank-3 feed such as
  images [N, 28, 28] would reach the network ("Expected multiples argument ...", "In[0]
  is not a matrix"). Two runtime checks that cannot be folded catch every other shape:
  the trailing dimensions ``tf.shape(x)[1:]`` (a runtime vector: [28, 28] for images)
  must all equal D, and size(x) = N * D (for rank 1, where that vector is empty). Each
  check gates x's data (``_gate``), so each runs after the one before it and before
  anything that uses x.
  """
  d = model.input_dim
  flat = lambda x: tf.reshape(x, [-1])
  shape = lambda x: tf.shape(x, out_type=tf.int64)
  checks = [
      (lambda x: tf.logical_and(tf.reduce_all(tf.equal(shape(x)[1:], d)),
                                tf.equal(tf.size(x, out_type=tf.int64), shape(x)[0] * d)),
       f"x must have shape [N, {d}]: a batch of rows of {d} values"),
      (lambda x: tf.reduce_all(tf.math.is_finite(flat(x))), "x contains NaN or infinite values"),
  ]
  if model.likelihood == "bernoulli":
    checks.append((lambda x: tf.reduce_all(tf.logical_or(tf.equal(flat(x), 0.0),
                                                         tf.equal(flat(x), 1.0))),
                   "x must be binary (0 or 1): the model's likelihood is Bernoulli"))
  for condition, message in checks:
    x = _gate(x, condition(x), message)
  return tf.reshape(x, [-1, d])


def _checked_num_samples(num_samples):
  return _gate(num_samples, num_samples >= 1, "num_samples must be >= 1")


def blocked_log_likelihood(model, x, num_samples, seed, batch_size, chunk_size):
  """log p(x) [N] float32 by blocks of examples inside the graph (dynamic N and K)."""
  estimate = evaluation.make_estimator_fn(model)
  n = tf.shape(x)[0]
  chunk = tf.minimum(tf.cast(chunk_size, tf.int32), num_samples)
  # Fewer rows than a block: one block of all of them, as evaluation.log_likelihood does
  # (its draws depend on the block's shape, so the numbers agree only if the blocks do).
  batch_size = tf.maximum(1, tf.minimum(tf.constant(batch_size, tf.int32), n))
  num_blocks = (n + batch_size - 1) // batch_size

  def body(b, out):
    block = x[b * batch_size:(b + 1) * batch_size]
    valid = tf.shape(block)[0]
    # Pad the last block by repeating its last row, as evaluation.log_likelihood does.
    block = tf.concat([block, tf.repeat(block[-1:], batch_size - valid, axis=0)], 0)
    lp, _ = estimate(block, num_samples, tf.stack([seed, b]), chunk)
    return b + 1, out.write(b, tf.cast(lp[:valid], tf.float32))

  _, out = tf.while_loop(lambda b, _: b < num_blocks, body,
                         (tf.constant(0), tf.TensorArray(tf.float32, 0, dynamic_size=True,
                                                         infer_shape=False,
                                                         element_shape=[None])))
  return tf.cond(n > 0, lambda: out.concat(), lambda: tf.zeros([0], tf.float32))


class ExportModule(tf.Module):
  """Holds only the model's variables and the signature functions (no Keras objects)."""

  def __init__(self, model, num_samples, seed, batch_size, chunk_size):
    super().__init__(name="tfiw_export")
    model.build()
    self.model_variables = list(model.variables)
    d = model.input_dim
    x_spec = tf.TensorSpec([None, d], tf.float32, name="x")
    k_spec = tf.TensorSpec([], tf.int32, name="num_samples")

    def score(x, k):
      x = checked_x(model, x)
      k = _checked_num_samples(k)
      return {"log_prob": blocked_log_likelihood(model, x, k, tf.constant(seed, tf.int32),
                                                 batch_size, chunk_size)}

    @tf.function(input_signature=[x_spec])
    def log_prob(x):
      return score(x, tf.constant(num_samples, tf.int32))

    @tf.function(input_signature=[x_spec, k_spec])
    def log_prob_k(x, num_samples):
      return score(x, num_samples)

    @tf.function(input_signature=[k_spec, tf.TensorSpec([], tf.int32, name="seed")])
    def sample(num_samples, seed):
      num_samples = _checked_num_samples(num_samples)
      x, mean = model.generate(num_samples, tf.stack([seed, 0]))
      return {"x": tf.cast(x, tf.float32), "mean": tf.cast(mean, tf.float32)}

    @tf.function(input_signature=[x_spec])
    def encode(x):
      x = checked_x(model, x)
      loc, scale = model.encode_top(x)
      return {"loc": loc, "scale": scale}

    self.log_prob, self.log_prob_k, self.sample, self.encode = (
        log_prob, log_prob_k, sample, encode)

  def signatures(self):
    return {"serving_default": self.log_prob, "log_prob": self.log_prob,
            "log_prob_k": self.log_prob_k, "sample": self.sample, "encode": self.encode}


@contextlib.contextmanager
def _quiet_tf_logging():
  """TensorFlow's Python INFO logging off for a while (warnings and errors still show)."""
  from absl import logging as absl_logging  # (TensorFlow's saving code logs through absl)
  logger, verbosity = tf.get_logger(), absl_logging.get_verbosity()
  level = logger.level
  logger.setLevel(logging.WARNING)
  absl_logging.set_verbosity(absl_logging.WARNING)
  try:
    yield
  finally:
    logger.setLevel(level)
    absl_logging.set_verbosity(verbosity)


def export_savedmodel(model, path, num_samples=5000, seed=0, metadata=None,
                      batch_size=evaluation.DEFAULT_BATCH, chunk_size=None):
  """Write ``model`` as a SavedModel at ``path`` with the contract's signatures.

  ``assets/config.json`` records ``metadata`` (config, data set, ...) with the
  evaluation K, seed and the estimator that ``log_prob`` computes. The signatures run
  TensorFlow's own kernels (no XLA); ``chunk_size`` None takes the exporting machine's
  default (``evaluation.default_chunk_size()``: 20 on CPU, 500 with a GPU), so the
  numbers equal ``evaluation.log_likelihood(..., jit_compile=False)`` there.
  """
  if int(num_samples) < 1:
    raise ValueError(f"num_samples must be >= 1, got {num_samples}")
  chunk_size = chunk_size or evaluation.default_chunk_size()
  module = ExportModule(model, int(num_samples), int(seed), int(batch_size), int(chunk_size))
  with _quiet_tf_logging():  # a dozen INFO lines about renamed inputs, sharding, assets
    tf.saved_model.save(module, path, signatures=module.signatures())
  info = {
      "format": "tfiw SavedModel v1",
      "model_class": type(model).__name__,
      "model_config": model.get_config(),
      "input_dim": model.input_dim,
      "likelihood": model.likelihood,
      "log_prob": {
          "estimator": getattr(model, "log_prob_estimator",
                               "IWAE bound log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x)"),
          "num_samples": int(num_samples), "seed": int(seed),
          "batch_size": int(batch_size), "chunk_size": int(chunk_size), "units": "nats"},
      "signatures": {
          "log_prob": "x float32 [None, D] -> log_prob float32 [None] (also serving_default)",
          "log_prob_k": "x float32 [None, D], num_samples int32 [] -> log_prob float32 [None]",
          "sample": "num_samples int32 [], seed int32 [] -> x, mean float32 [None, D]",
          "encode": "x float32 [None, D] -> loc, scale float32 [None, Z] (top latent layer)"},
      **(metadata or {}),
  }
  os.makedirs(os.path.join(path, "assets"), exist_ok=True)
  with open(os.path.join(path, "assets", "config.json"), "w") as f:
    json.dump(info, f, indent=2, default=str)
  return path
