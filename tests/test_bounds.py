"""Bounds: identities, and closed forms on the linear-Gaussian model."""
import numpy as np
import pytest
import tensorflow as tf

from tfiw import bounds, objectives, testing as oracles
from tfiw.testing import LinearGaussian


def test_iwae_with_one_sample_equals_elbo():
  log_w = tf.random.stateless_normal([1, 7], seed=[0, 1]) * 10
  np.testing.assert_allclose(bounds.iwae_bound(log_w), bounds.elbo(log_w), rtol=0, atol=1e-6)


def test_normalized_weights_sum_to_one_and_ess_in_range():
  log_w = tf.random.stateless_normal([50, 9], seed=[0, 2]) * 5
  w = bounds.normalized_weights(log_w)
  np.testing.assert_allclose(tf.reduce_sum(w, 0), np.ones(9), atol=1e-5)
  ess = bounds.effective_sample_size(log_w).numpy()
  assert np.all(ess >= 1 - 1e-5) and np.all(ess <= 50 + 1e-4)
  # Equal weights give ESS = K; one dominant weight gives ESS ~ 1.
  np.testing.assert_allclose(bounds.effective_sample_size(tf.zeros([50, 2])), [50, 50], rtol=1e-5)
  spike = tf.concat([tf.fill([1, 1], 100.0), tf.zeros([49, 1])], 0)
  np.testing.assert_allclose(bounds.effective_sample_size(spike), [1.0], rtol=1e-5)


def test_log_mean_exp_is_stable_for_large_log_weights():
  log_w = tf.constant([[-1000.0], [-1000.0]])
  np.testing.assert_allclose(bounds.log_mean_exp(log_w), [-1000.0])


def test_miwae_and_ciwae_reduce_to_iwae_and_elbo():
  log_w = tf.random.stateless_normal([12, 5], seed=[3, 4]) * 3
  np.testing.assert_allclose(bounds.miwae_bound(log_w, 1), bounds.iwae_bound(log_w), atol=1e-5)
  np.testing.assert_allclose(bounds.miwae_bound(log_w, 12), bounds.elbo(log_w), atol=1e-5)
  np.testing.assert_allclose(objectives.get_objective('ciwae', beta=1.0).value(log_w), bounds.elbo(log_w), atol=1e-5)
  np.testing.assert_allclose(objectives.get_objective('ciwae', beta=0.0).value(log_w), bounds.iwae_bound(log_w), atol=1e-5)


@pytest.fixture(scope="module")
def lg():
  model = LinearGaussian()
  x = model.sample(8)
  return model, x, model.log_marginal(x)


def test_exact_posterior_makes_iwae_exact_for_every_k(lg):
  model, x, log_px = lg
  loc, std = model.posterior(x)
  for k in (1, 5, 5000):
    iw = bounds.iwae_bound(model.log_weights(x, loc, std, k)).numpy()
    np.testing.assert_allclose(iw, log_px, atol=1e-8 if k < 5000 else 0.05)


def test_iwae_bound_is_below_log_px_and_increases_with_k(lg):
  model, x, log_px = lg
  loc, std = model.posterior(x)
  loc, std = loc + 0.5, std * 1.5  # an inexact q
  means = {}
  for k in (1, 5, 50):
    # 2000 independent estimates per example (one draw of 2000*K samples, in groups of
    # K); average them to estimate E[bound_K].
    lw = model.log_weights(x, loc, std, 2000 * k, seed=k).numpy().reshape(2000, k, -1)
    draws = bounds.iwae_bound(np.moveaxis(lw, 1, 0)).numpy()
    mean, se = draws.mean(0), draws.std(0) / np.sqrt(len(draws))
    # Never significantly above log p(x); clearly below it where the gap exceeds the noise.
    assert np.all(mean - 4 * se < log_px), (k, mean, log_px)
    if k <= 5:
      assert np.all(mean + 4 * se < log_px), (k, mean, log_px)
    means[k] = mean
  assert np.all(means[1] < means[5]) and np.all(means[5] < means[50])
  # The gap closes as K grows: K=50 is much closer to log p(x) than K=1.
  assert np.all(log_px - means[50] < 0.5 * (log_px - means[1]))


# ---- values and gradients against an independent numpy oracle ---------------------------
@pytest.fixture(scope="module")
def known_log_w():
  # K = 12 samples, B = 5 examples (K != B so that a reduction over the wrong axis shows);
  # a spread of 30 nats and an offset of -500 so that an unstabilised exp would underflow.
  rng = np.random.default_rng(11)
  return rng.normal(size=(12, 5)) * 10 - 500.0


def test_bound_values_match_numpy(known_log_w):
  a = known_log_w
  t = tf.constant(a)
  np.testing.assert_allclose(bounds.elbo(t), a.mean(0), rtol=1e-12)
  np.testing.assert_allclose(bounds.log_mean_exp(t), oracles.log_mean_exp(a), rtol=1e-12)
  np.testing.assert_allclose(bounds.iwae_bound(t), oracles.log_mean_exp(a), rtol=1e-12)
  # The bound of K equal log-weights is that log-weight (the -log K is there).
  np.testing.assert_allclose(bounds.iwae_bound(tf.fill([7, 3], -2.5)), [-2.5] * 3, rtol=1e-6)
  for m in (1, 2, 3, 4, 6, 12):
    np.testing.assert_allclose(bounds.miwae_bound(t, m), oracles.miwae(a, m), rtol=1e-12,
                               err_msg=f"M={m}")
  for beta in (0.0, 0.3, 1.0):
    np.testing.assert_allclose(objectives.get_objective('ciwae', beta=beta).value(t),
                               beta * a.mean(0) + (1 - beta) * oracles.log_mean_exp(a),
                               rtol=1e-12)
  w = oracles.self_normalised(a)
  np.testing.assert_allclose(bounds.normalized_weights(t), w, rtol=1e-10, atol=1e-300)
  # Kish's ESS = (Σ w)^2 / Σ w^2 on unnormalised weights (scaled by exp(-max)).
  e = np.exp(a - a.max(0))
  np.testing.assert_allclose(bounds.effective_sample_size(t), e.sum(0)**2 / (e**2).sum(0),
                             rtol=1e-10)
  # Jensen on these weights: ELBO <= MIWAE(M, 12/M) <= IWAE, the groups coarsening with M.
  chain = [a.mean(0)] + [oracles.miwae(a, m) for m in (6, 3, 1)]
  assert all(np.all(lo <= hi + 1e-12) for lo, hi in zip(chain, chain[1:]))


def _loss_grads(fn, a):
  """d model_loss / d log_w and d inference_loss / d log_w of ``fn(log_w) -> Losses``."""
  log_w = tf.Variable(a)
  with tf.GradientTape(persistent=True) as tape:
    losses = fn(log_w)
  g_model = tape.gradient(losses.model_loss, log_w)
  g_inf = tape.gradient(losses.inference_loss, log_w)
  return losses, g_model.numpy(), g_inf.numpy()


def test_estimator_losses_have_the_bounds_gradients_in_the_log_weights(known_log_w):
  """loss = -mean_b bound_b, so d loss / d log w_kb = -(1/B) d bound_b / d log w_kb, with
  the derivatives of ``tfiw.testing`` (ELBO 1/K, IWAE w~_k, MIWAE w~ within the
  group / M, CIWAE β/K + (1 - β) w~_k; PIWAE θ as IWAE(M*K), φ as MIWAE(M, K))."""
  from tfiw import objectives
  from tfiw.estimators.pathwise import from_log_w
  a = known_log_w
  b = a.shape[1]

  def reparameterized(name, **options):
    return lambda t: from_log_w("reparameterized", objectives.get_objective(name, **options), t)

  cases = {
      "elbo": (reparameterized("elbo"), {}),
      "iwae": (reparameterized("iwae"), {}),
      "miwae": (reparameterized("miwae", num_groups=3), dict(num_groups=3)),
      "ciwae": (reparameterized("ciwae", beta=0.3), dict(beta=0.3)),
      "piwae": (reparameterized("piwae", num_groups=4), dict(num_groups=4)),
  }
  w = oracles.self_normalised(a)
  for name, (fn, opts) in cases.items():
    ref, d_theta, d_phi = oracles.bound_and_grads(name, a, **opts)
    losses, g_model, g_inf = _loss_grads(fn, a)
    np.testing.assert_allclose(g_model, -d_theta / b, rtol=1e-9, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(g_inf, -d_phi / b, rtol=1e-9, atol=1e-15, err_msg=name)
    # The reported numbers: bound (θ's objective), loss = -mean(bound), and the ESS.
    np.testing.assert_allclose(losses.bound, ref, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(losses.model_loss, -ref.mean(), rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(losses.ess, 1 / (w**2).sum(0), rtol=1e-9, err_msg=name)
  # PIWAE's φ loss has φ's objective MIWAE(4, 3) as its value.
  losses, _, _ = _loss_grads(cases["piwae"][0], a)
  np.testing.assert_allclose(losses.inference_loss, -oracles.miwae(a, 4).mean(), rtol=1e-12)
