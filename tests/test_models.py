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


def quadrature_elbo(model, x, nodes_per_dim=6):
  """E_q[log p(x, z) - log q(z | x)] per example [B], float64, differentiable in the
  variables of a linear Gaussian ``keras_model`` (hidden=[]), written from the model's
  definition: q(z | x) = N(x Ke + be, softplus(x Kr + br) + MIN_SCALE), p(z) = N(0, I),
  p(x | z) = N(z Kd + bd, softplus(z Krd + brd) + MIN_SCALE). The expectation of log p is
  a tensor Gauss-Hermite rule in ε (z = m + s ε); the entropy of q is closed form. With
  Krd = 0 every integrand and its parameter derivatives is a polynomial of degree <= 3 in
  ε, integrated exactly by 6 nodes per dimension."""
  from tfiw.distributions import MIN_SCALE
  enc, dec = model.encoder_blocks[0].head, model.decoder_blocks[0].head
  f = lambda v: tf.cast(v, tf.float64)
  x = tf.constant(x, tf.float64)
  m = x @ f(enc.loc.kernel) + f(enc.loc.bias)
  s = tf.nn.softplus(x @ f(enc.raw_scale.kernel) + f(enc.raw_scale.bias)) + MIN_SCALE
  d = m.shape[-1]
  nodes, weights = np.polynomial.hermite_e.hermegauss(nodes_per_dim)
  weights = weights / np.sqrt(2 * np.pi)
  eps = np.stack(np.meshgrid(*[nodes] * d, indexing="ij"), -1).reshape(-1, d)
  w = np.prod(np.stack(np.meshgrid(*[weights] * d, indexing="ij"), -1).reshape(-1, d), -1)
  z = m[None] + s[None] * eps[:, None, :]                                   # [G, B, d]
  half_log_2pi = 0.5 * np.log(2 * np.pi)
  log_prior = tf.reduce_sum(-0.5 * z**2 - half_log_2pi, -1)
  mu = tf.einsum("gbd,dD->gbD", z, f(dec.loc.kernel)) + f(dec.loc.bias)
  sig = tf.nn.softplus(tf.einsum("gbd,dD->gbD", z, f(dec.raw_scale.kernel)) +
                       f(dec.raw_scale.bias)) + MIN_SCALE
  log_lik = tf.reduce_sum(-0.5 * ((x - mu) / sig)**2 - tf.math.log(sig) - half_log_2pi, -1)
  entropy = tf.reduce_sum(tf.math.log(s), -1) + d * (0.5 + half_log_2pi)
  return tf.tensordot(tf.constant(w), log_prior + log_lik, 1) + entropy


def test_vae_gradients_are_unbiased_for_the_exact_elbo_gradient(lg):
  """E[VAE's θ- and φ-gradients] = -∇ mean_b ELBO(x_b), the ELBO by exact quadrature.

  Inexact q, perturbed decoder, K = 2 (the K-sample average). 40 draws, each the mean over
  2,000 rows (16 examples tiled 125 times): per parameter the z-score of the Monte Carlo
  mean against the exact gradient is ~t(39); max |z| < 5 over 90 parameters fails by chance
  with probability ~1e-3. The quadrature itself is checked against the closed-form ELBO
  (log p(x) - KL(q || p(z | x))) at the true decoder."""
  from tfiw import diagnostics
  lgm, x, log_px = lg
  model = lgm.keras_model(tfiw.VAE, q_loc_shift=0.4, q_scale_factor=1.5, num_samples=2)
  # The quadrature is exact: at the true decoder the ELBO is log p(x) - KL(q || posterior).
  loc, scale = (t.numpy().astype(np.float64) for t in model.encode(x))
  post_mean, post_std = lgm.posterior(x)
  kl = np.sum(np.log(post_std / scale) + (scale**2 + (loc - post_mean)**2) /
              (2 * post_std**2) - 0.5, -1)
  np.testing.assert_allclose(quadrature_elbo(model, x), log_px - kl, rtol=1e-6)
  dec = model.decoder_blocks[0].head
  dec.loc.bias.assign(dec.loc.bias + 0.3)
  dec.raw_scale.bias.assign(dec.raw_scale.bias - 0.2)
  theta, phi = model.model_variables, model.inference_variables
  with tf.GradientTape() as tape:
    loss = -tf.reduce_mean(quadrature_elbo(model, x))
  g_exact = tape.gradient(loss, theta + phi)
  exact = [np.concatenate([g.numpy().ravel() for g in gs])
           for gs in (g_exact[:len(theta)], g_exact[len(theta):])]
  fn = diagnostics.losses_grad_fn(model, np.tile(x, [125, 1]), jit_compile=False)
  draws = [fn(tf.constant([s, 3])) for s in range(40)]
  for i, name in enumerate(("theta", "phi")):
    g = np.stack([d[i].numpy() for d in draws]).astype(np.float64)
    z = (g.mean(0) - exact[i]) / (g.std(0, ddof=1) / np.sqrt(len(g)))
    assert np.max(np.abs(z)) < 5.0, (name, np.max(np.abs(z)))
    assert np.linalg.norm(exact[i]) > 0.1  # a real gradient to compare against


class CorrelatedLG(LinearGaussian):
  """The linear-Gaussian model with correlated columns of W: the posterior covariance
  S = Λ^-1, Λ = I + WᵀW / σ², is not diagonal, so a diagonal q cannot be exact. The
  ELBO's optimum over diagonal Gaussians is then known in closed form (mean field for a
  Gaussian target): mean = the posterior mean, std_i = 1 / sqrt(Λ_ii), and
  ELBO* = log p(x) - ½ (Σ_i log Λ_ii - log det Λ)."""

  def __init__(self):
    super().__init__()
    rng = np.random.default_rng(4)
    self.W = rng.normal(size=(self.data_dim, 1)) + 0.6 * rng.normal(
        size=(self.data_dim, self.latent_dim))
    self.precision = np.eye(self.latent_dim) + self.W.T @ self.W / self.sigma**2
    self.post_cov = np.linalg.inv(self.precision)
    self.A = self.W @ self.post_cov / self.sigma**2
    self.c = -self.b @ self.A
    self.mean_field_std = 1 / np.sqrt(np.diag(self.precision))
    self.mean_field_gap = 0.5 * (np.sum(np.log(np.diag(self.precision))) -
                                 np.linalg.slogdet(self.precision)[1])


def test_fit_moves_q_to_the_optimum_of_its_own_objective():
  """Keras fit of φ (θ held at the true decoder) on the correlated linear-Gaussian model.
  VAE must land on the closed-form mean-field optimum: q's mean the posterior mean, its
  std 1 / sqrt(Λ_ii) (within 5%), its ELBO within 0.03 nats of ELBO*, from an initial gap
  of over 1 nat. IWAE (K=5) optimises a tighter bound: its q is wider than mean field (by
  more than 20%; this posterior's marginal stds are 1.3-1.9 times the mean-field ones) and
  its bound beats ELBO* while staying below log p(x). An estimator for the wrong objective
  or a biased one lands elsewhere."""
  lgm = CorrelatedLG()
  x = lgm.sample(32).astype(np.float32)
  log_px = lgm.log_marginal(x)
  post_mean, _ = lgm.posterior(x)
  elbo_star = np.mean(log_px - lgm.mean_field_gap)
  results = {}
  for cls in (tfiw.VAE, tfiw.IWAE):
    keras.utils.set_random_seed(0)
    model = lgm.keras_model(cls, q_loc_shift=0.5, q_scale_factor=2.0, num_samples=5)
    model.decoder_blocks[0].trainable = False  # θ fixed: only q learns
    model.encoder_blocks[0].head.raw_scale.kernel.trainable = False  # std independent of x

    def expected_bound(k, n=2000):
      lw = model.log_weights(x, n * k, tf.constant([7, k])).log_w.numpy().reshape(n, k, -1)
      b = np.logaddexp.reduce(lw, axis=1) - np.log(k)
      return b.mean(), b.mean(0).std() / np.sqrt(n)  # se from per-example spread / sqrt(n)

    start = expected_bound(1)[0]
    lr = keras.optimizers.schedules.ExponentialDecay(0.05, 400, 0.03)
    model.compile(keras.optimizers.Adam(lr), jit_compile=False, steps_per_execution=50)
    hist = model.fit(tf.data.Dataset.from_tensors(x).repeat(), steps_per_epoch=400,
                     verbose=0).history
    assert set(hist) >= {"loss", "bound", "ess"}
    loc, scale = (t.numpy() for t in model.encode(x))
    results[cls.__name__] = (start, expected_bound(1)[0], expected_bound(5)[0],
                             np.abs(loc - post_mean).mean(), scale[0])
  start, elbo, _, loc_err, scale = results["VAE"]
  assert elbo_star - start > 1.0
  np.testing.assert_allclose(scale, lgm.mean_field_std, rtol=0.05)
  assert loc_err < 0.05, loc_err
  assert abs(elbo - elbo_star) < 0.03, (elbo, elbo_star)
  _, _, iwae5, _, scale = results["IWAE"]
  assert np.all(scale > 1.2 * lgm.mean_field_std), scale
  assert elbo_star < iwae5 < np.mean(log_px), (elbo_star, iwae5, np.mean(log_px))


class NotCompilableIWAE(tfiw.IWAE):
  """Adds an op XLA cannot compile: fit must fail under jit_compile=True."""

  def compute_losses(self, x, seed):
    step = super().compute_losses(x, seed)
    bump = 0.0 * tf.strings.to_number(tf.strings.as_string(step.model_loss))
    return step._replace(losses={k: v + bump for k, v in step.losses.items()})


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


@pytest.mark.parametrize("name", sorted(tfiw.METHODS))
def test_every_method_draws_its_noise_with_an_explicit_algorithm(name):
  """XLA's CPU code for the stateless RNG's default algorithm is ~20x slower than for an
  explicit Philox (docs/performance.md): every float draw of every method must name its
  algorithm, Philox normally and ThreeFry inside ``rng_algorithm(XLA_RNG_ALG)``.
  (Seed splits, a few int32s each, keep TFP's default.)"""
  from tfiw import distributions as dists
  kw = dict(input_dim=12, latent_dims=(3, 2), hidden=(5,), num_samples=3)
  if name == "vae_dgp":
    kw.update(latent_dims=(3,), gp_hidden=(2,), num_train=4)  # hidden layers draw noise
  model = tfiw.METHODS[name](**kw)
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
  # Bit for bit, also between two fused lengths: steps_per_execution does not shape the
  # trajectory, so a run may resume with another one (zoo.trainer.RESUMABLE_FIELDS).
  other = trained(2)
  for a, b, c in zip(one.weights, fused.weights, other.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy(), c.numpy())
  # The fused function ran, and more training does not retrace it.
  traces = fused.train_function.run_steps.experimental_get_tracing_count()
  assert traces >= 1
  fused.fit(tf.data.Dataset.from_tensor_slices(x).batch(20, drop_remainder=True).repeat(),
            steps_per_epoch=6, epochs=1, verbose=0)
  assert fused.train_function.run_steps.experimental_get_tracing_count() == traces


def _constant_scales(model, raw_bias):
  """Every Gaussian head of ``model`` given scale-independent inputs: raw = raw_bias(size)."""
  for block in model.encoder_blocks + model.decoder_blocks:
    head = getattr(block, "head", None)
    if head is not None and hasattr(head, "raw_scale"):
      head.raw_scale.kernel.assign(tf.zeros_like(head.raw_scale.kernel))
      head.raw_scale.bias.assign(raw_bias(head.raw_scale.bias.shape[0]))


@pytest.mark.parametrize("layers", [1, 2])
def test_exp_scale_latents_are_the_gaussian_family_with_scale_exp_raw(layers):
  """latents="gaussian_exp" (Burda et al.'s link, scale = exp(raw)) gives the same log
  weights as the default softplus link when both are set to the same scales s: raw =
  log s against raw = softplus^-1(s - floor); the same draws (same seed) and weights
  otherwise. A wrong link or floor in either moves every log-weight."""
  from tfiw import distributions as dists
  x = tiny_binary_data(n=8, dim=12, seed=1)
  dims = [3] if layers == 1 else [4, 2]
  make = lambda latents: tfiw.IWAE(input_dim=12, latent_dims=dims, hidden=[5],
                                   num_samples=3, latents=latents, estimator="dreg")
  soft, expo = make("gaussian"), make("gaussian_exp")
  for m in (soft, expo):
    m.log_weights(x[:2], 1, tf.constant([0, 0]))  # build
  expo.set_weights(soft.get_weights())
  scales = lambda n: np.linspace(0.3, 1.7, n).astype(np.float32)
  _constant_scales(soft, lambda n: dists.raw_from_scale(scales(n)))
  _constant_scales(expo, lambda n: np.log(scales(n)))
  a = soft.log_weights(x, 4, tf.constant([2, 3])).log_w.numpy()
  b = expo.log_weights(x, 4, tf.constant([2, 3])).log_w.numpy()
  np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
  # The same raw outputs mean different scales under the two links.
  _constant_scales(expo, lambda n: dists.raw_from_scale(scales(n)))
  assert np.max(np.abs(expo.log_weights(x, 4, tf.constant([2, 3])).log_w.numpy() - a)) > 0.01
  assert expo.family == "gaussian"
  assert tfiw.IWAE.from_config(expo.get_config()).latents.name == "gaussian_exp"
