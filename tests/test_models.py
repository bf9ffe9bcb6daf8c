"""VAE / IWAE models: closed forms through the Keras model, XLA fit, saving, user API."""
import numpy as np
import keras
import pytest
import tensorflow as tf

import tfiw
from tfiw import evaluation
from tfiw.testing import LinearGaussian, tiny_binary_data


@pytest.fixture(scope="module")
def lg():
  model = LinearGaussian()
  x = model.sample(16).astype(np.float32)
  return model, x, model.log_marginal(x)


def test_model_log_weights_match_exact_log_px_with_exact_q(lg):
  lgm, x, log_px = lg
  model = lgm.keras_model(tfiw.IWAE)
  lw = model.log_weights(x, 100, tf.constant([0, 1])).log_w.numpy()
  # float32 model: every log-weight equals log p(x) up to round-off.
  np.testing.assert_allclose(lw, np.broadcast_to(log_px, lw.shape), atol=2e-3)
  est = model.log_prob(x, num_samples=5000, seed=3)
  np.testing.assert_allclose(est, log_px, atol=0.05)


def test_model_bound_below_exact_and_tightens_with_k(lg):
  lgm, x, log_px = lg
  model = lgm.keras_model(tfiw.IWAE, q_loc_shift=0.4, q_scale_factor=1.6)
  est = {k: np.mean([model.log_prob(x, num_samples=k, seed=s) for s in range(30)], 0)
         for k in (1, 100, 5000)}
  assert np.all(est[1] < log_px)
  assert np.mean(est[1]) < np.mean(est[100]) < np.mean(est[5000])
  assert np.mean(est[100]) < np.mean(log_px)
  # At K=5000 the expected gap (~1e-3 nats here) is below the noise of this average, so
  # only closeness is checked there.
  assert abs(np.mean(log_px - est[5000])) < 0.05


def test_chunked_estimate_equals_unchunked():
  x = tiny_binary_data(10, 12)
  model = tfiw.IWAE(input_dim=12, latent_dims=[3], hidden=[8])
  model.build()
  log_w_fn = lambda x_, k, seed: model.log_weights(x_, k, seed).log_w
  whole, _ = evaluation.streaming_log_mean_exp(log_w_fn, x, 24, 24, tf.constant([5, 6]))
  # Unchunked reference: draw the same 4 chunks of 6 with the same fold-in seeds, concatenate.
  parts = [log_w_fn(x, 6, tf.random.experimental.stateless_fold_in(tf.constant([5, 6]), i))
           for i in range(4)]
  ref = tfiw.bounds.iwae_bound(tf.cast(tf.concat(parts, 0), tf.float64)).numpy()
  chunked, _ = evaluation.streaming_log_mean_exp(log_w_fn, x, 24, 6, tf.constant([5, 6]))
  np.testing.assert_allclose(chunked, ref, atol=1e-6)
  # A chunk size that does not divide K: 4 chunks of 7 drawn, the last 4 samples masked.
  odd, _ = evaluation.streaming_log_mean_exp(log_w_fn, x, 24, 7, tf.constant([5, 6]))
  parts = [log_w_fn(x, 7, tf.random.experimental.stateless_fold_in(tf.constant([5, 6]), i))
           for i in range(4)]
  ref_odd = tfiw.bounds.iwae_bound(tf.cast(tf.concat(parts, 0)[:24], tf.float64)).numpy()
  np.testing.assert_allclose(odd, ref_odd, atol=1e-6)
  assert np.all(np.isfinite(whole))


@pytest.mark.parametrize("cls", [tfiw.VAE, tfiw.IWAE])
def test_fit_under_xla_has_finite_decreasing_loss(cls):
  keras.utils.set_random_seed(0)
  x = tiny_binary_data(200, 20)
  model = cls(input_dim=20, latent_dims=[4], hidden=[32, 32], num_samples=5)
  model.set_output_bias(np.full(20, 0.5))  # uninformed start so there is a lot to learn
  model.compile(keras.optimizers.Adam(3e-3), jit_compile=True)
  assert model.jit_compile is True
  hist = model.fit(x, batch_size=20, epochs=8, verbose=0).history
  assert np.all(np.isfinite(hist["loss"]))
  assert hist["loss"][-1] < hist["loss"][0] - 1.0
  assert set(hist) >= {"loss", "bound", "ess"}
  result = model.evaluate(x, batch_size=50, verbose=0, return_dict=True)
  assert np.isfinite(result["bound"]) and 1.0 <= result["ess"] <= 5.0


class NotCompilableIWAE(tfiw.IWAE):
  """Adds an op XLA cannot compile: fit must fail under jit_compile=True."""

  def estimator(self, lw):
    losses = super().estimator(lw)
    bump = 0.0 * tf.strings.to_number(tf.strings.as_string(losses.model_loss))
    return losses._replace(model_loss=losses.model_loss + bump,
                           inference_loss=losses.model_loss + bump)


def test_train_step_is_really_compiled_by_xla():
  x = tiny_binary_data(40, 12)
  ok = NotCompilableIWAE(input_dim=12, latent_dims=[2], hidden=[8])
  ok.compile(keras.optimizers.Adam(), jit_compile=False)
  ok.fit(x, batch_size=20, epochs=1, verbose=0)  # runs without XLA
  bad = NotCompilableIWAE(input_dim=12, latent_dims=[2], hidden=[8])
  bad.compile(keras.optimizers.Adam(), jit_compile=True)
  with pytest.raises(Exception, match="(?i)xla|compil|AsString|StringToNumber"):
    bad.fit(x, batch_size=20, epochs=1, verbose=0)


def test_two_stochastic_layers_any_dimension_and_numpy_data():
  x = tiny_binary_data(60, 30)
  model = tfiw.IWAE(input_dim=30, latent_dims=[6, 3], hidden=[[16, 16], [8, 8]], num_samples=3)
  model.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
  hist = model.fit(x, batch_size=20, epochs=2, verbose=0).history
  assert np.all(np.isfinite(hist["loss"]))
  assert model.sample(5).shape == (5, 30)
  assert set(np.unique(model.sample(5))) <= {0.0, 1.0}
  assert model.log_prob(x[:4], num_samples=10).shape == (4,)


def test_keras_save_load_round_trip(tmp_path):
  x = tiny_binary_data(40, 12)
  model = tfiw.IWAE(input_dim=12, latent_dims=[3], hidden=[8], num_samples=4)
  model.compile(keras.optimizers.Adam(1e-3), jit_compile=True)
  model.fit(x, batch_size=20, epochs=1, verbose=0)
  path = str(tmp_path / "m.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert type(loaded) is tfiw.IWAE and loaded.num_samples == 4
  np.testing.assert_allclose(loaded.log_prob(x, num_samples=50, seed=1),
                             model.log_prob(x, num_samples=50, seed=1), rtol=1e-6)
  loaded.fit(x, batch_size=20, epochs=1, verbose=0)  # optimizer state restored and usable


def test_user_errors_are_clear():
  with pytest.raises(ValueError, match="valid methods"):
    tfiw.get_method("iwea")
  with pytest.raises(ValueError, match="num_samples"):
    tfiw.IWAE(input_dim=4, num_samples=0)
  model = tfiw.IWAE(input_dim=4, latent_dims=[2], hidden=[4])
  with pytest.raises(ValueError, match=r"shape \[N, 4\]"):
    model.log_prob(np.zeros((3, 5)))
  with pytest.raises(ValueError, match="NaN"):
    model.log_prob(np.full((3, 4), np.nan))
  with pytest.raises(ValueError, match="binary"):
    model.log_prob(np.full((3, 4), 0.5))
  with pytest.raises(ValueError, match="data_mean"):
    model.set_output_bias(np.zeros(5))


def test_output_bias_from_data_mean():
  model = tfiw.IWAE(input_dim=3, latent_dims=[2], hidden=[4])
  model.set_output_bias([0.25, 0.5, 0.9])
  bias = model.decoder_blocks[0].output_bias.numpy()
  np.testing.assert_allclose(1 / (1 + np.exp(-bias)), [0.25, 0.5, 0.9], rtol=1e-5)


def test_fast_bernoulli_log_prob_equals_tfp():
  from tfiw import distributions as dists
  logits = tf.random.stateless_normal([3, 4, 9], seed=[1, 2]) * 4
  x = tf.cast(tf.random.stateless_uniform([4, 9], seed=[3, 4]) < 0.5, tf.float32)
  np.testing.assert_allclose(dists.bernoulli_log_prob(logits, x),
                             dists.bernoulli(logits).log_prob(x), rtol=1e-5, atol=1e-5)


def test_fast_samplers_give_tfps_numbers_and_gradients():
  from tfiw import distributions as dists
  loc = tf.random.stateless_normal([4, 3], seed=[5, 6])
  scale = tf.exp(tf.random.stateless_normal([4, 3], seed=[7, 8]))
  seed = tf.constant([11, 12])
  for shape in [(), 7, [2, 5]]:
    np.testing.assert_array_equal(dists.sample_gaussian(loc, scale, shape, seed),
                                  dists.diag_gaussian(loc, scale).sample(shape, seed=seed))
  with tf.GradientTape() as tape:
    tape.watch([loc, scale])
    z = dists.sample_gaussian(loc, scale, 7, seed)
  g_loc, g_scale = tape.gradient(z, [loc, scale])
  np.testing.assert_allclose(g_loc, 7.0)  # dz/dloc = 1 per sample
  np.testing.assert_allclose(g_scale, tf.reduce_sum((z - loc) / scale, 0), rtol=1e-5)
  # Bernoulli: right mean (20,000 draws: 4.5 standard errors is a 1-in-150,000 false alarm).
  logits = tf.constant([-2.0, 0.0, 1.5])
  z = dists.sample_bernoulli(logits, 20000, seed)
  assert set(np.unique(z)) <= {0.0, 1.0}
  p = tf.sigmoid(logits).numpy()
  assert np.all(np.abs(np.mean(z, 0) - p) < 4.5 * np.sqrt(p * (1 - p) / 20000))


@pytest.mark.parametrize("name", sorted(tfiw.models.METHODS))
def test_every_method_draws_its_noise_with_an_explicit_algorithm(name):
  """XLA's CPU code for the stateless RNG's default algorithm is ~20x slower than for an
  explicit Philox (docs/performance.md): every float draw of every method must name its
  algorithm, Philox normally and ThreeFry inside ``rng_algorithm(XLA_RNG_ALG)``.
  (Seed splits, a few int32s each, keep TFP's default.)"""
  from tfiw import distributions as dists
  kw = dict(input_dim=12, latent_dims=(3, 2), hidden=(5,), num_samples=3)
  if name == "vae_dgp":
    kw["latent_dims"] = (3,)
  model = tfiw.models.METHODS[name](**kw)
  model.build()
  x = tf.constant(tiny_binary_data(4, 12, seed=0))

  def algorithms():
    graph = tf.function(lambda x: model.compute_losses(x, tf.constant([1, 2]))
                        ).get_concrete_function(x).graph
    draws = [op for op in graph.get_operations()
             if op.type.startswith("StatelessRandom") and op.outputs
             and op.outputs[0].dtype.is_floating]
    assert draws, "no random draws found: the check would pass vacuously"
    assert all(op.type.endswith("V2") for op in draws), "a draw has no algorithm argument"
    return {op.inputs[3].op.get_attr("value").int_val[0] for op in draws}

  philox, threefry = 1, 2  # tensorflow/core/framework/rng_alg.h
  assert algorithms() == {philox}
  with dists.rng_algorithm(dists.XLA_RNG_ALG):  # what an XLA-compiled step traces
    assert algorithms() == {threefry}


@pytest.mark.parametrize("jit_compile", [True, False])
def test_k5000_estimate_is_right_with_and_without_xla(lg, jit_compile):
  """Both evaluation paths (XLA with ThreeFry, TensorFlow kernels with Philox) estimate
  the exact log p(x) (within 0.1 nats on average at K=5000; being below it on average
  is checked over 30 seeds above), and each repeats its numbers for a seed."""
  lgm, x, log_px = lg
  model = lgm.keras_model(tfiw.IWAE, q_loc_shift=0.4, q_scale_factor=1.6)
  est = model.log_prob(x, num_samples=5000, seed=1, jit_compile=jit_compile)
  gap = np.mean(log_px - est)
  assert abs(gap) < 0.1, gap
  np.testing.assert_array_equal(est, model.log_prob(x, num_samples=5000, seed=1,
                                                    jit_compile=jit_compile))


def test_steps_per_execution_runs_the_same_steps_in_one_xla_call():
  """steps_per_execution=3 runs 3 steps per XLA call (and a short last batch on its own):
  the same 8 updates, to round-off, as one step per call."""
  x = tiny_binary_data(70, 12)  # per epoch: 3 batches of 20, then one of 10

  def trained(spe):
    keras.utils.set_random_seed(0)
    m = tfiw.IWAE(input_dim=12, latent_dims=[3], hidden=[8], num_samples=4, seed=1)
    m.compile(keras.optimizers.Adam(1e-2), jit_compile=True, steps_per_execution=spe)
    m.fit(x, batch_size=20, epochs=2, shuffle=False, verbose=0)
    return m

  one, fused = trained(1), trained(3)
  assert fused.train_function.run_steps.experimental_get_tracing_count() >= 1
  assert int(one.optimizer.iterations) == int(fused.optimizer.iterations) == 8
  for a, b in zip(one.weights, fused.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_steps_per_execution_on_a_static_shape_stream_matches_single_steps():
  """A drop_remainder, repeated stream (what tfiw.data gives): fetched and stacked in one
  call, then the same updates as one step per call."""
  x = tiny_binary_data(60, 12)

  def trained(spe):
    keras.utils.set_random_seed(0)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(20, drop_remainder=True).repeat()
    m = tfiw.IWAE(input_dim=12, latent_dims=[3], hidden=[8], num_samples=4, seed=1)
    m.compile(keras.optimizers.Adam(1e-2), jit_compile=True, steps_per_execution=spe)
    m.fit(ds, steps_per_epoch=6, epochs=2, verbose=0)
    return m

  one, fused = trained(1), trained(3)
  assert int(one.optimizer.iterations) == int(fused.optimizer.iterations) == 12
  for a, b in zip(one.weights, fused.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  # The fused function ran, and more training does not retrace it.
  traces = fused.train_function.run_steps.experimental_get_tracing_count()
  assert traces >= 1
  fused.fit(tf.data.Dataset.from_tensor_slices(x).batch(20, drop_remainder=True).repeat(),
            steps_per_epoch=6, epochs=1, verbose=0)
  assert fused.train_function.run_steps.experimental_get_tracing_count() == traces
