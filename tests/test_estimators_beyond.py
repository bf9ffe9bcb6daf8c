"""Estimators beyond the papers: STL, DReG, MIWAE/CIWAE/PIWAE and the gradient-SNR diagnostics.

Closed forms on the linear-Gaussian model (tfiw.testing): with q the exact posterior,
log w = log p(x) for every z, so ∂log w/∂z = 0 and the STL/DReG φ-gradients vanish draw by
draw, while IWAE's φ-gradient keeps the (zero-mean, non-zero) score term of q.
"""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfiw
from tfiw import bounds, diagnostics, estimators, testing as oracles
from tfiw.testing import LinearGaussian, tiny_binary_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def lg():
  model = LinearGaussian()
  return model, model.sample(8).astype(np.float32)


def grads(model, x, seed):
  """(θ-grad, φ-grad) of one draw, flat numpy vectors (eager: cheaper than tracing)."""
  g_theta, g_phi = diagnostics.losses_grad_fn(model, x, jit_compile=None)(
      tf.constant([seed, 0], tf.int32))
  return g_theta.numpy(), g_phi.numpy()


def draws(model, x, n):
  fn = diagnostics.losses_grad_fn(model, x, jit_compile=False)  # traced once, n calls
  out = [fn(tf.constant([s, 1], tf.int32)) for s in range(n)]
  return (np.stack([o[0].numpy() for o in out]), np.stack([o[1].numpy() for o in out]))


@pytest.mark.parametrize("gradient", ["stl", "dreg", "dreg_rws"])
def test_phi_gradient_vanishes_at_exact_posterior(lg, gradient):
  lgm, x = lg
  model = lgm.keras_model(tfiw.IWAE, estimator=gradient, num_samples=10)
  reference = lgm.keras_model(tfiw.IWAE, num_samples=10)
  for seed in range(5):
    _, g_phi = grads(model, x, seed)
    _, g_iwae = grads(reference, x, seed)
    # IWAE keeps q's score term: O(1) per draw. STL/DReG: float32 round-off only.
    assert np.linalg.norm(g_iwae) > 0.1
    assert np.max(np.abs(g_phi)) < 1e-4 * max(1.0, np.linalg.norm(g_iwae)), (seed, gradient)


@pytest.mark.parametrize("gradient", ["stl", "dreg", "dreg_rws"])
def test_theta_gradient_equals_iwae_for_the_same_samples(lg, gradient):
  lgm, x = lg
  kw = dict(q_loc_shift=0.3, q_scale_factor=1.4, num_samples=6)
  model = lgm.keras_model(tfiw.IWAE, estimator=gradient, **kw)
  reference = lgm.keras_model(tfiw.IWAE, **kw)
  for seed in range(3):
    g_theta, g_phi = grads(model, x, seed)
    r_theta, r_phi = grads(reference, x, seed)
    np.testing.assert_allclose(g_theta, r_theta, rtol=1e-5, atol=1e-6)
    # ... while φ really gets a different estimator (so this test can tell them apart).
    assert np.max(np.abs(g_phi - r_phi)) > 1e-3


def test_theta_gradient_equal_on_a_nonlinear_binary_model():
  x = tiny_binary_data(10, 12)
  ref = tfiw.IWAE(input_dim=12, latent_dims=[3, 2], hidden=[8], num_samples=4)
  ref.build()
  for gradient in ("stl", "dreg"):
    model = diagnostics.with_options(ref, estimator=gradient)
    np.testing.assert_allclose(grads(model, x, 3)[0], grads(ref, x, 3)[0], rtol=1e-5,
                               atol=1e-6)


def test_dreg_phi_gradient_is_unbiased_for_iwae(lg):
  """Paired test over 300 seeds on a perturbed q: for each φ coordinate, the mean of
  d = g_dreg - g_iwae (same samples) must lie within 4 standard errors of 0 (and the
  total within 25% of the IWAE mean gradient's norm). STL, biased for K > 1, fails it."""
  lgm, x = lg
  kw = dict(q_loc_shift=0.5, q_scale_factor=1.5, num_samples=5)
  n = 300
  _, g_iwae = draws(lgm.keras_model(tfiw.IWAE, **kw), x, n)
  _, g_dreg = draws(lgm.keras_model(tfiw.IWAE, estimator="dreg", **kw), x, n)
  _, g_stl = draws(lgm.keras_model(tfiw.IWAE, estimator="stl", **kw), x, n)

  def z_scores(g):
    d = g - g_iwae
    return np.abs(d.mean(0)) / (d.std(0, ddof=1) / np.sqrt(n) + 1e-12)

  mean_iwae = g_iwae.mean(0)
  assert np.linalg.norm(mean_iwae) > 1.0  # a real signal to compare against
  assert np.max(z_scores(g_dreg)) < 4.0
  assert np.linalg.norm(g_dreg.mean(0) - mean_iwae) < 0.25 * np.linalg.norm(mean_iwae)
  # DReG has lower variance than IWAE for φ (its point), and STL is detectably biased.
  assert g_dreg.var(0).sum() < g_iwae.var(0).sum()
  assert np.max(z_scores(g_stl)) > 4.0


def test_miwae_special_cases(lg):
  lgm, x = lg
  rng = np.random.default_rng(0)
  log_w = tf.constant(rng.normal(size=(12, 5)) * 3)
  np.testing.assert_allclose(bounds.miwae_bound(log_w, 1), bounds.iwae_bound(log_w))
  np.testing.assert_allclose(bounds.miwae_bound(log_w, 12), bounds.elbo(log_w))
  groups = [bounds.iwae_bound(log_w[i:i + 4]) for i in (0, 4, 8)]
  np.testing.assert_allclose(bounds.miwae_bound(log_w, 3), np.mean(groups, 0), rtol=1e-12)
  kw = dict(q_loc_shift=0.3, q_scale_factor=1.4)
  seed = tf.constant([4, 2])
  # MIWAE(1, K) == IWAE(K): same samples, same bound, same losses.
  miwae = lgm.keras_model(tfiw.IWAE, objective="miwae", num_groups=1, num_samples=7, **kw)
  iwae = lgm.keras_model(tfiw.IWAE, num_samples=7, **kw)
  np.testing.assert_allclose(miwae.compute_losses(x, seed).bound,
                             iwae.compute_losses(x, seed).bound, rtol=1e-6)
  np.testing.assert_allclose(grads(miwae, x, 1)[1], grads(iwae, x, 1)[1], rtol=1e-5, atol=1e-6)
  # MIWAE(M, 1) == the ELBO averaged over M samples (the VAE with K = M).
  miwae_m1 = lgm.keras_model(tfiw.IWAE, objective="miwae", num_groups=6, num_samples=1, **kw)
  vae = lgm.keras_model(tfiw.VAE, num_samples=6, **kw)
  lw = miwae_m1.log_weights(x, 6, seed).log_w
  np.testing.assert_allclose(miwae_m1.compute_losses(x, seed).bound, bounds.elbo(lw),
                             rtol=1e-6)
  np.testing.assert_allclose(miwae_m1.compute_losses(x, seed).bound,
                             vae.compute_losses(x, seed).bound, rtol=1e-6)
  # MIWAE(M, K) really groups: it differs from IWAE(M*K) on the same samples.
  miwae_23 = lgm.keras_model(tfiw.IWAE, objective="miwae", num_groups=2, num_samples=3, **kw)
  lw = miwae_23.log_weights(x, 6, seed).log_w
  np.testing.assert_allclose(miwae_23.compute_losses(x, seed).bound,
                             bounds.miwae_bound(lw, 2), rtol=1e-6)
  assert np.all(bounds.miwae_bound(lw, 2).numpy() < bounds.iwae_bound(lw).numpy())


def test_piwae_and_ciwae_are_their_parts(lg):
  lgm, x = lg
  kw = dict(q_loc_shift=0.3, q_scale_factor=1.4)
  seed = 2
  piwae = lgm.keras_model(tfiw.IWAE, objective="piwae", num_groups=3, num_samples=2, **kw)
  iwae6 = lgm.keras_model(tfiw.IWAE, num_samples=6, **kw)
  miwae = lgm.keras_model(tfiw.IWAE, objective="miwae", num_groups=3, num_samples=2, **kw)
  p_theta, p_phi = grads(piwae, x, seed)
  np.testing.assert_allclose(p_theta, grads(iwae6, x, seed)[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(p_phi, grads(miwae, x, seed)[1], rtol=1e-5, atol=1e-6)
  # CIWAE reports beta * ELBO + (1 - beta) * IWAE of its samples.
  ciwae = lgm.keras_model(tfiw.IWAE, objective="ciwae", beta=0.3, num_samples=5, **kw)
  s = tf.constant([1, 1])
  lw = ciwae.log_weights(x, 5, s).log_w
  np.testing.assert_allclose(ciwae.compute_losses(x, s).bound,
                             0.3 * bounds.elbo(lw) + 0.7 * bounds.iwae_bound(lw), rtol=1e-6)
  # DReG for CIWAE / PIWAE still vanishes at the exact posterior.
  for opts in (dict(objective="ciwae", beta=0.5), dict(objective="piwae", num_groups=2)):
    exact = lgm.keras_model(tfiw.IWAE, estimator="dreg", num_samples=4, **opts)
    assert np.max(np.abs(grads(exact, x, 0)[1])) < 1e-4


# (objective name in tfiw.testing, model class, options, samples drawn per example)
FORMULA_CASES = {
    "vae": ("elbo", tfiw.VAE, dict(num_samples=4), 4),
    "iwae": ("iwae", tfiw.IWAE, dict(num_samples=4), 4),
    "miwae": ("miwae", tfiw.IWAE, dict(objective="miwae", num_groups=3, num_samples=2), 6),
    "ciwae": ("ciwae", tfiw.IWAE, dict(objective="ciwae", beta=0.3, num_samples=5), 5),
    "piwae": ("piwae", tfiw.IWAE, dict(objective="piwae", num_groups=2, num_samples=3), 6),
}


@pytest.mark.parametrize("name", sorted(FORMULA_CASES))
def test_model_gradients_equal_the_per_sample_formula(lg, name):
  """Per draw, the Keras model's θ- and φ-gradients equal Σ_kb c_kb ∇ log w_kb on the same
  samples, with c = -(1/B) d bound_b / d log w_kb from the numpy oracle (θ's objective for
  θ, φ's for φ): the estimator, its sample count and grouping, and which variables each
  loss reaches, all through the model's train-step path."""
  objective, cls, opts, n = FORMULA_CASES[name]
  oracle_opts = {k: v for k, v in opts.items() if k in ("num_groups", "beta")}
  lgm, x = lg
  model = lgm.keras_model(cls, q_loc_shift=0.3, q_scale_factor=1.4, **opts)
  theta, phi = model.model_variables, model.inference_variables
  for seed in range(2):
    g_theta, g_phi = grads(model, x, seed)
    with tf.GradientTape(persistent=True) as tape:
      log_w = model.log_weights(x, n, tf.constant([seed, 0])).log_w
    _, d_theta, d_phi = oracles.bound_and_grads(objective, log_w.numpy(), **oracle_opts)
    b = x.shape[0]
    for got, variables, d in ((g_theta, theta, d_theta), (g_phi, phi, d_phi)):
      want = tape.gradient(log_w, variables, output_gradients=tf.constant(-d / b, tf.float32))
      want = np.concatenate([w.numpy().ravel() for w in want])
      np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5, err_msg=name)
    assert np.linalg.norm(g_phi) > 1e-2 and np.linalg.norm(g_theta) > 1e-2  # not vacuous
    del tape


def test_surrogate_values_stay_the_bound():
  from tfiw import objectives
  from tfiw.estimators.pathwise import from_log_w
  rng = np.random.default_rng(1)
  log_w = tf.constant(rng.normal(size=(6, 4)), tf.float32)
  for estimator in ("reparameterized", "stl", "dreg", "dreg_rws"):
    for objective, opts in (("iwae", {}), ("miwae", dict(num_groups=2)),
                            ("ciwae", dict(beta=0.5)), ("piwae", dict(num_groups=3)),
                            ("vr", dict(alpha=0.3)), ("elbo", {})):
      if not estimators.ESTIMATORS[estimator].supports_objective(objective):
        continue
      losses = from_log_w(estimator, objectives.get_objective(objective, **opts), log_w)
      np.testing.assert_allclose(losses.model_loss, -np.mean(losses.bound), rtol=1e-6)
      assert np.isfinite(losses.inference_loss.numpy())


# Every gradient and every objective option once (paired to keep XLA compiles few).
FIT_OPTIONS = [
    dict(estimator="stl", objective="miwae", num_groups=2),
    dict(estimator="dreg", objective="ciwae", beta=0.5),
    dict(estimator="dreg_rws", objective="piwae", num_groups=2),
]


@pytest.mark.parametrize("options", FIT_OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
def test_tiny_fit_under_xla(options, tmp_path):
  """Smoke test (XLA training step, Keras serialisation of the options). It checks no
  estimator: the formula and exact-posterior tests above do."""
  keras.utils.set_random_seed(0)
  x = tiny_binary_data(40, 12)
  model = tfiw.IWAE(input_dim=12, latent_dims=[3], hidden=[16], num_samples=3, **options)
  model.compile(keras.optimizers.Adam(3e-3), jit_compile=True)
  assert model.jit_compile is True
  hist = model.fit(x, batch_size=20, epochs=2, verbose=0).history
  assert np.all(np.isfinite(hist["loss"])) and np.all(np.isfinite(hist["bound"]))
  # Keras-serializable: the options survive a save/load round trip.
  path = str(tmp_path / "m.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert type(loaded) is tfiw.IWAE
  for key, value in options.items():
    assert loaded.get_config()[key] == value


def test_registry_presets_and_clear_errors():
  for name, expect in (("stl", dict(estimator="stl")), ("dreg", dict(estimator="dreg")),
                       ("miwae", dict(objective="miwae")), ("ciwae", dict(beta=0.5)),
                       ("piwae", dict(objective="piwae"))):
    model = tfiw.get_method(name)(input_dim=4, latent_dims=[2], hidden=[4])
    assert type(model) is tfiw.IWAE
    assert all(model.get_config()[k] == v for k, v in expect.items())
  iwae = tfiw.IWAE(input_dim=4)
  assert (iwae.estimator.name, iwae.objective.name) == ("reparameterized", "iwae")
  with pytest.raises(ValueError, match="valid estimators.*dreg"):
    tfiw.IWAE(input_dim=4, estimator="dreg2")
  with pytest.raises(ValueError, match="valid objectives.*piwae"):
    tfiw.IWAE(input_dim=4, objective="tiwae")
  with pytest.raises(ValueError, match="unknown option.*num_groups"):
    tfiw.IWAE(input_dim=4, num_groups=4)  # only for miwae/piwae
  with pytest.raises(ValueError, match="beta in"):
    tfiw.IWAE(input_dim=4, objective="ciwae", beta=1.5)
  with pytest.raises(ValueError, match="unknown option.*beta"):
    tfiw.IWAE(input_dim=4, beta=0.5)
  with pytest.raises(ValueError, match="valid"):
    diagnostics.snr_sweep(iwae, np.zeros((2, 4)), estimators=["dreg2"])


def test_snr_shape_on_linear_gaussian(lg, tmp_path):
  """Rainforth et al.: IWAE's φ-SNR falls with K while θ's rises; DReG's φ-SNR does not
  fall. Perturbed q, 60 draws, K = 1 vs 100."""
  lgm, x = lg
  model = lgm.keras_model(tfiw.IWAE, q_loc_shift=0.3, q_scale_factor=1.3)
  res = diagnostics.snr_sweep(model, x, ("iwae", "dreg"), ks=(1, 100), num_draws=60,
                              jit_compile=False)
  iw, dr = res["estimators"]["iwae"], res["estimators"]["dreg"]
  assert iw["phi"][1]["snr_mean"] < 0.5 * iw["phi"][0]["snr_mean"]
  assert iw["theta"][1]["snr_mean"] > 2.0 * iw["theta"][0]["snr_mean"]
  assert dr["phi"][1]["snr_mean"] > dr["phi"][0]["snr_mean"]
  assert dr["phi"][1]["snr_mean"] > 3.0 * iw["phi"][1]["snr_mean"]
  diagnostics.plot_snr(res, str(tmp_path / "snr.png"))
  assert os.path.getsize(tmp_path / "snr.png") > 1000


def test_gradient_snr_generic_grad_fn():
  """Any (θ, φ) gradient sampler works: a known Gaussian gives SNR = |mu| / sigma."""
  def grad_fn(seed):
    g = tf.random.stateless_normal([2000], seed) * 2.0 + 1.0
    return g, tf.zeros([0])
  stats = diagnostics.gradient_snr(grad_fn, num_draws=200)
  assert abs(stats["theta"]["snr_mean"] - 0.5) < 0.05
  assert stats["phi"]["num_params"] == 0


def test_diagnose_tool_runs(tmp_path):
  out = tmp_path / "snr"
  cmd = [sys.executable, "-m", "zoo.diagnose", "--config=configs/dreg.py:runlocal",
         f"--out={out}", "--ks=1,3", "--num_draws=3", "--batch_size=2",
         "--estimators=iwae,dreg", "--nojit_compile"]
  env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  import json
  res = json.loads((out / "snr.json").read_text())
  assert res["estimators"]["dreg"]["K"] == [1, 3] and res["num_draws"] == 3
  assert (out / "snr.png").stat().st_size > 1000
