"""The EM family (RWS, REM v1/v2): closed forms on the linear-Gaussian model, XLA fit, zoo run."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import distributions as dists
from tfiw import rem as em
from tfiw import METHODS
from tfiw.models import IWAE, REM, RWS
from tfiw.testing import DeepLinearGaussian, LinearGaussian, tiny_binary_data

tfd = tfp.distributions


def _correlated_linear_gaussian(seed=0):
  """A LinearGaussian whose W has non-orthogonal columns, so p(z|x) has full covariance."""
  lgm = LinearGaussian(data_dim=6, latent_dim=3, sigma=0.7, seed=seed)
  rng = np.random.default_rng(seed + 10)
  lgm.W = rng.normal(size=(6, 3))
  lgm.post_cov = np.linalg.inv(np.eye(3) + lgm.W.T @ lgm.W / lgm.sigma**2)
  lgm.A = lgm.W @ lgm.post_cov / lgm.sigma**2
  lgm.c = -lgm.b @ lgm.A
  return lgm


def test_moment_matching_recovers_exact_posterior_with_large_k():
  lgm = _correlated_linear_gaussian()
  assert np.max(np.abs(lgm.post_cov - np.diag(np.diag(lgm.post_cov)))) > 0.02  # really full
  x = lgm.sample(4)
  mean, _ = lgm.posterior(x)
  # Proposal: diagonal, shifted by 0.3 and 1.5x wider than the posterior's marginals.
  q = dists.diag_gaussian(tf.constant(mean + 0.3), tf.constant(
      1.5 * np.sqrt(np.diag(lgm.post_cov)) * np.ones_like(mean)))
  z = q.sample(200_000, seed=tf.constant([3, 4]))
  log_w = lgm.log_joint(x, z) - q.log_prob(z)
  eps = 1e-6
  loc, tril = em.moment_match(z, log_w, epsilon=eps)
  cov = (tril @ tf.linalg.matrix_transpose(tril)).numpy() - eps * np.eye(3)
  # Self-normalised IS with ESS of tens of thousands: Monte Carlo error ~ 1e-3 here.
  np.testing.assert_allclose(loc.numpy(), mean, atol=0.01)
  np.testing.assert_allclose(cov, np.broadcast_to(lgm.post_cov, cov.shape), atol=0.01)
  # The unweighted "sample" covariance is q's (wider) covariance instead: it must not match.
  _, tril_s = em.moment_match(z, log_w, epsilon=eps, covariance="sample")
  cov_s = (tril_s @ tf.linalg.matrix_transpose(tril_s)).numpy()
  assert np.max(np.abs(cov_s - lgm.post_cov)) > 0.05
  # ε keeps Σ positive definite when K is smaller than the latent dimension.
  _, tril_small = em.moment_match(z[:2], log_w[:2], epsilon=1e-3)
  assert np.all(np.isfinite(tril_small.numpy()))
  assert np.all(np.diagonal(tril_small.numpy(), axis1=-2, axis2=-1) > 0)


def test_moment_matching_equals_its_formulas():
  rng = np.random.default_rng(1)
  k, b, zdim, eps = 7, 5, 3, 0.05
  z = rng.normal(size=(k, b, zdim)) * [0.5, 1.0, 2.0] + 0.3
  log_w = 2.0 * rng.normal(size=(k, b))
  alpha = np.exp(log_w - log_w.max(0))
  alpha /= alpha.sum(0)
  mu = np.einsum("kb,kbi->bi", alpha, z)
  d = z - mu
  expected = {"weighted": np.einsum("kb,kbi,kbj->bij", alpha, d, d),   # eq. 22
              "sample": np.einsum("kbi,kbj->bij", d, d) / (k - 1)}    # eq. 23, released code
  for cov, sigma in expected.items():
    loc, tril = em.moment_match(tf.constant(z, tf.float32), tf.constant(log_w, tf.float32),
                                epsilon=eps, covariance=cov)
    tril = tril.numpy().astype(np.float64)
    np.testing.assert_allclose(loc.numpy(), mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tril @ np.swapaxes(tril, -1, -2), sigma + eps * np.eye(zdim),
                               rtol=1e-4, atol=1e-5, err_msg=cov)
    assert np.all(np.triu(tril, 1) == 0) and np.all(np.diagonal(tril, 0, -2, -1) > 0)
  # One dominant weight (ESS → 1, as early in training): the weighted Σ shrinks to εI —
  # the mechanism that collapses REM's recognition network with a small ε.
  one_hot = np.where(np.arange(k)[:, None] == 0, 0.0, -1e4) * np.ones((k, b))
  _, tril = em.moment_match(tf.constant(z, tf.float32), tf.constant(one_hot, tf.float32),
                            epsilon=eps)
  np.testing.assert_allclose((tril @ tf.linalg.matrix_transpose(tril)).numpy(),
                             np.broadcast_to(eps * np.eye(zdim), (b, zdim, zdim)), atol=1e-6)
  # ε = 1e-6 with K < Z and unit-scale samples (the released code's ridge at q's
  # initial scale): Σ + εI is still factorised (float64), not NaN.
  z_big = rng.normal(size=(10, 4, 50))
  _, tril = em.moment_match(tf.constant(z_big, tf.float32), tf.zeros([10, 4]), 1e-6, "sample")
  assert np.all(np.isfinite(tril.numpy()))


def test_sample_covariance_is_unbiased_with_equal_weights():
  # Equal weights make μ the sample mean, so Σ_k (z_k - μ)(z_k - μ)^T / (K - 1) is an
  # unbiased estimate of q's covariance, here diag(0.25, 1, 4) (the K bias would be 4/5).
  rng = np.random.default_rng(2)
  k, b = 5, 40_000
  scale = np.array([0.5, 1.0, 2.0])
  z = tf.constant(rng.normal(size=(k, b, 3)) * scale, tf.float32)
  _, tril = em.moment_match(z, tf.zeros([k, b]), epsilon=1e-9, covariance="sample")
  cov = (tril @ tf.linalg.matrix_transpose(tril)).numpy()
  mean_cov = cov.mean(0)
  # Standard error of each entry's mean over b examples: sqrt(Var)/sqrt(b), Var ≤ 2 σ_i² σ_j².
  se = np.sqrt(2.0 / (k - 1) * np.outer(scale**2, scale**2) / b)
  assert np.all(np.abs(mean_cov - np.diag(scale**2)) < 5 * se), (mean_cov, se)


class _LinearReference:
  """An independent float64 re-implementation of a ``hidden=[]`` Gaussian-likelihood model.

  Every conditional is one linear Gaussian head, N(h K + b, s(h R + r)) with
  s = softplus + MIN_SCALE: q(z_1|x), q(z_l|z_{l-1}); p(x|z_1), p(z_l|z_{l+1}), p(z_L) = N(0, I).
  The parameters are float64 copies of the model's, so gradients of a formula's loss here
  are that formula's value for the model (with no model code involved). Latents are lists
  per layer, bottom first.
  """

  def __init__(self, model):
    ends = ["loc/kernel", "loc/bias", "raw_scale/kernel", "raw_scale/bias"]
    copy = lambda block: [tf.Variable(v.numpy().astype(np.float64))
                          for v in block.trainable_variables]
    for block in model.decoder_blocks + model.encoder_blocks:
      assert [v.path.split("/", 3)[-1] for v in block.trainable_variables] == ends
    self.theta = [copy(b) for b in model.decoder_blocks]   # p(x|z_1), p(z_1|z_2), ...
    self.phi = [copy(b) for b in model.encoder_blocks]     # q(z_1|x), q(z_2|z_1), ...

  @staticmethod
  def _normal(x, loc, scale):
    loc, scale = tf.cast(loc, x.dtype), tf.cast(scale, x.dtype)
    return tf.reduce_sum(-0.5 * tf.square((x - loc) / scale) - tf.math.log(scale)
                         - 0.5 * np.log(2 * np.pi), -1)

  @staticmethod
  def _head(h, params):
    kernel, bias, raw_kernel, raw_bias = params
    return h @ kernel + bias, tf.nn.softplus(h @ raw_kernel + raw_bias) + dists.MIN_SCALE

  def log_joint(self, x, zs):
    out = self._normal(zs[-1], 0.0, 1.0) + self._normal(x, *self._head(zs[0], self.theta[0]))
    for l in range(1, len(zs)):
      out += self._normal(zs[l - 1], *self._head(zs[l], self.theta[l]))
    return out

  def log_q(self, x, zs):
    h, out = x, 0.0
    for z, params in zip(zs, self.phi):
      out += self._normal(z, *self._head(h, params))
      h = z
    return out

  def grads(self, theta_loss, phi_loss):
    """(∇θ theta_loss(), ∇φ phi_loss()) as flat numpy lists in the models' variable order."""
    theta, phi = sum(self.theta, []), sum(self.phi, [])
    with tf.GradientTape(persistent=True) as tape:
      lt, lp = theta_loss(), phi_loss()
    return ([g.numpy() for g in tape.gradient(lt, theta)],
            [g.numpy() for g in tape.gradient(lp, phi)])


def _softmax0(log_w):
  return tf.nn.softmax(log_w, axis=0)


def _recorder(monkeypatch, obj, name):
  """Wrap obj.name so that every call's output is appended to the returned list."""
  calls, fn = [], getattr(obj, name)

  def spy(*args, **kwargs):
    out = fn(*args, **kwargs)
    calls.append(out)
    return out

  monkeypatch.setattr(obj, name, spy)
  return calls


def _model_grads(model, x, seed):
  """(∇θ model_loss, ∇φ inference_loss, losses) of one eager compute_losses call."""
  with tf.GradientTape(persistent=True) as tape:
    losses = model.compute_losses(x, seed)
  return ([g.numpy() for g in tape.gradient(losses.model_loss, model.model_variables)],
          [g.numpy() for g in tape.gradient(losses.inference_loss, model.inference_variables)],
          losses)


def _assert_grads_close(actual, expected, what):
  assert len(actual) == len(expected)
  for a, e in zip(actual, expected):
    scale = np.abs(e).max()
    np.testing.assert_allclose(a, e, rtol=2e-3, atol=2e-3 * scale + 1e-6, err_msg=what)


def _linear_model(method_cls, layers, **kwargs):
  """(oracle, model, x): a model with linear networks whose q is shifted and widened from
  the exact posterior; one layer with a full-covariance posterior, or two layers."""
  oracle = _correlated_linear_gaussian() if layers == 1 else DeepLinearGaussian()
  model = oracle.keras_model(method_cls, q_loc_shift=0.3, q_scale_factor=1.5, **kwargs)
  return oracle, model, oracle.sample(6, seed=3).astype(np.float32)


@pytest.mark.parametrize("version,covariance,layers", [
    (1, "weighted", 1), (1, "sample", 1), (2, "weighted", 1), (2, "sample", 1),
    (1, "weighted", 2), (2, "sample", 2)])
def test_rem_updates_equal_their_formulas(version, covariance, layers, monkeypatch):
  """REM's θ- and φ-gradients against Algorithms 1/2 recomputed in float64 from the draws.

  From q's samples z_k (recorded) and the standard-normal noise ε_k behind s's samples
  (recorded), the reference recomputes α, s = N(μ, Σ) (eqs. 22/23 + εI; over the
  concatenated layers with two), z'_k = μ + L ε_k, β ∝ p(x, z'_k) / s(z'_k) and the
  gradients of
    θ: v1 -Σ_k α_k log p(x, z_k) (eq. 9);  v2 -Σ_k β_k log p(x, z'_k) (eq. 24),
    φ: -Σ_k β_k log q(z'_k | x) (eq. 14),  each averaged over the batch.
  """
  k, eps = 8, 0.05
  oracle, model, x = _linear_model(REM, layers, num_samples=k, version=version,
                                   covariance=covariance, cov_epsilon=eps)
  q_draws = _recorder(monkeypatch, dists, "sample_gaussian")
  noise = _recorder(monkeypatch, dists, "normal_noise")
  g_theta, g_phi, losses = _model_grads(model, x, tf.constant([4, 2]))
  assert len(q_draws) == layers
  ref = _LinearReference(model)
  x64 = tf.constant(x, tf.float64)
  zs = [tf.constant(z.numpy(), tf.float64) for z in q_draws]     # [K, B, Z_l] from q
  z = tf.concat(zs, -1)
  dim = z.shape[-1]
  eps_s = tf.constant(noise[-1].numpy(), tf.float64)             # s's noise, drawn last
  log_w = ref.log_joint(x64, zs) - ref.log_q(x64, zs)
  alpha = tf.stop_gradient(_softmax0(log_w))
  mu = tf.einsum("kb,kbi->bi", alpha, z)
  d = z - mu
  sigma = (tf.einsum("kb,kbi,kbj->bij", alpha, d, d) if covariance == "weighted"
           else tf.einsum("kbi,kbj->bij", d, d) / (k - 1)) + eps * tf.eye(dim, dtype=tf.float64)
  chol = tf.stop_gradient(tf.linalg.cholesky(sigma))
  z_s = tf.stop_gradient(mu + tf.einsum("bij,kbj->kbi", chol, eps_s))
  zs_s = tf.split(z_s, model.latent_dims, axis=-1)
  log_s = (-0.5 * tf.reduce_sum(eps_s**2, -1) - 0.5 * dim * np.log(2 * np.pi)
           - tf.reduce_sum(tf.math.log(tf.linalg.diag_part(chol)), -1))
  log_v = tf.stop_gradient(ref.log_joint(x64, zs_s) - log_s)
  beta = _softmax0(log_v)
  if version == 1:
    theta_loss = lambda: -tf.reduce_mean(tf.reduce_sum(alpha * ref.log_joint(x64, zs), 0))
  else:
    theta_loss = lambda: -tf.reduce_mean(tf.reduce_sum(beta * ref.log_joint(x64, zs_s), 0))
  phi_loss = lambda: -tf.reduce_mean(tf.reduce_sum(beta * ref.log_q(x64, zs_s), 0))
  e_theta, e_phi = ref.grads(theta_loss, phi_loss)
  _assert_grads_close(g_theta, e_theta, f"REM v{version} θ, {covariance}")
  _assert_grads_close(g_phi, e_phi, f"REM v{version} φ, {covariance}")
  # The logged metrics: ESS of α and of β, the IWAE bound of q's samples, σ_q.
  ess = lambda w: 1.0 / tf.reduce_sum(w**2, 0)
  np.testing.assert_allclose(losses.ess.numpy(), ess(alpha).numpy(), rtol=1e-4)
  np.testing.assert_allclose(losses.ess_s.numpy(), ess(beta).numpy(), rtol=1e-3)
  np.testing.assert_allclose(losses.bound.numpy(),
                             (tf.reduce_logsumexp(log_w, 0) - np.log(k)).numpy(), rtol=1e-5)
  # q(z_1|x)'s scales as keras_model sets them: 1.5 x the exact posterior's stds.
  post_cov = oracle.post_cov if layers == 1 else oracle.S[0]
  q_std = 1.5 * np.sqrt(np.diag(post_cov))
  np.testing.assert_allclose(losses.sigma_q.numpy(), np.full(6, np.median(q_std)), rtol=1e-5)


@pytest.mark.parametrize("phi_update,layers", [("wake_phi", 1), ("sleep_phi", 1), ("mixed", 1),
                                               ("mixed", 2)])
def test_rws_updates_equal_their_formulas(phi_update, layers, monkeypatch):
  """RWS's θ- and φ-gradients against the formulas recomputed in float64 from the draws.

  θ (wake-θ): -Σ_k w̃_k log p(x, z_k); φ: wake -Σ_k w̃_k log q(z_k|x), sleep
  -(1/N) Σ_n log q(z_n|x_n) at the recorded dreamed pairs (x_n, z_n) ~ p, mixed their mean.
  """
  _, model, x = _linear_model(RWS, layers, num_samples=8, phi_update=phi_update)
  q_draws = _recorder(monkeypatch, dists, "sample_gaussian")
  dreams = _recorder(monkeypatch, model, "dream")
  g_theta, g_phi, _ = _model_grads(model, x, tf.constant([4, 2]))
  ref = _LinearReference(model)
  x64 = tf.constant(x, tf.float64)
  zs = [tf.constant(z.numpy(), tf.float64) for z in q_draws]
  w = tf.stop_gradient(_softmax0(ref.log_joint(x64, zs) - ref.log_q(x64, zs)))
  wake = lambda: -tf.reduce_mean(tf.reduce_sum(w * ref.log_q(x64, zs), 0))
  if phi_update != "wake_phi":
    assert len(dreams) == 1
    x_d = tf.constant(dreams[0][0].numpy(), tf.float64)
    zs_d = [tf.constant(z.numpy(), tf.float64) for z in dreams[0][1]]
    assert x_d.shape == (6, 6)  # one dream per example in the batch
    sleep = lambda: -tf.reduce_mean(ref.log_q(x_d, zs_d))
  phi_loss = {"wake_phi": wake, "sleep_phi": lambda: sleep(),
              "mixed": lambda: 0.5 * (wake() + sleep())}[phi_update]
  theta_loss = lambda: -tf.reduce_mean(tf.reduce_sum(w * ref.log_joint(x64, zs), 0))
  e_theta, e_phi = ref.grads(theta_loss, phi_loss)
  _assert_grads_close(g_theta, e_theta, "RWS wake-θ")
  _assert_grads_close(g_phi, e_phi, f"RWS {phi_update}")


def test_dreams_are_draws_from_the_joint():
  # (x, z) ~ p(z) p(x|z) of the linear-Gaussian model: E z = 0, Cov z = I, E x = b,
  # Cov(x, z) = W, Cov x = W W^T + σ² I.
  lgm = LinearGaussian()
  model = lgm.keras_model(RWS, phi_update="sleep_phi")
  n = 40_000
  x, (z,) = model.dream(n, tf.constant([8, 1]))
  x, z = x.numpy().astype(np.float64), z.numpy().astype(np.float64)
  joint = np.cov(np.concatenate([x, z], 1), rowvar=False)
  cov_x = lgm.W @ lgm.W.T + lgm.sigma**2 * np.eye(6)
  expected = np.block([[cov_x, lgm.W], [lgm.W.T, np.eye(3)]])
  sd = np.sqrt(np.diag(expected))
  # Sampling error of a covariance entry ≈ σ_i σ_j sqrt(2/n); 5 of those.
  assert np.all(np.abs(joint - expected) < 5 * np.outer(sd, sd) * np.sqrt(2.0 / n))
  np.testing.assert_allclose(np.concatenate([x, z], 1).mean(0),
                             np.concatenate([lgm.b, np.zeros(3)]), atol=5 * sd.max() / np.sqrt(n))


def test_two_layer_dreams_are_draws_from_the_joint():
  # z_2 ~ N(0, I), z_1 = W_2 z_2 + b_2 + s_2 e, x = W_1 z_1 + b_1 + s_1 e: exact joint moments.
  dlg = DeepLinearGaussian()
  model = dlg.keras_model(RWS, phi_update="sleep_phi")
  n = 40_000
  x, (z1, z2) = model.dream(n, tf.constant([8, 1]))
  sample = np.concatenate([t.numpy().astype(np.float64) for t in (x, z1, z2)], 1)
  (w1, w2), (b1, b2), s1 = dlg.W, dlg.b, dlg.sigmas[0]
  c1 = dlg.C[0]                                                  # Cov z_1 = W_2 W_2^T + s_2² I
  expected = np.block([
      [w1 @ c1 @ w1.T + s1**2 * np.eye(6), w1 @ c1, w1 @ w2],
      [(w1 @ c1).T, c1, w2],
      [(w1 @ w2).T, w2.T, np.eye(2)]])
  sd = np.sqrt(np.diag(expected))
  assert np.all(np.abs(np.cov(sample, rowvar=False) - expected)
                < 5 * np.outer(sd, sd) * np.sqrt(2.0 / n))
  mean = np.concatenate([w1 @ b2 + b1, b2, np.zeros(2)])
  assert np.all(np.abs(sample.mean(0) - mean) < 5 * sd / np.sqrt(n))


def _inference_grads(model, x, seed):
  with tf.GradientTape() as tape:
    loss = model.compute_losses(x, seed).inference_loss
  return tape.gradient(loss, model.inference_variables)


def test_wake_phi_gradient_is_inclusive_kl_gradient_in_expectation():
  lgm = LinearGaussian()
  x = lgm.sample(32).astype(np.float32)
  model = lgm.keras_model(RWS, q_loc_shift=0.4, q_scale_factor=1.5, num_samples=1000)
  mean, std = lgm.posterior(x)
  posterior = dists.diag_gaussian(tf.constant(mean, tf.float32),
                                  tf.constant(np.broadcast_to(std, mean.shape), tf.float32))
  with tf.GradientTape() as tape:
    # KL(p(z|x) || q_φ(z|x)), exact, averaged over the batch like the estimator.
    exact_loss = tf.reduce_mean(tfd.kl_divergence(posterior, dists.diag_gaussian(*model.encode(x))))
  exact = tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(
      exact_loss, model.inference_variables)], 0).numpy()
  estimates = np.stack([tf.concat([tf.reshape(g, [-1]) for g in _inference_grads(
      model, x, tf.constant([s, 11]))], 0).numpy() for s in range(12)])
  avg = estimates.mean(0)
  stderr = estimates.std(0) / np.sqrt(len(estimates))
  # Self-normalised IS has O(1/K) bias; with K=1000 it is far below this 5% tolerance.
  rel_err = np.linalg.norm(avg - exact) / np.linalg.norm(exact)
  assert rel_err < 0.05, (rel_err, avg, exact)
  assert np.all(np.abs(avg - exact) < 4 * stderr + 0.02 * np.abs(exact).max())
  # A pathwise (reparameterised) φ-gradient of the same score would not match: IWAE's.
  iwae = lgm.keras_model(IWAE, q_loc_shift=0.4, q_scale_factor=1.5, num_samples=1000)
  g_iwae = tf.concat([tf.reshape(g, [-1]) for g in _inference_grads(
      iwae, x, tf.constant([0, 11]))], 0).numpy()
  assert np.linalg.norm(g_iwae - exact) / np.linalg.norm(exact) > 0.3


def _theta_grads(model, losses_fn):
  with tf.GradientTape() as tape:
    losses = losses_fn()
  return [g.numpy() for g in tape.gradient(losses.model_loss, model.model_variables)], losses


def test_rem_v1_theta_gradient_equals_iwae_and_v2_differs():
  x = tiny_binary_data(8, 12)
  kw = dict(input_dim=12, latent_dims=[3], hidden=[8], num_samples=20)
  iwae = IWAE(**kw)
  iwae.build()
  seed = tf.constant([5, 6])
  q_seed = tfp.random.split_seed(seed, 2)[0]  # REM draws q's samples with this seed
  g_iwae, l_iwae = _theta_grads(iwae, lambda: iwae.losses_from_log_weights(iwae.log_weights(x, 20, q_seed)))
  for version in (1, 2):
    rem = REM(version=version, **kw)
    rem.build()
    rem.set_weights(iwae.get_weights())
    g_rem, l_rem = _theta_grads(rem, lambda: rem.compute_losses(x, seed))
    # Same samples, same reported numbers: the bound and ESS are IWAE's; the loss's value too.
    np.testing.assert_allclose(l_rem.bound.numpy(), l_iwae.bound.numpy(), rtol=1e-5)
    np.testing.assert_allclose(l_rem.model_loss.numpy(), l_iwae.model_loss.numpy(), rtol=1e-5)
    np.testing.assert_allclose(l_rem.inference_loss.numpy(), l_iwae.model_loss.numpy(),
                               rtol=1e-5)
    assert np.all(l_rem.kl.numpy() >= 0)
    same = all(np.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(g_rem, g_iwae))
    assert same == (version == 1), version


def test_rws_sleep_phi_and_dream():
  model = RWS(input_dim=12, latent_dims=[4, 3], hidden=[[8], [6]], phi_update="sleep_phi")
  x, zs = model.dream(7, tf.constant([1, 2]))
  assert x.shape == (7, 12) and [z.shape for z in zs] == [(7, 4), (7, 3)]
  assert set(np.unique(x.numpy())) <= {0.0, 1.0}
  losses = model.compute_losses(tiny_binary_data(5, 12), tf.constant([3, 4]))
  g = _inference_grads(model, tiny_binary_data(5, 12), tf.constant([3, 4]))
  assert all(v is not None and np.all(np.isfinite(v.numpy())) for v in g)
  assert losses.kl.shape == (5,) and np.all(np.isfinite(losses.kl.numpy()))
  # REM with two stochastic layers: s(z) over the concatenated latent vector [K, B, 7].
  rem = REM(input_dim=12, latent_dims=[4, 3], hidden=[[8], [6]], version=2, num_samples=6)
  g = _inference_grads(rem, tiny_binary_data(5, 12), tf.constant([3, 4]))
  assert all(v is not None and np.all(np.isfinite(v.numpy())) for v in g)
  with pytest.raises(ValueError, match="phi_update"):
    RWS(input_dim=12, phi_update="sleep")
  with pytest.raises(ValueError, match="version"):
    REM(input_dim=12, version=3)


@pytest.mark.parametrize("name,kwargs", [("rws", dict(phi_update="mixed")),
                                         ("rem", dict(version=2))])
def test_fit_under_xla_and_save_load(name, kwargs, tmp_path):
  keras.utils.set_random_seed(0)
  x = tiny_binary_data(100, 20)
  kw = dict(input_dim=20, latent_dims=[4], hidden=[32], num_samples=5)
  model = METHODS[name](**{**kw, **kwargs})
  model.set_output_bias(np.full(20, 0.5))
  model.compile(keras.optimizers.Adam(3e-3), jit_compile=True)
  assert model.jit_compile is True
  hist = model.fit(x, batch_size=20, epochs=3, verbose=0).history
  assert set(hist) >= {"loss", "bound", "ess", "kl", "sigma_q"} | ({"ess_s"} if name == "rem"
                                                                  else set())
  assert all(np.all(np.isfinite(v)) for v in hist.values())
  assert hist["loss"][-1] < hist["loss"][0]
  np.testing.assert_allclose(hist["loss"], -np.array(hist["bound"]), rtol=1e-5)
  path = str(tmp_path / "m.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
  seed = tf.constant([9, 9])
  np.testing.assert_allclose(loaded.compute_losses(x[:10], seed).bound.numpy(),
                             model.compute_losses(x[:10], seed).bound.numpy(), rtol=1e-5)


def test_zoo_train_rem_runlocal_end_to_end(tmp_path):
  from configs import rem as rem_config
  from zoo import trainer
  cfg = rem_config.get_config("runlocal,version=1")
  cfg.train.epochs, cfg.eval.max_examples = 1, 100  # runlocal, shorter still: test budget
  # XLA compilation is most of this test's time; the fit test above covers REM under XLA.
  cfg.train.jit_compile = cfg.eval.jit_compile = False
  results = trainer.train_and_evaluate(cfg, str(tmp_path), log=lambda *a: None)
  assert results["method"] == "rem" and np.isfinite(results["test_log_likelihood"])
  assert os.path.exists(tmp_path / "model.keras")
  with open(tmp_path / "config.json") as f:
    assert json.load(f)["method"]["version"] == 1
  model = keras.models.load_model(tmp_path / "model.keras")
  assert isinstance(model, REM) and model.latent_dims == [20]
