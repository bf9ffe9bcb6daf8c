"""Tensors -> tensorflow-probability distributions. No Keras here.

Every distribution is event-shaped over the last axis (``tfd.Independent``), so
``log_prob`` sums over units and returns the sample/batch shape.
"""
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

# Smallest standard deviation a network can output; keeps log q finite.
MIN_SCALE = 1e-4


def diag_gaussian(loc, scale):
  return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)


def standard_normal(event_size, dtype=tf.float32):
  zeros = tf.zeros([event_size], dtype)
  return diag_gaussian(zeros, tf.ones_like(zeros))


def bernoulli(logits):
  return tfd.Independent(
      tfd.Bernoulli(logits=logits, dtype=logits.dtype), reinterpreted_batch_ndims=1)


def bernoulli_log_prob(logits, x):
  """log Bernoulli(x | logits) summed over the last axis: sum_d x_d l_d - softplus(l_d).

  Equals ``bernoulli(logits).log_prob(x)`` (a test checks it) with one softplus per unit
  instead of TFP's two and no multiply_no_nan passes: this sum over the 784 outputs of
  every importance sample is the hottest elementwise work in training and evaluation.
  (A module-level jit-compiled helper fused it in uncompiled evaluation, ~15% faster,
  but a tf.function shared by every model made some models' XLA steps recompile on
  every call once another model had used it; see docs/performance.md.)
  """
  return tf.reduce_sum(tf.cast(x, logits.dtype) * logits - tf.nn.softplus(logits), axis=-1)


def scale_from_raw(raw):
  """Network output -> positive standard deviation (softplus keeps gradients tame)."""
  return tf.nn.softplus(raw) + MIN_SCALE


def raw_from_scale(scale):
  """Inverse of ``scale_from_raw`` (used to set a layer to a known q)."""
  s = tf.convert_to_tensor(scale) - MIN_SCALE
  return s + tf.math.log(-tf.math.expm1(-s))
