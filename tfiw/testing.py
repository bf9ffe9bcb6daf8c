"""Closed-form test models: a linear-Gaussian latent-variable model.

p(z) = N(0, I_d),  p(x | z) = N(W z + b, sigma^2 I_D). Then exactly
  p(x) = N(b, W W^T + sigma^2 I),
  p(z | x) = N(S W^T (x - b) / sigma^2, S),  S = (I + W^T W / sigma^2)^-1.
W is built with orthogonal columns, so S is diagonal and a diagonal-Gaussian q can
equal the exact posterior; then log w = log p(x) for every sample and every K.
"""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import distributions as dists

tfd = tfp.distributions


class LinearGaussian:
  def __init__(self, data_dim=6, latent_dim=3, sigma=0.7, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(data_dim, latent_dim)))
    self.W = (q * rng.uniform(0.5, 2.0, size=latent_dim)).astype(np.float64)  # orthogonal cols
    self.b = rng.normal(size=data_dim)
    self.sigma = float(sigma)
    self.data_dim, self.latent_dim = data_dim, latent_dim
    wtw = self.W.T @ self.W
    self.post_cov = np.linalg.inv(np.eye(latent_dim) + wtw / sigma**2)
    # x -> posterior mean is affine: mean = x A + c
    self.A = self.W @ self.post_cov / sigma**2
    self.c = -self.b @ self.A

  def sample(self, n, seed=1):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, self.latent_dim))
    return z @ self.W.T + self.b + self.sigma * rng.normal(size=(n, self.data_dim))

  def log_marginal(self, x):
    """Exact log p(x), numpy float64 [N]."""
    cov = self.W @ self.W.T + self.sigma**2 * np.eye(self.data_dim)
    return tfd.MultivariateNormalFullCovariance(self.b, cov).log_prob(x).numpy()

  def posterior(self, x):
    """Exact p(z | x): mean [N, d] and (diagonal) std [d]."""
    return x @ self.A + self.c, np.sqrt(np.diag(self.post_cov))

  def log_joint(self, x, z):
    """log p(x, z) for z [K, N, d] -> [K, N] (float64)."""
    prior = dists.standard_normal(self.latent_dim, tf.float64).log_prob(z)
    lik = dists.diag_gaussian(tf.einsum("knd,Dd->knD", z, self.W) + self.b,
                              self.sigma * tf.ones([self.data_dim], tf.float64))
    return prior + lik.log_prob(x)

  def log_weights(self, x, q_loc, q_scale, num_samples, seed=0):
    """log p(x, z) - log q(z | x) with z ~ q = N(q_loc, q_scale^2); [K, N] float64."""
    q = dists.diag_gaussian(tf.constant(q_loc, tf.float64),
                            tf.constant(q_scale, tf.float64) * tf.ones_like(q_loc))
    z = q.sample(num_samples, seed=tf.constant([seed, 7]))
    return self.log_joint(x, z) - q.log_prob(z)

  def keras_model(self, method_cls, q_loc_shift=0.0, q_scale_factor=1.0, **kwargs):
    """A ``method_cls`` model (linear, Gaussian likelihood) whose p is this model and whose
    q is the exact posterior, optionally shifted/widened to make it inexact."""
    model = method_cls(input_dim=self.data_dim, latent_dims=[self.latent_dim], hidden=[],
                       likelihood="gaussian", **kwargs)
    model.build()
    enc, dec = model.encoder_blocks[0].head, model.decoder_blocks[0].head
    post_std = np.sqrt(np.diag(self.post_cov)) * q_scale_factor
    enc.loc.kernel.assign(self.A.astype(np.float32))
    enc.loc.bias.assign((self.c + q_loc_shift).astype(np.float32))
    enc.raw_scale.kernel.assign(np.zeros_like(self.A, np.float32))
    enc.raw_scale.bias.assign(dists.raw_from_scale(post_std.astype(np.float32)))
    dec.loc.kernel.assign(self.W.T.astype(np.float32))
    dec.loc.bias.assign(self.b.astype(np.float32))
    dec.raw_scale.kernel.assign(np.zeros_like(self.W.T, np.float32))
    dec.raw_scale.bias.assign(
        dists.raw_from_scale(np.full(self.data_dim, self.sigma, np.float32)))
    return model


def tiny_binary_data(n=64, dim=12, seed=0):
  """Binary data with structure (two prototypes plus noise), for quick fit tests."""
  rng = np.random.default_rng(seed)
  protos = rng.random((2, dim)) < 0.5
  idx = rng.integers(0, 2, n)
  flip = rng.random((n, dim)) < 0.1
  return (protos[idx] ^ flip).astype(np.float32)
