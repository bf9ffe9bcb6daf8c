"""Bounds: identities, and closed forms on the linear-Gaussian model."""
import numpy as np
import pytest
import tensorflow as tf

from tfiw import bounds
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
  np.testing.assert_allclose(bounds.ciwae_bound(log_w, 1.0), bounds.elbo(log_w), atol=1e-5)
  np.testing.assert_allclose(bounds.ciwae_bound(log_w, 0.0), bounds.iwae_bound(log_w), atol=1e-5)


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
    # 200 independent estimates per example; average them to estimate E[bound_K].
    draws = np.stack([bounds.iwae_bound(model.log_weights(x, loc, std, k, seed=s)).numpy()
                      for s in range(200)])
    mean, se = draws.mean(0), draws.std(0) / np.sqrt(len(draws))
    # Never significantly above log p(x); clearly below it where the gap exceeds the noise.
    assert np.all(mean - 4 * se < log_px), (k, mean, log_px)
    if k <= 5:
      assert np.all(mean + 4 * se < log_px), (k, mean, log_px)
    means[k] = mean
  assert np.all(means[1] < means[5]) and np.all(means[5] < means[50])
  # The gap closes as K grows: K=50 is much closer to log p(x) than K=1.
  assert np.all(log_px - means[50] < 0.5 * (log_px - means[1]))
