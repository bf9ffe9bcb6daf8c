"""Sigmoid belief networks (binary latents) trained with REINFORCE, NVIL and VIMCO.

Generative model (θ), L stochastic layers of binary units, top first:
  p(z_L) = Π_i Bernoulli(z_L,i; σ(a_i))        (learned prior logits a)
  p(z_l | z_{l+1}) = Π_i Bernoulli(σ(f_l(z_{l+1})))   (f_l linear, or MLP with tanh layers)
  p(x | z_1) Bernoulli (or Gaussian) with logits f_0(z_1).
Recognition model (φ), bottom first: q(z_1 | x), q(z_l | z_{l-1}) factorised Bernoulli with
logits from the same kind of networks. ``hidden=[[]]`` gives a linear (logistic) SBN as in
Mnih & Gregor (2014) ("SBN 200"); ``hidden=[[200]]`` puts one deterministic tanh layer
between stochastic layers.

Samples z are discrete: they are stop-gradiented, so φ learns only through the
score-function estimators of ``tfiw.score_function`` and θ through ∇θ log p(x, z) at the
sampled z. The math lives in ``tfiw.score_function``; this file is the Keras plumbing.
"""
import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import distributions as dists, score_function
from tfiw.estimators import Losses
from tfiw.models.base import LatentVariableModel, LogWeights, _apply


def bernoulli_log_prob(logits, z):
  """Σ_i log Bernoulli(z_i; σ(logits_i)) over the last axis; broadcasts logits against z.

  log σ(a) = a - softplus(a) and log(1 - σ(a)) = -softplus(a), so the log-probability
  is z a - softplus(a), stable for any logit.
  """
  return tf.reduce_sum(z * logits - tf.nn.softplus(logits), -1)


class SBN(LatentVariableModel):
  """Sigmoid belief network; a training method subclass defines ``estimator``.

  Same arguments as ``LatentVariableModel``; ``latent_dims=[200, 200, 200]`` with
  ``hidden=[[], [], []]`` is the 200-200-200 SBN of Mnih & Gregor (2014) and
  Mnih & Rezende (2016). ``encode`` returns (probabilities, sqrt(p(1-p))) of q(z_1|x),
  i.e. the mean and standard deviation of the Bernoulli units.
  """

  latent_head = "logits"

  def build(self, input_shape=None):
    if self.built:
      return
    self.prior_logits = self.add_weight(shape=(self.latent_dims[-1],), initializer="zeros",
                                        trainable=True, name="prior_logits")
    super().build(input_shape)

  @property
  def model_variables(self):
    """θ: the prior logits and the generative networks."""
    self.build()
    return [self.prior_logits] + super().model_variables

  # ---- the model's math -----------------------------------------------------
  def log_weights(self, x, num_samples, seed):
    """Draw K samples z ~ q(z|x) (binary, stop-gradiented) and score them; ``LogWeights``."""
    self.build()
    x = tf.cast(x, tf.float32)
    seeds = tfp.random.split_seed(seed, len(self.latent_dims))
    h, zs, log_q, log_q_stop = x, [], 0.0, 0.0
    for l, block in enumerate(self.encoder_blocks):
      logits = _apply(block, h)
      z = dists.sample_bernoulli(logits, [num_samples] if l == 0 else [], seeds[l])
      log_q += bernoulli_log_prob(logits, z)
      log_q_stop += bernoulli_log_prob(tf.stop_gradient(logits), z)
      zs.append(z)
      h = z
    log_p = self.log_joint(x, zs)
    return LogWeights(log_p - log_q, log_p, log_q, log_q_stop, tuple(zs))

  def log_prior(self, zs):
    """log p(z_1..z_L) for binary zs[l] of shape [..., Z_l]; returns [...]."""
    self.build()
    log_p = bernoulli_log_prob(self.prior_logits, zs[-1])
    for l in range(1, len(zs)):  # p(z_l | z_{l+1}), l = 1..L-1
      log_p += bernoulli_log_prob(_apply(self.decoder_blocks[l], zs[l]), zs[l - 1])
    return log_p

  def generate(self, num_samples, seed):
    """Ancestral sampling z_L -> ... -> z_1 -> x; returns (x, E[x | z_1]), [N, D] each."""
    self.build()
    seeds = tfp.random.split_seed(seed, len(self.latent_dims) + 1)
    z = dists.sample_bernoulli(self.prior_logits, [num_samples], seeds[0])
    for l in range(len(self.latent_dims) - 1, 0, -1):
      z = dists.sample_bernoulli(_apply(self.decoder_blocks[l], z), [], seeds[l])
    p_x = self.likelihood_dist(z)
    return p_x.sample(seed=seeds[-1]), p_x.mean()

  @staticmethod
  def _bernoulli_moments(logits):
    p = tf.sigmoid(logits)
    return p, tf.sqrt(p * (1.0 - p))

  def encode(self, x):
    """Mean p = q(z_1=1|x) and standard deviation sqrt(p(1-p)) of q(z_1 | x), [B, Z_1]."""
    self.build()
    return self._bernoulli_moments(_apply(self.encoder_blocks[0], tf.cast(x, tf.float32)))

  def encode_top(self, x):
    """Mean and standard deviation of the top layer's units, lower layers at their means.

    Mean-field summary (probabilities passed up in place of samples), like the Gaussian
    models' ``encode_top``.
    """
    self.build()
    h = tf.cast(x, tf.float32)
    for block in self.encoder_blocks:
      p, s = self._bernoulli_moments(_apply(block, h))
      h = p
    return p, s


@keras.saving.register_keras_serializable("tfiw")
class Reinforce(SBN):
  """SBN trained on the ELBO with plain REINFORCE for φ (no baseline; Williams 1992)."""

  def estimator(self, lw):
    return score_function.reinforce(lw.log_w, lw.log_q)


@keras.saving.register_keras_serializable("tfiw")
class VIMCO(SBN):
  """SBN trained on the K-sample bound with VIMCO's leave-one-out baselines.

  Mnih & Rezende (2016). ``num_samples`` K must be at least 2.
  """

  def __init__(self, input_dim, num_samples=5, **kwargs):
    if int(num_samples) < 2:
      raise ValueError(f"VIMCO needs num_samples >= 2 (leave-one-out baselines), "
                       f"got {num_samples}")
    super().__init__(input_dim, num_samples=num_samples, **kwargs)

  def estimator(self, lw):
    return score_function.vimco(lw.log_w, lw.log_q)


@keras.saving.register_keras_serializable("tfiw")
class NVIL(SBN):
  """SBN trained with NVIL (Mnih & Gregor 2014): ELBO, centred and normalised REINFORCE.

  Learning signal A = (l - b(x) - c) / max(1, sqrt(v)) with l = log p(x,z) - log q(z|x).

  Args:
    baseline_hidden: tanh hidden units of the input-dependent baseline b(x) (the paper:
      one hidden layer of 100 units); ``None`` or ``[]`` with ``input_baseline=False``
      turns b off.
    input_baseline: use b(x) (else only the running mean c).
    variance_normalization: divide by max(1, sqrt(v)) (else by 1).
    decay: α of the exponential moving averages c ← αc + (1-α) mean(l - b),
      v ← αv + (1-α) mean((l - b - c)^2) (the paper: 0.8).
    Other arguments as ``LatentVariableModel``.

  b(x) has its own variables ψ and its own loss mean((l - c - b(x))^2); ``train_step``
  applies θ-, φ- and ψ-gradients in one optimizer step and then updates c and v
  (non-trainable weights, saved with the model).
  """

  def __init__(self, input_dim, baseline_hidden=(100,), input_baseline=True,
               variance_normalization=True, decay=0.8, **kwargs):
    super().__init__(input_dim, **kwargs)
    self.baseline_hidden = [int(u) for u in (baseline_hidden or [])]
    self.input_baseline = bool(input_baseline)
    self.variance_normalization = bool(variance_normalization)
    self.decay = float(decay)
    if not 0.0 <= self.decay < 1.0:
      raise ValueError(f"decay must be in [0, 1), got {decay}")
    self.baseline_net = keras.Sequential(
        [keras.layers.Dense(u, activation="tanh", name=f"dense_{i}")
         for i, u in enumerate(self.baseline_hidden)] +
        [keras.layers.Dense(1, name="out")], name="baseline")
    # aggregation="mean": under tf.distribute the replicas' running statistics are averaged.
    self.signal_mean = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                       name="signal_mean", aggregation="mean")
    self.signal_var = self.add_weight(shape=(), initializer="ones", trainable=False,
                                      name="signal_var", aggregation="mean")

  def build(self, input_shape=None):
    if self.built:
      return
    self.baseline_net.build((None, self.input_dim))
    super().build(input_shape)

  def get_config(self):
    return {**super().get_config(), "baseline_hidden": self.baseline_hidden,
            "input_baseline": self.input_baseline,
            "variance_normalization": self.variance_normalization, "decay": self.decay}

  @property
  def baseline_variables(self):
    """ψ: the input-dependent baseline network's variables."""
    self.build()
    return list(self.baseline_net.trainable_variables) if self.input_baseline else []

  def baseline(self, x):
    """b(x) [B] (zeros when ``input_baseline=False``)."""
    x = tf.cast(x, tf.float32)
    if not self.input_baseline:
      return tf.zeros(tf.shape(x)[:1])
    return self.baseline_net(x)[:, 0]

  def nvil_losses(self, x, seed):
    """x, seed -> (Losses, baseline_loss, centred signal [K, B])."""
    lw = self.log_weights(x, self.num_samples, seed)
    scale = (tf.sqrt(self.signal_var) if self.variance_normalization
             else tf.constant(1.0))
    return score_function.nvil(lw.log_w, lw.log_q, self.baseline(x), self.signal_mean,
                               scale)

  def compute_losses(self, x, seed):
    return self.nvil_losses(x, seed)[0]

  def _train_step(self, data):
    self.build()
    x = self._unpack(data)
    seed = self._next_seed()
    theta, phi, psi = self.model_variables, self.inference_variables, self.baseline_variables
    with tf.GradientTape(persistent=True) as tape:
      losses, baseline_loss, centred = self.nvil_losses(x, seed)
    grads = (tape.gradient(losses.model_loss, theta) +
             tape.gradient(losses.inference_loss, phi) +
             (tape.gradient(baseline_loss, psi) if psi else []))
    del tape
    grad_of = {id(v): g for v, g in zip(theta + phi + psi, grads)}
    variables = self.trainable_variables
    grads = [grad_of.get(id(v)) for v in variables]
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    self._apply_gradients(grads, variables)  # scaled for data-parallel replicas
    # Running statistics of the signal after the input-dependent baseline (paper, sec. 3.3):
    # c tracks mean(l - b(x)); v tracks the variance of l - b(x) - c.
    a = self.decay
    residual = centred + self.signal_mean  # l - b(x)
    new_mean = a * self.signal_mean + (1.0 - a) * tf.reduce_mean(residual)
    self.signal_var.assign(a * self.signal_var + (1.0 - a) * tf.reduce_mean(tf.square(centred)))
    self.signal_mean.assign(new_mean)
    return self._update_metrics(losses)
