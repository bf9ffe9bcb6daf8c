"""Pure functions of importance log-weights.

Convention: ``log_w`` has the sample axis first, shape ``[K, B]``, with
``log w_k = log p(x, z_k) - log q(z_k | x)``. Every function returns per-example
values of shape ``[B]`` (nats) unless stated otherwise. No Keras, no state.
"""
import tensorflow as tf


def _num_samples(log_w):
  return tf.cast(tf.shape(log_w)[0], log_w.dtype)


def log_mean_exp(log_w, axis=0):
  """log (1/K) sum_k exp(log_w_k), computed stably."""
  k = tf.cast(tf.shape(log_w)[axis], log_w.dtype)
  return tf.reduce_logsumexp(log_w, axis=axis) - tf.math.log(k)


def elbo(log_w):
  """K-sample average ELBO (Kingma & Welling): (1/K) sum_k log w_k."""
  return tf.reduce_mean(log_w, axis=0)


def iwae_bound(log_w):
  """Importance-weighted bound (Burda et al. 2016, eq. 8): log (1/K) sum_k w_k."""
  return log_mean_exp(log_w, axis=0)


def miwae_bound(log_w, num_groups):
  """MIWAE(M, K) (Rainforth et al. 2018): mean over M groups of the K-sample IWAE bound.

  ``log_w`` is [M*K, B]; consecutive blocks of K rows form a group.
  """
  shape = tf.shape(log_w)
  grouped = tf.reshape(log_w, [num_groups, shape[0] // num_groups, shape[1]])
  return tf.reduce_mean(log_mean_exp(grouped, axis=1), axis=0)


def normalized_weights(log_w):
  """Self-normalised importance weights w~_k = w_k / sum_j w_j, shape [K, B]; sums to 1."""
  return tf.nn.softmax(log_w, axis=0)


def effective_sample_size(log_w):
  """Kish's effective sample size 1 / sum_k w~_k^2, in [1, K], shape [B]."""
  w = normalized_weights(log_w)
  return 1.0 / tf.reduce_sum(tf.square(w), axis=0)

