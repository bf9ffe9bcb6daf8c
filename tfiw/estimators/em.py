"""The EM family: reweighted wake-sleep and reweighted EM as estimators. θ and φ take
separate gradients of separate losses on samples held constant (no pathwise gradient);
the math is in ``tfiw.rem``.

Metrics beyond "ess": ``kl`` = KL(q(z|x) || p(z)), the proposal-quality measure of Dieng
& Paisley (2019, Fig. 2), closed form for one Gaussian layer, else the Monte Carlo
estimate mean_k [log q(z_k|x) - log p(z_k)] over the K samples; ``sigma_q`` = the median
over units of q(z_1|x)'s standard deviation, averaged over examples. Together with
``ess`` they show a recognition network collapsing onto a too-narrow proposal (REM with
a degenerate weighted covariance, docs/em_family.md).
"""
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import bounds, distributions as dists, rem as em
from tfiw.estimators.base import Estimator
from tfiw.losses import Step


def _constant_samples(model, x, seed):
  """LogWeights of K samples held constant, and the kl and sigma_q metrics."""
  lw = model.log_weights(x, model.num_samples, seed, reparameterize=False)
  mean, std = lw.q_moments
  if len(lw.zs) == 1 and model.latents.reparameterizable:
    kl = tf.reduce_sum(dists.kl_to_normal(mean, std), -1)
  else:
    kl = tf.reduce_mean(lw.log_q - model.log_prior(lw.zs), axis=0)
  return lw, {"kl": tf.stop_gradient(kl), "sigma_q": em.median_last_axis(std)}


class RWS(Estimator):
  """Reweighted wake-sleep (Bornschein & Bengio 2015; Le et al. 2019).

  θ (wake-θ): Σ_k w̃_k ∇θ log p(x, z_k), z_k ~ q(z|x). φ, by ``phi_update``:
    "wake_phi":  Σ_k w̃_k ∇φ log q(z_k|x), a self-normalised estimate of
                 -∇φ KL(p(z|x) || q(z|x));
    "sleep_phi": ∇φ log q(z|x) at (x, z) ~ p(x, z) dreamed from the model, one dream per
                 example in the batch (the wake-sleep algorithm's sleep phase);
    "mixed":     the mean of the two (Bornschein & Bengio's recommended combination).
  The reported bound is the K-sample IWAE bound of q's samples.
  """
  name = "rws"
  families = ("gaussian", "bernoulli")
  objectives = ("iwae",)
  OPTIONS = {"phi_update": "wake_phi"}
  metric_names = ("kl", "sigma_q")

  def __init__(self, **options):
    super().__init__(**options)
    if self.options["phi_update"] not in em.PHI_UPDATES:
      raise ValueError(f"phi_update must be one of {em.PHI_UPDATES}, got "
                       f"{self.options['phi_update']!r}")

  def losses(self, model, x, seed):
    wake_seed, sleep_seed = tfp.random.split_seed(seed, 2)
    lw, metrics = _constant_samples(model, x, wake_seed)
    sleep_log_q = None
    phi_update = self.options["phi_update"]
    if phi_update != "wake_phi":
      x_dream, z_dream = model.dream(tf.shape(x)[0], sleep_seed)
      sleep_log_q = model.log_recognition(x_dream, z_dream)
    return Step.of(em.rws(lw.log_p, lw.log_q, sleep_log_q, phi_update), **metrics)


class REM(Estimator):
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
  bound of step 1's samples; ``ess`` is theirs too, ``ess_s`` that of the β weights.

  With several stochastic layers, s(z) is one full-covariance Gaussian over the whole
  latent vector (z_1, ..., z_L) concatenated; its samples are split back into layers and
  scored under the hierarchical p(x, z) and q(z|x). (The paper uses one layer.)

  This is Algorithms 1 and 2 as printed. The authors' released code differs (see
  docs/em_family.md): its v1 encoder also receives -Σ_k α_k ∇_z log p(x, z_k) ∂z_k/∂φ
  through reparameterised z_k, and it uses the "sample" covariance with ε=1e-6.

  Options:
    version: 1 or 2.
    cov_epsilon: ε added to the diagonal of Σ. The default 0.1 is measured, not the
      paper's (unstated) or the released code's (1e-6): smaller ε collapses the
      recognition network when the weights are degenerate (``tfiw.rem.moment_match``).
    covariance: "weighted" (eq. 22, Algorithm 1) or "sample" (1/(K-1) times the
      unweighted sum of eq. 23 around μ, as in the authors' released code).
  """
  name = "rem"
  families = ("gaussian",)
  objectives = ("iwae",)
  OPTIONS = {"version": 1, "cov_epsilon": 0.1, "covariance": "weighted"}
  metric_names = ("kl", "sigma_q", "ess_s")

  def __init__(self, **options):
    super().__init__(**options)
    o = self.options
    if o["version"] not in (1, 2):
      raise ValueError(f"REM version must be 1 or 2, got {o['version']!r}")
    if o["covariance"] not in em.COVARIANCES:
      raise ValueError(f"covariance must be one of {em.COVARIANCES}, got {o['covariance']!r}")
    if not float(o["cov_epsilon"]) > 0:
      raise ValueError(f"cov_epsilon must be > 0 so Σ is positive definite, got "
                       f"{o['cov_epsilon']}")
    o["version"], o["cov_epsilon"] = int(o["version"]), float(o["cov_epsilon"])

  def losses(self, model, x, seed):
    q_seed, s_seed = tfp.random.split_seed(seed, 2)
    k, o = model.num_samples, self.options
    lw, metrics = _constant_samples(model, x, q_seed)
    # Hyperproposal over the whole latent vector, fixed given (θ_t, φ_t).
    loc, scale_tril = em.moment_match(tf.concat(lw.zs, -1), lw.log_w, o["cov_epsilon"],
                                      o["covariance"])
    s = em.hyperproposal(loc, scale_tril)
    z_s = tf.stop_gradient(em.sample_hyperproposal(loc, scale_tril, k, s_seed))  # [K, B, ΣZ]
    log_s = s.log_prob(z_s)
    zs_s = tuple(tf.split(z_s, model.latent_dims, axis=-1))
    log_p_s = model.log_joint(x, zs_s)
    if o["version"] == 1:  # θ does not see s's samples; they only weight φ's update
      log_p_s = tf.stop_gradient(log_p_s)
    log_r_s = model.log_recognition(x, zs_s)
    losses = em.rem(lw.log_p, lw.log_q, log_p_s, log_s, log_r_s, o["version"])
    ess_s = tf.stop_gradient(bounds.effective_sample_size(log_p_s - log_s))
    return Step.of(losses, ess_s=ess_s, **metrics)
