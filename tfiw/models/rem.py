"""Reweighted expectation maximization, REM v1 and v2 (Dieng & Paisley 2019)."""
import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import bounds, rem as em
from tfiw.models.rws import ReweightedModel


@keras.saving.register_keras_serializable("tfiw")
class REM(ReweightedModel):
  """Reweighted EM (Dieng & Paisley 2019, Algorithm 1 for ``version=1``, 2 for ``version=2``).

  Each step, per example:
    1. z_k ~ q_φ(z|x), k = 1..K, weights α ∝ p_θ(x, z_k) / q_φ(z_k|x);
    2. s(z) = N(μ, Σ) by moment matching with α (eqs. 22-23, ε on the diagonal;
       ``tfiw.rem.moment_match``), a full-covariance Gaussian (Cholesky factor);
    3. z'_k ~ s(z), weights β ∝ p_θ(x, z'_k) / s(z'_k);
    4. φ follows Σ_k β_k ∇φ log q_φ(z'_k|x) (inclusive KL(p(z|x) || q), eq. 14);
       θ follows Σ_k α_k ∇θ log p_θ(x, z_k) (v1, = IWAE's θ gradient, eq. 9) or
       Σ_k β_k ∇θ log p_θ(x, z'_k) (v2, eq. 24).
  No gradient flows through any sample or through s. The reported bound is the IWAE
  bound of step 1's samples; ``ess`` is theirs too.

  With several stochastic layers, s(z) is one full-covariance Gaussian over the whole
  latent vector (z_1, ..., z_L) concatenated; its samples are split back into layers and
  scored under the hierarchical p(x, z) and q(z|x). (The paper uses one layer.)

  This is Algorithms 1 and 2 as printed. The authors' released code differs (see
  docs/em_family.md): its v1 encoder also receives -Σ_k α_k ∇_z log p(x, z_k) ∂z_k/∂φ
  through reparameterised z_k, and it uses the "sample" covariance with ε=1e-6.

  Args:
    version: 1 or 2.
    cov_epsilon: ε added to the diagonal of Σ. The default 0.1 is measured, not the
      paper's (unstated) or the released code's (1e-6): smaller ε collapses the
      recognition network when the weights are degenerate (``tfiw.rem.moment_match``).
    covariance: "weighted" (eq. 22, Algorithm 1) or "sample" (1/(K-1) times the
      unweighted sum of eq. 23 around μ, as in the authors' released code).
  """

  def __init__(self, *args, version=1, cov_epsilon=0.1, covariance="weighted", **kwargs):
    super().__init__(*args, **kwargs)
    if int(version) not in (1, 2):
      raise ValueError(f"REM version must be 1 or 2, got {version!r}")
    if covariance not in em.COVARIANCES:
      raise ValueError(f"covariance must be one of {em.COVARIANCES}, got {covariance!r}")
    if not float(cov_epsilon) > 0:
      raise ValueError(f"cov_epsilon must be > 0 so Σ is positive definite, got {cov_epsilon}")
    self.version = int(version)
    self.cov_epsilon = float(cov_epsilon)
    self.covariance = covariance
    self.ess_s_tracker = keras.metrics.Mean(name="ess_s")

  @property
  def metrics(self):
    return super().metrics + [self.ess_s_tracker]

  def _update_metrics(self, losses):
    self.ess_s_tracker.update_state(losses.ess_s)
    return super()._update_metrics(losses)

  def get_config(self):
    return {**super().get_config(), "version": self.version,
            "cov_epsilon": self.cov_epsilon, "covariance": self.covariance}

  def compute_losses(self, x, seed):
    x = tf.cast(x, tf.float32)
    q_seed, s_seed = tfp.random.split_seed(seed, 2)
    k = self.num_samples
    zs, log_q, kl, sigma_q = self.sample_recognition(x, k, q_seed)
    log_p = self.log_joint(x, zs)
    # Hyperproposal over the whole latent vector, fixed given (θ_t, φ_t).
    loc, scale_tril = em.moment_match(tf.concat(zs, -1), log_p - log_q, self.cov_epsilon,
                                      self.covariance)
    s = em.hyperproposal(loc, scale_tril)
    z_s = tf.stop_gradient(em.sample_hyperproposal(loc, scale_tril, k, s_seed))  # [K, B, ΣZ_l]
    log_s = s.log_prob(z_s)
    zs_s = tuple(tf.split(z_s, self.latent_dims, axis=-1))
    log_p_s = self.log_joint(x, zs_s)
    if self.version == 1:  # θ does not see s's samples; they only weight φ's update
      log_p_s = tf.stop_gradient(log_p_s)
    log_r_s = self.log_recognition(x, zs_s)
    losses = em.rem(log_p, log_q, log_p_s, log_s, log_r_s, self.version)
    ess_s = tf.stop_gradient(bounds.effective_sample_size(log_p_s - log_s))
    return em.REMLosses(*losses, kl=kl, sigma_q=sigma_q, ess_s=ess_s)
