"""Tensors -> tensorflow-probability distributions. No Keras here.

Every distribution is event-shaped over the last axis (``tfd.Independent``), so
``log_prob`` sums over units and returns the sample/batch shape.
"""
import contextlib
import threading

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

# Smallest standard deviation a network can output; keeps log q finite.
MIN_SCALE = 1e-4

# Every random draw in tfiw's hot paths goes through the two noise functions below with
# an explicit algorithm. TensorFlow's default (``alg="auto_select"``, which TFP's
# ``.sample`` uses) also runs Philox and gives the same numbers, but XLA's CPU lowering
# of it is ~20x slower: 11.5 ms vs 0.6 ms for the 50,000 normals of an IWAE step at
# batch 20, K=50 - half the step (docs/performance.md).
RNG_ALG = "philox"
# Inside XLA-compiled functions (``rng_algorithm(XLA_RNG_ALG)``): ThreeFry, which XLA's
# CPU code runs faster than Philox (a whole IWAE step +5%) but which TensorFlow's own
# kernels lack. (XLA's and TensorFlow's Philox streams differ anyway, so a model trained
# with XLA never drew the same numbers as one trained without.)
XLA_RNG_ALG = "threefry"
_rng = threading.local()


@contextlib.contextmanager
def rng_algorithm(alg):
  """Draws traced inside the block use ``alg`` (for functions compiled with XLA)."""
  previous = getattr(_rng, "alg", RNG_ALG)
  _rng.alg = alg
  try:
    yield
  finally:
    _rng.alg = previous


def draw_shape(sample_shape, batch_shape):
  """sample_shape + batch_shape as an int32 vector. sample_shape may be (), an int or a
  tensor (a SavedModel's dynamic K)."""
  sample_shape = tf.reshape(tf.cast(tf.convert_to_tensor(sample_shape), tf.int32), [-1])
  return tf.concat([sample_shape, tf.cast(batch_shape, tf.int32)], 0)


def normal_noise(shape, seed, dtype=tf.float32):
  """Standard normal noise of ``shape`` from an int32[2] stateless seed."""
  return tf.random.stateless_normal(shape, seed, dtype=dtype, alg=getattr(_rng, "alg", RNG_ALG))


def uniform_noise(shape, seed, dtype=tf.float32):
  """Uniform [0, 1) noise of ``shape`` from an int32[2] stateless seed."""
  return tf.random.stateless_uniform(shape, seed, dtype=dtype, alg=getattr(_rng, "alg", RNG_ALG))


def sample_gaussian(loc, scale, sample_shape, seed):
  """Reparameterised z = loc + scale * ε, ε ~ N(0, I), shape sample_shape + loc.shape.

  Same numbers as ``diag_gaussian(loc, scale).sample(sample_shape, seed=seed)`` (a test
  checks it), with gradients to loc and scale, at XLA-friendly speed (see ``RNG_ALG``).
  """
  eps = normal_noise(draw_shape(sample_shape, tf.shape(loc)), seed, loc.dtype)
  return loc + scale * eps


def sample_bernoulli(logits, sample_shape, seed):
  """Binary samples z ~ Bernoulli(σ(logits)) in logits' dtype, no gradient."""
  u = uniform_noise(draw_shape(sample_shape, tf.shape(logits)), seed, logits.dtype)
  return tf.stop_gradient(tf.cast(u < tf.sigmoid(logits), logits.dtype))


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


def inverse_softplus(y):
  """softplus^-1(y) = y + log(1 - exp(-y)) for y > 0 (numbers or numpy arrays): the raw
  value a softplus-parameterised weight needs to start at y."""
  y = np.asarray(y, np.float64)
  out = y + np.log(-np.expm1(-y))
  return float(out) if out.ndim == 0 else out


def raw_from_scale(scale):
  """Inverse of ``scale_from_raw`` (used to set a layer to a known q), float32 numpy."""
  return np.float32(inverse_softplus(np.asarray(scale, np.float64) - MIN_SCALE))


def kl_to_normal(loc, scale, prior_scale=1.0):
  """KL(N(loc, scale²) || N(0, prior_scale²)) per element (nats): sum it over what the
  distribution covers (units of a diagonal q; every weight of a factorised q(W))."""
  s2 = float(prior_scale) ** 2
  return (0.5 * np.log(s2) - tf.math.log(scale) + (tf.square(scale) + tf.square(loc)) / (2 * s2)
          - 0.5)
