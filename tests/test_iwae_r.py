"""IWAE with random weights (tfiw.models.iwae_r, tfiw.bayes_layers): limits, LRT moments,
the weight KL against its closed form, unbiased importance weights and per-sample weight
draws on the linear-Gaussian model, XLA fit per variant, Keras save/load, SavedModel
metadata."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfiw
from tfiw import export
from tfiw.bayes_layers import BayesDense, BayesStochasticBlock
from tfiw.models.iwae_r import IWAER
from tfiw.testing import tiny_binary_data

D, Z, H = 12, 3, [8]
VARIANTS = ["both", "recognition", "none"]


def _copy_means(src, dst):
  """Copy a BayesStochasticBlock's weight means into a deterministic StochasticBlock."""
  for b, d in zip(src.dense, dst.mlp.dense):
    d.kernel.assign(b.kernel_loc)
    d.bias.assign(b.bias_loc)
  heads = [dst.head.loc, dst.head.raw_scale] if dst.kind == "gaussian" else [dst.head]
  for b, d in zip(src.heads, heads):
    d.kernel.assign(b.kernel_loc)
    d.bias.assign(b.bias_loc)


def _set_rho(model, value):
  for v in model.variables:
    if v.path.endswith("_rho"):
      v.assign(tf.fill(v.shape, value))


@pytest.mark.parametrize("variant", VARIANTS)
def test_zero_variance_limit_equals_deterministic_iwae(variant):
  x = tiny_binary_data(10, D)
  model = IWAER(input_dim=D, latent_dims=[Z], hidden=H, random_weights=variant)
  model.build()
  _set_rho(model, -30.0)  # σ = softplus(-30) ≈ 1e-13: variances at their minimum
  ref = tfiw.IWAE(input_dim=D, latent_dims=[Z], hidden=H)
  ref.build()
  for mine, theirs in zip(model.encoder_blocks + model.decoder_blocks,
                          ref.encoder_blocks + ref.decoder_blocks):
    if isinstance(mine, BayesStochasticBlock):
      _copy_means(mine, theirs)
    else:
      for a, b in zip(mine.weights, theirs.weights):
        b.assign(a)
  seed = tf.constant([3, 4])
  lw, lw_ref = model.log_weights(x, 7, seed), ref.log_weights(x, 7, seed)
  np.testing.assert_allclose(lw.log_w, lw_ref.log_w, atol=1e-4, rtol=1e-5)
  np.testing.assert_allclose(lw.zs[0], lw_ref.zs[0], atol=1e-5)
  # With σ at its initial value the weights are random: log-weights move.
  if variant != "none":
    _set_rho(model, float(np.log(np.expm1(0.3))))
    assert np.max(np.abs(model.log_weights(x, 7, seed).log_w - lw_ref.log_w)) > 1e-2


def test_lrt_moments_match_monte_carlo_over_weight_matrices():
  """LRT's pre-activation mean/variance equal those of h W + b over sampled W, b.

  N = 20000 weight draws per row: the standard error of a sample variance is
  sqrt(2/N) ≈ 1% of the variance, of a sample mean sqrt(var/N); tolerances are 6% and
  5 standard errors.
  """
  rng = np.random.default_rng(0)
  layer = BayesDense(5, init_stddev=0.1)
  layer.build((None, 4))
  layer.kernel_loc.assign(rng.normal(size=(4, 5)).astype(np.float32))
  layer.kernel_rho.assign(rng.normal(-1.0, 0.5, size=(4, 5)).astype(np.float32))
  layer.bias_loc.assign(rng.normal(size=5).astype(np.float32))
  layer.bias_rho.assign(rng.normal(-1.0, 0.5, size=5).astype(np.float32))
  h = tf.constant(rng.normal(size=(3, 4)), tf.float32)
  mean, var = (t.numpy() for t in layer.moments(h))
  n = 20000
  # Monte Carlo over explicit weight matrices: one (W, b) per leading index ("per_sample").
  mc_layer = BayesDense(5, sampling="per_sample")
  mc_layer.build((None, 4))
  mc_layer.set_weights(layer.get_weights())
  hn = tf.tile(h[None], [n, 1, 1])
  for draws in (mc_layer(hn, seed=tf.constant([1, 2])).numpy(),    # sampled weights
                layer(hn, seed=tf.constant([5, 6])).numpy()):      # LRT samples
    se = np.sqrt(var / n)
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * se)
    np.testing.assert_allclose(draws.var(0), var, rtol=0.06)
  # Closed form written out: E = h μ + μ_b, Var = h² σ² + σ_b².
  sw, sb = tf.nn.softplus(layer.kernel_rho).numpy(), tf.nn.softplus(layer.bias_rho).numpy()
  np.testing.assert_allclose(var, h.numpy() ** 2 @ sw ** 2 + sb ** 2, rtol=1e-5)
  # seed=None is the mean network.
  np.testing.assert_allclose(layer(h).numpy(), mean, rtol=1e-5)


def test_random_encoder_differs_per_importance_sample():
  x = tiny_binary_data(4, D)
  model = IWAER(input_dim=D, latent_dims=[Z], hidden=H, random_weights="recognition",
                init_stddev=0.3)
  model.build()
  h = tf.tile(tf.constant(x)[None], [5, 1, 1])
  loc, _ = model.encoder_blocks[0](h, seed=tf.constant([0, 1]))
  assert loc.shape == (5, 4, Z)
  assert np.min(np.std(loc.numpy(), axis=0)) > 1e-3  # every sample its own weights
  again, _ = model.encoder_blocks[0](h, seed=tf.constant([0, 1]))
  np.testing.assert_array_equal(loc, again)  # stateless: same seed, same draw


@pytest.mark.parametrize("variant", VARIANTS)
def test_fit_under_xla_per_variant(variant):
  """Smoke test per variant (XLA training step, which variables are random); the
  estimator is checked by the exact tests above."""
  keras.utils.set_random_seed(0)
  x = tiny_binary_data(200, 20)
  model = tfiw.get_method("iwae_r")(input_dim=20, latent_dims=[4], hidden=[32], num_samples=5,
                                    random_weights=variant, init_stddev=0.01)
  model.set_output_bias(np.full(20, 0.5))
  model.compile(keras.optimizers.Adam(3e-3), jit_compile=True)
  assert model.jit_compile is True
  hist = model.fit(x, batch_size=20, epochs=6, verbose=0).history
  assert np.all(np.isfinite(hist["loss"]))
  assert hist["loss"][-1] < hist["loss"][0] - 1.0
  n_rho = sum(v.path.endswith("_rho") for v in model.trainable_variables)
  assert n_rho == {"both": 10, "recognition": 6, "none": 0}[variant]


def np_weight_kl(model, prior_stddev):
  """KL(q(weights) || N(0, s² I)) from the variables alone (numpy float64): every
  ``*_loc`` variable with its ``*_rho`` partner, σ = log(1 + e^ρ), summed over entries of
  ½ (σ²/s² + μ²/s² - 1 - log(σ²/s²)). Returns (KL, number of (loc, rho) pairs)."""
  by_path = {v.path: v.numpy().astype(np.float64) for v in model.variables}
  s2 = prior_stddev**2
  total, pairs = 0.0, 0
  for path, mu in by_path.items():
    if path.endswith("_loc"):
      var = np.log1p(np.exp(by_path[path[:-4] + "_rho"]))**2
      total += np.sum(0.5 * (var / s2 + mu**2 / s2 - 1.0 - np.log(var / s2)))
      pairs += 1
  return total, pairs


@pytest.mark.parametrize("variant,pairs", [("both", 10), ("recognition", 6)])
def test_weight_kl_and_its_loss_term_are_the_closed_form_gaussian_kl(variant, pairs):
  """weight_kl against ``np_weight_kl`` at random means and σ's (prior s = 0.5), and the
  optional loss term: kl_weight * KL / num_train added to the loss(es), the bound unchanged
  (a θ/φ-shared estimator, and DReG with separate losses)."""
  x = tiny_binary_data(8, D)
  rng = np.random.default_rng(3)
  for gradient in ("reparameterized", "dreg"):
    kw = dict(input_dim=D, latent_dims=[Z], hidden=H, num_samples=3, random_weights=variant,
              prior_stddev=0.5, estimator=gradient)
    base = IWAER(**kw)
    base.build()
    for v in base.variables:
      if v.path.endswith("_loc") or v.path.endswith("_rho"):
        v.assign(rng.normal(-1.0 if v.path.endswith("_rho") else 0.0, 0.7, size=v.shape)
                 .astype(np.float32))
    kl, n_pairs = np_weight_kl(base, 0.5)
    assert n_pairs == pairs
    np.testing.assert_allclose(float(base.weight_kl()), kl, rtol=1e-5)
    with_kl = IWAER(kl_weight=2.0, num_train=100, **kw)
    with_kl.build()
    with_kl.set_weights(base.get_weights())
    seed = tf.constant([1, 1])
    plain, penalised = base.compute_losses(x, seed), with_kl.compute_losses(x, seed)
    np.testing.assert_allclose(penalised.model_loss - plain.model_loss, 2.0 * kl / 100,
                               rtol=1e-4)
    np.testing.assert_allclose(penalised.inference_loss - plain.inference_loss,
                               2.0 * kl / 100, rtol=1e-4)
    np.testing.assert_allclose(penalised.bound, plain.bound)  # the reported number


# ---- exact checks on the linear-Gaussian model ------------------------------------------
def _set_bayes(layer, loc_kernel, loc_bias, std):
  """A BayesDense with the given means and every σ = std (std=None: σ ≈ 1e-13)."""
  rho = -30.0 if std is None else float(np.log(np.expm1(std)))
  layer.kernel_loc.assign(np.asarray(loc_kernel, np.float32))
  layer.bias_loc.assign(np.asarray(loc_bias, np.float32))
  layer.kernel_rho.assign(np.full(layer.kernel_rho.shape, rho, np.float32))
  layer.bias_rho.assign(np.full(layer.bias_rho.shape, rho, np.float32))


def lg_iwaer(lgm, variant, enc_std=0.15, dec_std=0.3, q_scale_factor=1.5):
  """IWAE-R on the linear-Gaussian model ``lgm`` (linear nets, Gaussian likelihood).
  Weight means: q's at the exact posterior (std widened by ``q_scale_factor``), p's at the
  true W, b, σ. Random: the q and p mean heads with σ = enc_std / dec_std; the scale
  heads deterministic. Then, by local reparameterisation, given z (and x) the random
  mean head is Gaussian: q's mean N(x A + c, x² σ_e² + σ_e²) per unit, and the
  weight-marginalised likelihood is N(x; z Wᵀ + b, σ² + z² σ_d² + σ_d²) per unit."""
  from tfiw import distributions as dists
  model = IWAER(input_dim=lgm.data_dim, latent_dims=[lgm.latent_dim], hidden=[],
                likelihood="gaussian", random_weights=variant)
  model.build()
  post_std = np.sqrt(np.diag(lgm.post_cov)) * q_scale_factor
  enc = model.encoder_blocks[0].heads
  _set_bayes(enc[0], lgm.A, lgm.c, enc_std)
  _set_bayes(enc[1], np.zeros_like(lgm.A), dists.raw_from_scale(post_std.astype(np.float32)),
             None)
  dec_sigma = dists.raw_from_scale(np.full(lgm.data_dim, lgm.sigma, np.float32))
  if variant == "both":
    dec = model.decoder_blocks[0].heads
    _set_bayes(dec[0], lgm.W.T, lgm.b, dec_std)
    _set_bayes(dec[1], np.zeros_like(lgm.W.T), dec_sigma, None)
  else:
    dec = model.decoder_blocks[0].head
    dec.loc.kernel.assign(lgm.W.T.astype(np.float32))
    dec.loc.bias.assign(lgm.b.astype(np.float32))
    dec.raw_scale.kernel.assign(np.zeros_like(lgm.W.T, np.float32))
    dec.raw_scale.bias.assign(dec_sigma)
  return model


def np_log_marginal_random_decoder(lgm, x, dec_std, n=200_000, seed=0):
  """log ∫ p(z) N(x; z Wᵀ + b, σ² + z² σ_d² + σ_d²) dz per example (numpy float64),
  by importance sampling from the deterministic model's posterior widened 2x; returns
  (estimate [B], its standard error [B] by the delta method)."""
  rng = np.random.default_rng(seed)
  mean, std = lgm.posterior(x.astype(np.float64))
  std = 2.0 * std
  out, se = [], []
  for xb, mb in zip(x.astype(np.float64), mean):
    z = mb + std * rng.normal(size=(n, lgm.latent_dim))
    var = lgm.sigma**2 + (z**2) @ np.full((lgm.latent_dim, lgm.data_dim), dec_std**2) + dec_std**2
    log_lik = -0.5 * np.sum((xb - z @ lgm.W.T - lgm.b)**2 / var + np.log(2 * np.pi * var), 1)
    log_prior = -0.5 * np.sum(z**2 + np.log(2 * np.pi), 1)
    log_r = -0.5 * np.sum(((z - mb) / std)**2 + np.log(2 * np.pi * std**2), 1)
    lw = log_lik + log_prior - log_r
    w = np.exp(lw - lw.max())
    out.append(lw.max() + np.log(w.mean()))
    se.append(w.std() / w.mean() / np.sqrt(n))
  return np.array(out), np.array(se)


@pytest.fixture(scope="module")
def lgm_x():
  from tfiw.testing import LinearGaussian
  lgm = LinearGaussian()
  return lgm, lgm.sample(8).astype(np.float32)


@pytest.mark.parametrize("variant", ["recognition", "both"])
def test_importance_weights_are_unbiased_for_the_weight_marginalised_likelihood(lgm_x, variant):
  """E[w_k] = p(x) under the weight-marginalised decoder (q's weights are auxiliary): the
  log of the mean of 20,000 weights per example equals the exact log p(x) (IWAE-Rrec: the
  deterministic decoder's closed form) or the numpy quadrature-free estimate of
  ∫ p(z) ∫ p(x | z; θ) q(θ) dθ dz (IWAE-R), within 5 standard errors (delta method:
  std(w) / mean(w) / sqrt(N)) plus 0.01 nats. z's pairing with its own φ_k, the LRT
  moments of both networks and the per-sample independence of the draws all enter."""
  lgm, x = lgm_x
  model = lg_iwaer(lgm, variant)
  if variant == "both":
    ref, ref_se = np_log_marginal_random_decoder(lgm, x, 0.3)
    assert np.all(ref_se < 0.005)
    # The random decoder changes the marginal: far more than the tolerance below.
    assert np.min(np.abs(ref - lgm.log_marginal(x))) > 0.2
  else:
    ref, ref_se = lgm.log_marginal(x), 0.0
  lw = model.log_weights(x, 20000, tf.constant([2, 3])).log_w.numpy().astype(np.float64)
  w = np.exp(lw - lw.max(0))
  est = lw.max(0) + np.log(w.mean(0))
  se = w.std(0) / w.mean(0) / np.sqrt(len(w))
  assert np.all(np.abs(est - ref) < 5 * np.sqrt(se**2 + ref_se**2) + 0.01), (est - ref, se)
  # ... and the bound below it: the K=1 bound (the ELBO) clearly, on average.
  assert np.all(lw.mean(0) < ref - 0.05)


def test_random_recognition_weights_are_drawn_per_importance_sample(lgm_x):
  """Given x, z_k = m_k + s ε_k with m_k ~ N(x A + c, x² σ_e² + σ_e²) drawn anew for each
  sample k: over 4,000 rows (8 examples tiled), z_1 and z_2 of the same row are
  uncorrelated around x A + c, and each has variance s² + x² σ_e² + σ_e² (LRT). One weight
  draw shared by the K samples would make their covariance the mean's variance."""
  lgm, x = lgm_x
  sigma_e = 0.3
  model = lg_iwaer(lgm, "recognition", enc_std=sigma_e)
  xt = np.tile(x, [500, 1])
  z = model.log_weights(xt, 2, tf.constant([4, 4])).zs[0].numpy().astype(np.float64)
  centred = z - (xt @ lgm.A + lgm.c)[None]
  s2 = np.diag(lgm.post_cov) * 1.5**2
  mean_var = (xt.astype(np.float64)**2).sum(1, keepdims=True) * sigma_e**2 + sigma_e**2
  total_var = s2 + mean_var                                                   # [rows, d]
  n = len(xt)
  # Standardised: each unit's product has variance total_var^2 when independent.
  cov = np.mean(centred[0] * centred[1] / total_var, 0)
  assert np.all(np.abs(cov) < 5 / np.sqrt(n)), cov
  ratio = np.mean(centred**2 / total_var, (0, 1))
  assert np.all(np.abs(ratio - 1) < 5 * np.sqrt(2 / (2 * n))), ratio
  # Power: the shared-draw covariance, mean_var / total_var, is far outside that band.
  assert np.min(np.mean(mean_var / total_var, 0)) > 20 / np.sqrt(n)


def test_keras_save_load_round_trip(tmp_path):
  x = tiny_binary_data(16, D)
  model = IWAER(input_dim=D, latent_dims=[Z], hidden=H, num_samples=4,
                random_weights="both", init_stddev=0.05, estimator="dreg")
  model.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
  model.fit(x, batch_size=8, epochs=1, verbose=0)
  path = str(tmp_path / "m.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert type(loaded) is IWAER
  assert loaded.get_config() == model.get_config()
  seed = tf.constant([2, 9])
  np.testing.assert_allclose(loaded.log_weights(x, 6, seed).log_w,
                             model.log_weights(x, 6, seed).log_w, rtol=1e-6)
  np.testing.assert_allclose(loaded.generate(3, seed)[1], model.generate(3, seed)[1])


def test_savedmodel_export_states_the_estimator(tmp_path):
  x = tiny_binary_data(30, D)
  model = IWAER(input_dim=D, latent_dims=[Z], hidden=H, random_weights="both",
                init_stddev=0.05)
  model.set_output_bias(x.mean(0))
  path = str(tmp_path / "sm")
  # batch_size = N: one unpadded block, as evaluation.log_likelihood scores 30 rows.
  export.export_savedmodel(model, path, num_samples=20, seed=3, batch_size=30,
                           metadata={"dataset": "tiny"})
  info = json.load(open(os.path.join(path, "assets", "config.json")))
  assert info["model_class"] == "IWAER"
  assert info["model_config"]["random_weights"] == "both"
  assert "weights sampled per importance sample" in info["log_prob"]["estimator"]
  loaded = tf.saved_model.load(path)
  out = loaded.signatures["log_prob"](x=tf.constant(x))["log_prob"].numpy()
  np.testing.assert_allclose(out, model.log_prob(x, num_samples=20, seed=3, jit_compile=False),
                             atol=1e-3)
  enc = loaded.signatures["encode"](x=tf.constant(x[:2]))
  assert enc["loc"].shape == (2, Z)
