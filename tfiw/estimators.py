"""Gradient estimators as losses of log-weights.

Each estimator returns ``Losses``: ``model_loss`` is differentiated w.r.t. the
generative parameters θ only, ``inference_loss`` w.r.t. the recognition parameters φ
only, and ``bound`` [B] is the number that is reported (nats). When both losses are
the same tensor object, one backward pass serves both (VAE, IWAE).

A score-function or reweighted estimator is written as a zero-valued surrogate,
``value + (s - stop_gradient(s))``, so the reported loss stays the bound.
"""
from typing import NamedTuple

import tensorflow as tf

from tfiw import bounds


class Losses(NamedTuple):
  model_loss: tf.Tensor      # scalar, gradient taken w.r.t. θ
  inference_loss: tf.Tensor  # scalar, gradient taken w.r.t. φ
  bound: tf.Tensor           # [B], reported bound (nats)
  ess: tf.Tensor             # [B], effective sample size of the importance weights


def shared(bound, log_w):
  """One objective -bound for both θ and φ (pathwise gradients through z)."""
  loss = -tf.reduce_mean(bound)
  return Losses(loss, loss, bound, bounds.effective_sample_size(log_w))


def vae(log_w):
  """Reparameterised K-sample ELBO (Kingma & Welling 2014)."""
  return shared(bounds.elbo(log_w), log_w)


def iwae(log_w):
  """Reparameterised importance-weighted bound (Burda et al. 2016)."""
  return shared(bounds.iwae_bound(log_w), log_w)
