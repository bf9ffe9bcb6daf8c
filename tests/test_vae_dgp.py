"""VAE-DGP (tfiw.gp, tfiw.models.vae_dgp): sparse-GP closed forms, the model's bound with
the recognition network off against Titsias's collapsed bound, tiny XLA fit, save/load."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tfiw
from tfiw import gp, testing
from tfiw.models.vae_dgp import VAEDGP


def _regression(n=30, q=2, p=3, m=6, seed=0, dtype=np.float64):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, q))
  y = np.stack([np.sin(x[:, 0]) + 0.5 * x[:, 1] + 0.1 * rng.normal(size=n)
                for _ in range(p)], 1)
  z = x[rng.choice(n, m, replace=False)] + 0.05 * rng.normal(size=(m, q))
  return x.astype(dtype), y.astype(dtype), z.astype(dtype)


@pytest.mark.parametrize("whiten", [True, False])
def test_uncollapsed_bound_at_optimal_q_equals_titsias_float64(whiten):
  """At the optimal q(u) the uncollapsed ELBO equals the collapsed bound (identity);
  float64, tolerance 1e-6 nats. Any other q(u) gives less."""
  x, y, z = _regression()
  kernel = gp.ard_rbf(tf.constant(1.3, tf.float64), tf.constant([0.8, 1.5], tf.float64))
  noise = tf.constant(0.05, tf.float64)
  q_mu, q_sqrt = testing.optimal_q_u(kernel, z, x, y, noise, whiten=whiten, jitter=1e-8)
  elbo = testing.uncollapsed_bound(kernel, z, x, y, q_mu, q_sqrt, noise, whiten=whiten, jitter=1e-8)
  titsias = testing.titsias_bound(kernel, z, x, y, noise, jitter=1e-8)
  np.testing.assert_allclose(elbo.numpy(), titsias.numpy(), atol=1e-6)
  worse = testing.uncollapsed_bound(kernel, z, x, y, q_mu + 0.1, q_sqrt, noise, whiten=whiten,
                               jitter=1e-8)
  assert worse.numpy() < titsias.numpy()
  # With Z = X (M = N) Titsias's bound is the exact log marginal likelihood.
  kxx = kernel.matrix(x, x).numpy() + 0.05 * np.eye(len(x))
  exact = sum(tfiw.distributions.tfd.MultivariateNormalTriL(
      tf.zeros(len(x), tf.float64), tf.linalg.cholesky(kxx)).log_prob(y[:, j]).numpy()
      for j in range(y.shape[1]))
  np.testing.assert_allclose(testing.titsias_bound(kernel, x, x, y, noise, jitter=1e-10).numpy(),
                             exact, atol=1e-4)


def test_kl_whitened_and_unwhitened_agree():
  x, y, z = _regression()
  kernel = gp.ard_rbf(tf.constant(1.0, tf.float64), tf.constant([1.0, 1.0], tf.float64))
  noise = tf.constant(0.1, tf.float64)
  kmm = kernel.matrix(z, z)
  mu_w, sq_w = testing.optimal_q_u(kernel, z, x, y, noise, whiten=True, jitter=1e-8)
  mu_u, sq_u = testing.optimal_q_u(kernel, z, x, y, noise, whiten=False, jitter=1e-8)
  np.testing.assert_allclose(gp.kl_q_u(mu_w, sq_w).numpy(),
                             gp.kl_q_u(mu_u, sq_u, kmm, whiten=False, jitter=1e-8).numpy(),
                             rtol=1e-5)
  mw, vw = gp.conditional(kernel, z, x, mu_w, sq_w, whiten=True, jitter=1e-8)
  mu, vu = gp.conditional(kernel, z, x, mu_u, sq_u, whiten=False, jitter=1e-8)
  np.testing.assert_allclose(mw, mu, atol=1e-6)
  np.testing.assert_allclose(vw, vu, atol=1e-6)


def test_single_layer_model_without_recognition_is_sparse_gp_regression():
  """A one-GP-layer VAEDGP with its inputs observed (recognition off) at the optimal q(u)
  reproduces Titsias's bound; float32 model vs float64 closed form, tolerance 2e-3
  relative (round-off of the float32 Cholesky factors)."""
  x, y, z = _regression(n=40, q=2, p=3, m=8)
  model = VAEDGP(input_dim=3, latent_dims=[2], hidden=[4], num_inducing=8)
  model.build()
  layer = model.gp_layers[0]
  layer.inducing.assign(z.astype(np.float32))
  layer.raw_length_scales.assign(np.log(np.expm1(np.array([0.9, 1.4]) - 1e-4)).astype(
      np.float32))
  layer.raw_amplitude.assign(np.log(np.expm1(1.2)).astype(np.float32))
  layer.raw_noise.assign(np.log(np.expm1(0.08 - 1e-6)).astype(np.float32))
  kernel64 = gp.ard_rbf(tf.constant(1.2, tf.float64), tf.constant([0.9, 1.4], tf.float64))
  noise = tf.constant(0.08, tf.float64)
  jitter = layer.jitter
  q_mu, q_sqrt = testing.optimal_q_u(kernel64, z, x, y, noise, whiten=True, jitter=jitter)
  layer.q_mu.assign(tf.cast(q_mu, tf.float32))
  layer.q_sqrt.assign(tf.cast(q_sqrt, tf.float32))
  bound = model.conditional_bound(x.astype(np.float32), y.astype(np.float32)).numpy()
  titsias = testing.titsias_bound(kernel64, z, x, y, noise, jitter=jitter).numpy()
  np.testing.assert_allclose(bound, titsias, rtol=2e-3)
  # Minibatch scaling: (N/B) * the ELBO of a batch; the full batch with num_data=N is equal.
  np.testing.assert_allclose(
      model.conditional_bound(x.astype(np.float32), y.astype(np.float32), num_data=40).numpy(),
      bound, rtol=1e-6)


def test_tiny_fit_under_xla():
  """Importance-weighted bound (the ELBO path is the K=1 case, tested below)."""
  keras.utils.set_random_seed(0)
  rng = np.random.default_rng(0)
  t = rng.normal(size=(120, 1))
  x = np.concatenate([np.sin(t), np.cos(t), t / 2, np.sin(2 * t)], 1).astype(np.float32)
  x += 0.05 * rng.normal(size=x.shape).astype(np.float32)
  model = tfiw.get_method("vae_dgp")(input_dim=4, latent_dims=[2], hidden=[16], gp_hidden=[],
                                     num_inducing=10, num_samples=3, importance_weighted=True)
  model.set_output_bias(x.mean(0))
  model.compile(keras.optimizers.Adam(1e-2), jit_compile=True)
  assert model.jit_compile is True
  hist = model.fit(x, batch_size=40, epochs=5, verbose=0).history
  assert model.num_train == 120  # N from the data, so KL(q(u)||p(u)) is charged once per set
  assert np.all(np.isfinite(hist["loss"]))
  assert hist["loss"][-1] < hist["loss"][0]
  lp = model.log_prob(x[:10], num_samples=50, seed=1)
  assert np.all(np.isfinite(lp))
  samples = model.sample(5, seed=2, mean=True)
  assert samples.shape == (5, 4) and np.all(np.isfinite(samples))


def test_iw_bound_with_one_sample_is_the_elbo_and_save_load(tmp_path):
  x = np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32)
  kw = dict(input_dim=4, latent_dims=[2], hidden=[8], gp_hidden=[], num_inducing=5,
            num_train=8, num_samples=1)
  elbo, iw = VAEDGP(**kw), VAEDGP(importance_weighted=True, **kw)
  elbo.build()
  iw.build()
  iw.set_weights(elbo.get_weights())
  seed = tf.constant([3, 3])
  np.testing.assert_allclose(elbo.compute_losses(x, seed).bound,
                             iw.compute_losses(x, seed).bound, rtol=1e-6)
  path = str(tmp_path / "dgp.keras")
  iw.save(path)
  loaded = keras.models.load_model(path)
  assert type(loaded) is VAEDGP and loaded.get_config() == iw.get_config()
  np.testing.assert_allclose(loaded.log_weights(x, 4, seed).log_w,
                             iw.log_weights(x, 4, seed).log_w, rtol=1e-5)


def _exact_log_evidence(model, y, grid=np.linspace(-6.0, 6.0, 161)):
  """log p(Y) of a one-GP-layer model with a 1-D latent and two data points y [2, D], by
  quadrature in float64: log ∫∫ N(x_1) N(x_2) Π_d N(y_d; b_d, K(X, X) + σ² I) dx_1 dx_2
  (the exact GP marginal: zero mean function plus the output bias b)."""
  layer = model.gp_layers[0]
  amp2 = float(tf.nn.softplus(layer.raw_amplitude)) ** 2
  ls = float(tf.nn.softplus(layer.raw_length_scales)[0]) + 1e-4
  a = amp2 + float(layer.noise_variance)
  x1, x2 = np.meshgrid(grid, grid, indexing="ij")
  k12 = amp2 * np.exp(-0.5 * (x1 - x2) ** 2 / ls ** 2)
  det = a * a - k12 ** 2
  r = y - layer.bias.numpy().astype(np.float64)
  quad = sum((a * r[0, d] ** 2 - 2 * k12 * r[0, d] * r[1, d] + a * r[1, d] ** 2) / det
             for d in range(y.shape[1]))
  dims = y.shape[1]
  f = (-0.5 * quad - 0.5 * dims * np.log(det) - dims * np.log(2 * np.pi)
       - 0.5 * (x1 ** 2 + x2 ** 2) - np.log(2 * np.pi))
  top = f.max()
  return top + np.log(np.exp(f - top).sum() * (grid[1] - grid[0]) ** 2)


@pytest.fixture(scope="module")
def two_point_gplvm():
  rng = np.random.default_rng(0)
  y = (0.8 * rng.normal(size=(2, 3))).astype(np.float32)
  model = VAEDGP(input_dim=3, latent_dims=[1], hidden=[8], num_inducing=6,
                 importance_weighted=True, noise_init=0.3, seed=0)
  model.init_from_data(y)
  assert model.num_train == 2
  layer = model.gp_layers[0]
  layer.inducing.assign(np.linspace(-3, 3, 6)[:, None].astype(np.float32))
  loc, _ = model.encode(y)  # q(u): Titsias's optimum for X at q(x|y)'s means
  q_mu, q_sqrt = testing.optimal_q_u(layer.kernel(), layer.inducing, loc, y - layer.bias,
                                layer.noise_variance, jitter=1e-4)
  layer.q_mu.assign(q_mu)
  layer.q_sqrt.assign(q_sqrt)
  return model, y, _exact_log_evidence(model, y.astype(np.float64))


def test_iw_bound_with_one_gp_layer_is_below_the_exact_evidence(two_point_gplvm):
  """N * mean(bound) is a stochastic lower bound on log p(Y) (exact by quadrature) for
  the ELBO (K=1) and the importance-weighted bound at every K, in expectation."""
  model, y, exact = two_point_gplvm
  for k in (1, 10, 1000):
    model.num_samples = k
    values = [2 * float(tf.reduce_mean(model.compute_losses(y, tf.constant([s, k])).bound))
              for s in range(30)]
    mean, se = np.mean(values), np.std(values) / np.sqrt(len(values))
    assert mean + 3 * se < exact, (k, mean, se, exact)
  model.num_samples = 1


def test_bound_charges_the_kl_once_per_training_set(two_point_gplvm):
  """bound_n = log mean_k exp(log w_nk) - KL(q(u)||p(u)) / N, computed independently."""
  model, y, _ = two_point_gplvm
  seed = tf.constant([7, 1])
  model.num_samples = 20
  bound = model.compute_losses(y, seed).bound.numpy()
  log_w = model.log_weights(y, 20, seed).log_w.numpy().astype(np.float64)
  top = log_w.max(0)
  iw = top + np.log(np.exp(log_w - top).mean(0))
  np.testing.assert_allclose(bound, iw - float(model.kl_u()) / 2, rtol=1e-5, atol=1e-4)
  model.num_samples = 1


def test_iw_bound_with_hidden_gp_layers_is_refused_and_n_is_required():
  with pytest.raises(ValueError, match="not a lower bound"):
    VAEDGP(input_dim=4, latent_dims=[2], gp_hidden=[3], importance_weighted=True)
  model = VAEDGP(input_dim=4, latent_dims=[2], hidden=[8], gp_hidden=[3], num_inducing=5)
  x = np.zeros((4, 4), np.float32)
  with pytest.raises(ValueError, match="training-set size"):
    model.compute_losses(x, tf.constant([0, 0]))
  model.init_from_data(np.zeros((37, 4), np.float32))
  assert model.num_train == 37
