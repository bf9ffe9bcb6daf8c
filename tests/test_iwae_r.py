"""IWAE with random weights (tfiw.models.iwae_r, tfiw.bayes_layers): limits, LRT moments,
XLA fit per variant, Keras save/load, SavedModel metadata."""
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


def test_kl_term_option():
  x = tiny_binary_data(8, D)
  base = IWAER(input_dim=D, latent_dims=[Z], hidden=H, num_samples=3)
  base.build()
  with_kl = IWAER(input_dim=D, latent_dims=[Z], hidden=H, num_samples=3, kl_weight=2.0,
                  num_train=100)
  with_kl.build()
  with_kl.set_weights(base.get_weights())
  seed = tf.constant([1, 1])
  kl = float(base.weight_kl())
  assert kl > 0
  plain, penalised = base.compute_losses(x, seed), with_kl.compute_losses(x, seed)
  np.testing.assert_allclose(penalised.model_loss - plain.model_loss, 2.0 * kl / 100, rtol=1e-4)
  np.testing.assert_allclose(penalised.bound, plain.bound)  # the reported number: the bound


def test_keras_save_load_round_trip(tmp_path):
  x = tiny_binary_data(16, D)
  model = IWAER(input_dim=D, latent_dims=[Z], hidden=H, num_samples=4,
                random_weights="both", init_stddev=0.05, gradient="dreg")
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
