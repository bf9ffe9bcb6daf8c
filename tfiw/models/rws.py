"""Reweighted wake-sleep (Bornschein & Bengio 2015; Le et al. 2019), and the plumbing
shared by the EM family (RWS, REM): sampling without pathwise gradients and the ``kl``
and ``sigma_q`` metrics (scoring fixed samples under q, ``log_recognition``, and dreaming
(x, z) from the model, ``dream``, are the base model's).

θ and φ take separate gradients of separate losses (``tfiw.rem``); the base class's
``train_step`` differentiates ``model_loss`` w.r.t. θ and ``inference_loss`` w.r.t. φ.
"""
import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import distributions as dists
from tfiw import rem as em
from tfiw.models.base import LatentVariableModel


class ReweightedModel(LatentVariableModel):
  """Base of the EM family: score-type updates on samples held constant, plus ``kl``.

  ``kl`` is KL(q(z|x) || p(z)), the proposal-quality measure of Dieng & Paisley (2019,
  Fig. 2): in closed form for one stochastic layer, else a Monte Carlo estimate over the
  K samples, mean_k [log q(z_k|x) - log p(z_k)]. ``sigma_q`` is the median over units of
  q(z_1|x)'s standard deviation, averaged over examples: together with ``kl`` and ``ess``
  it shows a recognition network collapsing onto a too-narrow proposal (REM with a
  degenerate weighted covariance, docs/em_family.md).
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.kl_tracker = keras.metrics.Mean(name="kl")
    self.sigma_q_tracker = keras.metrics.Mean(name="sigma_q")

  @property
  def metrics(self):
    return super().metrics + [self.kl_tracker, self.sigma_q_tracker]

  def _update_metrics(self, losses):
    self.kl_tracker.update_state(losses.kl)
    self.sigma_q_tracker.update_state(losses.sigma_q)
    return super()._update_metrics(losses)

  # ---- sampling and scoring with the samples held constant -------------------
  def sample_recognition(self, x, num_samples, seed):
    """K samples z ~ q(z|x), stop-gradiented, scored under q with φ's gradient.

    Returns (zs, log_q, kl, sigma_q): zs per layer [K, B, Z_l] bottom first, log q(z|x)
    [K, B], KL(q(z|x) || p(z)) [B] and the median over units of q(z_1|x)'s standard
    deviation [B] (the last two held constant: metrics).
    """
    self.build()
    x = tf.cast(x, tf.float32)
    seeds = tfp.random.split_seed(seed, len(self.latent_dims))
    h, zs, log_q = x, [], 0.0
    for l, block in enumerate(self.encoder_blocks):
      loc, scale = self._gaussian(block, h)
      if l == 0:
        loc1, scale1 = loc, scale
      q = dists.diag_gaussian(loc, scale)
      # No pathwise gradient: RWS/REM are score-type updates on fixed samples.
      z = tf.stop_gradient(
          dists.sample_gaussian(loc, scale, num_samples if l == 0 else (), seeds[l]))
      log_q += q.log_prob(z)
      zs.append(z)
      h = z
    if len(zs) == 1:
      kl = em.kl_diag_gaussian_to_standard_normal(loc1, scale1)
    else:
      kl = tf.reduce_mean(log_q - self.log_prior(zs), axis=0)
    sigma_q = tf.stop_gradient(em.median_last_axis(scale1))
    return tuple(zs), log_q, tf.stop_gradient(kl), sigma_q


@keras.saving.register_keras_serializable("tfiw")
class RWS(ReweightedModel):
  """Reweighted wake-sleep.

  θ (wake-θ): Σ_k w̃_k ∇θ log p(x, z_k), z_k ~ q(z|x), w̃ self-normalised weights.
  φ, chosen by ``phi_update``:
    "wake_phi":  Σ_k w̃_k ∇φ log q(z_k|x) — the wake-φ update, a self-normalised estimate
                 of -∇φ KL(p(z|x) || q(z|x)) (Bornschein & Bengio 2015, Le et al. 2019);
    "sleep_phi": ∇φ log q(z|x) at (x, z) ~ p(x, z) dreamed from the model, one dream per
                 example in the batch (the wake-sleep algorithm's sleep phase);
    "mixed":     the mean of the two (Bornschein & Bengio's recommended combination).
  The reported ``loss``/``bound`` is the K-sample IWAE bound of q's samples.
  """

  def __init__(self, *args, phi_update="wake_phi", **kwargs):
    super().__init__(*args, **kwargs)
    if phi_update not in em.PHI_UPDATES:
      raise ValueError(f"phi_update must be one of {em.PHI_UPDATES}, got {phi_update!r}")
    self.phi_update = phi_update

  def get_config(self):
    return {**super().get_config(), "phi_update": self.phi_update}

  def compute_losses(self, x, seed):
    x = tf.cast(x, tf.float32)
    wake_seed, sleep_seed = tfp.random.split_seed(seed, 2)
    zs, log_q, kl, sigma_q = self.sample_recognition(x, self.num_samples, wake_seed)
    log_p = self.log_joint(x, zs)
    sleep_log_q = None
    if self.phi_update != "wake_phi":
      x_dream, z_dream = self.dream(tf.shape(x)[0], sleep_seed)
      sleep_log_q = self.log_recognition(x_dream, z_dream)
    losses = em.rws(log_p, log_q, sleep_log_q, self.phi_update)
    return em.EMLosses(*losses, kl=kl, sigma_q=sigma_q)
