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
from tfiw.models import IWAE, METHODS, REM, RWS
from tfiw.testing import LinearGaussian, tiny_binary_data

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
  g_iwae, l_iwae = _theta_grads(iwae, lambda: iwae.estimator(iwae.log_weights(x, 20, q_seed)))
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
  assert set(hist) >= {"loss", "bound", "ess", "kl"}
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
  results = trainer.train_and_evaluate(cfg, str(tmp_path), log=lambda *a: None)
  assert results["method"] == "rem" and np.isfinite(results["test_log_likelihood"])
  assert os.path.exists(tmp_path / "model.keras")
  with open(tmp_path / "config.json") as f:
    assert json.load(f)["method"]["version"] == 1
  model = keras.models.load_model(tmp_path / "model.keras")
  assert isinstance(model, REM) and model.latent_dims == [20]
