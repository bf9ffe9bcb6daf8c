"""Latent unit types of a stochastic layer: network outputs -> a distribution's parameters,
and sampling and scoring with them. Tensors only (no Keras); the families in
``tfiw.models`` walk their stacks of conditionals through this one interface.

  params(out)                     network head output -> distribution parameters
  sample(params, shape, seed, reparameterize)   draws; reparameterised where possible
  log_prob(params, z)             summed over the last axis
  stop(params)                    the same distribution with its parameters stop-gradiented
  moments(params)                 (mean, standard deviation) per unit
  prior_log_prob / prior_sample   the top layer's prior p(z_L) (given its parameters)
  ancestral(params, seed)         one draw per row, for dreaming and generating
"""
import tensorflow as tf

from tfiw import distributions as dists


class Gaussian:
  """Diagonal Gaussian units, z = loc + scale ε (reparameterised); prior N(0, I);
  scale = softplus(raw) + a floor (``dists.scale_from_raw``)."""
  name = "gaussian"
  family = "gaussian"        # what estimators check support against
  head = "gaussian"          # the network head: (loc, raw_scale)
  reparameterizable = True

  @staticmethod
  def params(out):
    loc, raw = out
    return loc, dists.scale_from_raw(raw)

  @staticmethod
  def sample(params, sample_shape, seed, reparameterize=True):
    z = dists.sample_gaussian(*params, sample_shape, seed)
    return z if reparameterize else tf.stop_gradient(z)

  @staticmethod
  def log_prob(params, z):
    return dists.diag_gaussian(*params).log_prob(z)

  @staticmethod
  def stop(params):
    return tuple(tf.stop_gradient(p) for p in params)

  @staticmethod
  def moments(params):
    return params

  @staticmethod
  def prior_log_prob(prior_params, size, z):
    return dists.standard_normal(size).log_prob(z)

  @staticmethod
  def prior_sample(prior_params, size, num_examples, seed):
    return dists.standard_normal(size).sample(num_examples, seed=seed)

  @staticmethod
  def ancestral(params, seed):
    return dists.diag_gaussian(*params).sample(seed=seed)


class GaussianExp(Gaussian):
  """Gaussian units with scale = exp(raw) and no floor: the parameterisation of Burda et
  al.'s released code (yburda/iwae ``iwae.py``, ``GaussianSampler``), for measuring how
  much the link matters against a paper's numbers. Same family as ``Gaussian``."""
  name = "gaussian_exp"

  @staticmethod
  def params(out):
    loc, raw = out
    return loc, tf.exp(raw)


class Bernoulli:
  """Binary units (sigmoid belief nets): logits; samples carry no gradient; the top
  layer's prior has learned logits."""
  name = "bernoulli"
  family = "bernoulli"
  head = "logits"
  reparameterizable = False

  @staticmethod
  def params(out):
    return out

  @staticmethod
  def sample(logits, sample_shape, seed, reparameterize=False):
    return dists.sample_bernoulli(logits, sample_shape, seed)

  @staticmethod
  def log_prob(logits, z):
    return dists.bernoulli_log_prob(logits, z)

  @staticmethod
  def stop(logits):
    return tf.stop_gradient(logits)

  @staticmethod
  def moments(logits):
    p = tf.sigmoid(logits)
    return p, tf.sqrt(p * (1.0 - p))

  @staticmethod
  def prior_log_prob(prior_logits, size, z):
    return dists.bernoulli_log_prob(prior_logits, z)

  @staticmethod
  def prior_sample(prior_logits, size, num_examples, seed):
    return dists.sample_bernoulli(prior_logits, [num_examples], seed)

  @staticmethod
  def ancestral(logits, seed):
    return dists.sample_bernoulli(logits, [], seed)


LATENTS = {t.name: t for t in (Gaussian, GaussianExp, Bernoulli)}


def get_latents(name):
  if name not in LATENTS:
    raise ValueError(f"unknown latents {name!r}; valid: {sorted(LATENTS)}")
  return LATENTS[name]
