"""The EM family's math: reweighted wake-sleep and reweighted EM, as pure functions.

Conventions as in ``tfiw.bounds``: the sample axis comes first, log-weights are
``[K, B]``, samples ``[K, B, Z]``. No Keras, no state. The rws and rem estimators
(``tfiw/estimators/em.py``) do the sampling and call these.

Every loss here is a *zero-valued surrogate* (``tfiw.losses`` convention): its value is
``-mean(bound)`` (so the reported ``loss`` stays the negative IWAE bound) and its gradient
is the method's, ``value + (s - stop_gradient(s))``.

References:
  Bornschein & Bengio (2015), "Reweighted wake-sleep", ICLR.
  Le, Kosiorek, Siddharth, Teh & Wood (2019), "Revisiting reweighted wake-sleep for models
    with stochastic control flow", UAI (wake-φ, sleep-φ).
  Dieng & Paisley (2019), "Reweighted expectation maximization", arXiv:1906.05850
    (REM v1, Algorithm 1; REM v2, Algorithm 2; equation numbers below are theirs).
"""
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import bounds, distributions as dists
from tfiw.losses import Losses, zero_valued as surrogate

tfd = tfp.distributions

COVARIANCES = ("weighted", "sample")


def reweighted_nll(log_weights, log_density):
  """-(1/B) Σ_b Σ_k w̃_kb log f(z_kb), w̃ = softmax_k(log_weights), weights held constant.

  Its gradient is minus the self-normalised importance-sampling estimate of
  E_{p(z|x)}[∇ log f(z)]: with f = p_θ(x, z) this is RWS's wake-θ update and IWAE's θ
  gradient (REM eq. 9); with f = q_φ(z|x) and z held constant it is the wake-φ update,
  an estimate of ∇φ KL(p(z|x) || q_φ(z|x)) (Le et al. 2019); with REM's weights β it is
  REM's φ update (eq. 14) or REM v2's θ update (eq. 24).
  Returns a scalar.
  """
  w = tf.stop_gradient(bounds.normalized_weights(log_weights))
  return -tf.reduce_mean(tf.reduce_sum(w * log_density, axis=0))


def moment_match(z, log_w, epsilon=0.1, covariance="weighted"):
  """REM's hyperproposal s(z) = N(μ, Σ), fitted per example by moment matching.

  With α = softmax_k(log w) the self-normalised weights of K samples z_k ~ q(z|x):
    μ = Σ_k α_k z_k                                                      (eq. 22)
    Σ = Σ_k α_k (z_k - μ)(z_k - μ)^T + ε I        covariance="weighted" (eq. 22, Alg. 1)
    Σ = 1/(K-1) Σ_k (z_k - μ)(z_k - μ)^T + ε I    covariance="sample"   (the authors'
                                                   released code, ``outer.mean(0) * S/(S-1)``
                                                   with ε=1e-6; eq. 23 as printed is the
                                                   same unweighted sum without the 1/(K-1))
  The weighted form is a consistent estimate of the posterior covariance; it has rank
  ≤ min(K - 1, Z), so ε > 0 keeps Σ positive definite when K is small relative to the latent
  dimension (the paper's remedy). Everything is held constant: s has no free parameters.

  ε is not only a ridge. With few samples the weights are degenerate (ESS of 1.1-1.5 at
  K=10 on MNIST) and the weighted Σ is ≈ 0 (exactly 0 for one-hot α), so s ≈ N(μ, εI):
  REM's inclusive-KL φ-update then pulls q's variances toward ≈ ε, a narrower q gives
  narrower s, and the recognition network collapses for small ε (ε=1e-3: KL(q||p(z)) 74
  nats, test log p(x) 45 nats below IWAE's after 1,000 steps), while a large ε inflates q
  (ε=1: σ_q > 1). ε=0.1 matched IWAE there and kept KL and σ_q flat over 10,000 steps
  (docs/em_family.md has the measurements).

  Args:
    z: [K, B, Z] samples from the recognition model.
    log_w: [K, B] their log importance weights log p(x, z) - log q(z|x).
    epsilon: ridge added to the diagonal of Σ.
    covariance: "weighted" or "sample".
  Returns:
    (loc [B, Z], scale_tril [B, Z, Z]) with scale_tril the Cholesky factor of Σ.
  """
  if covariance not in COVARIANCES:
    raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
  dtype = z.dtype
  # float64: with K ≤ Z, Σ is rank-deficient and Σ + εI has condition number ~ 1/ε; at the
  # authors' ε=1e-6 float32's Cholesky fails (NaN) once q's scales are O(1), as at init.
  z = tf.cast(tf.stop_gradient(z), tf.float64)
  alpha = bounds.normalized_weights(tf.cast(tf.stop_gradient(log_w), tf.float64))[..., None]
  loc = tf.reduce_sum(alpha * z, axis=0)                               # [B, Z]
  d = z - loc
  if covariance == "weighted":
    cov = tf.einsum("kbi,kbj->bij", alpha * d, d)
  else:
    k = tf.cast(tf.shape(z)[0], tf.float64)
    cov = tf.einsum("kbi,kbj->bij", d, d) / tf.maximum(k - 1.0, 1.0)
  cov += epsilon * tf.eye(tf.shape(z)[-1], dtype=tf.float64)
  return tf.cast(loc, dtype), tf.cast(tf.linalg.cholesky(cov), dtype)


def hyperproposal(loc, scale_tril):
  """s(z) as a batch [B] of full-covariance Gaussians over [Z] (Cholesky-parameterised)."""
  return tfd.MultivariateNormalTriL(loc=loc, scale_tril=scale_tril)


def sample_hyperproposal(loc, scale_tril, num_samples, seed):
  """z = loc + L ε, ε ~ N(0, I): [K, B, Z] draws from ``hyperproposal(loc, scale_tril)``
  (its ``.sample`` up to rounding; through ``dists.normal_noise`` for XLA speed)."""
  eps = dists.normal_noise(dists.draw_shape(num_samples, tf.shape(loc)), seed, loc.dtype)
  return loc + tf.linalg.matvec(scale_tril, eps)


def median_last_axis(t):
  """Median over the last axis (static size n; the mean of the two middle values for even
  n), by a sort, so it compiles under XLA: [..., n] -> [...]."""
  n = t.shape[-1]
  s = tf.sort(t, axis=-1)
  return 0.5 * (s[..., (n - 1) // 2] + s[..., n // 2])


PHI_UPDATES = ("wake_phi", "sleep_phi", "mixed")


def rws(log_p, log_q, sleep_log_q=None, phi_update="wake_phi"):
  """Reweighted wake-sleep losses (Bornschein & Bengio 2015; Le et al. 2019).

  Args:
    log_p: [K, B] log p_θ(x, z_k) at samples z_k ~ q(z|x) held constant (no pathwise
      gradient: the samples are stop-gradiented before scoring).
    log_q: [K, B] log q_φ(z_k | x) at the same constant samples.
    sleep_log_q: [N] log q_φ(z_n | x_n) at pairs (x_n, z_n) ~ p_θ(x, z) dreamed from the
      model and held constant; needed for phi_update "sleep_phi" and "mixed".
    phi_update: "wake_phi":  ∇φ ≈ -Σ_k w̃_k ∇φ log q(z_k|x) (inclusive KL(p(z|x)||q));
      "sleep_phi": ∇φ ≈ -(1/N) Σ_n ∇φ log q(z_n|x_n) (KL(p(z|x)||q) averaged over p(x));
      "mixed": the mean of the two.
  Returns:
    ``tfiw.losses.Losses``: θ follows Σ_k w̃_k ∇θ log p(x, z_k) (wake-θ, the IWAE θ
    gradient); both losses are valued at -mean(IWAE bound).
  """
  if phi_update not in PHI_UPDATES:
    raise ValueError(f"phi_update must be one of {PHI_UPDATES}, got {phi_update!r}")
  log_w = log_p - log_q
  bound = bounds.iwae_bound(log_w)
  value = -tf.reduce_mean(bound)
  wake = lambda: reweighted_nll(log_w, log_q)
  sleep = lambda: -tf.reduce_mean(sleep_log_q)
  phi = {"wake_phi": wake, "sleep_phi": sleep,
         "mixed": lambda: 0.5 * (wake() + sleep())}[phi_update]()
  return Losses(surrogate(value, reweighted_nll(log_w, log_p)), surrogate(value, phi),
                bound, bounds.effective_sample_size(log_w))


def rem(log_p, log_q, log_p_s, log_s, log_r_s, version=1):
  """Reweighted EM losses (Dieng & Paisley 2019, Algorithms 1 and 2).

  Args:
    log_p, log_q: [K, B] log p_θ(x, z_k), log q_φ(z_k|x) at constant z_k ~ q(z|x);
      log w = log_p - log_q gives the weights α (eq. 9) and the reported bound.
    log_p_s, log_s, log_r_s: [K, B] log p_θ(x, z'_k), log s(z'_k), log q_φ(z'_k|x) at
      constant z'_k ~ s(z), the moment-matched hyperproposal; log v = log_p_s - log_s
      gives the weights β (eq. 14).
    version: 1 — θ follows Σ_k α_k ∇θ log p(x, z_k)  (IWAE's θ gradient, eq. 9);
             2 — θ follows Σ_k β_k ∇θ log p(x, z'_k) (eq. 24).
      Both: φ follows Σ_k β_k ∇φ log q(z'_k|x), the inclusive-KL gradient (eq. 14).
  Returns:
    ``tfiw.losses.Losses`` with the IWAE bound of the recognition model's samples and
    their ESS.
  """
  if version not in (1, 2):
    raise ValueError(f"REM version must be 1 or 2, got {version!r}")
  log_w, log_v = log_p - log_q, log_p_s - log_s
  bound = bounds.iwae_bound(log_w)
  value = -tf.reduce_mean(bound)
  theta = reweighted_nll(log_w, log_p) if version == 1 else reweighted_nll(log_v, log_p_s)
  return Losses(surrogate(value, theta), surrogate(value, reweighted_nll(log_v, log_r_s)),
                bound, bounds.effective_sample_size(log_w))
