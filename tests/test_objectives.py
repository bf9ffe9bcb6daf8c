"""The objective axis (VR-IWAE above all) and the composition's refusals.

Closed forms: VR at α=0 is IWAE exactly; ELBO <= VR_α <= IWAE draw by draw (power-mean
inequality), decreasing in α, tending to the ELBO as α -> 1; on the linear-Gaussian model
VR equals log p(x) exactly when q is the exact posterior, stays below it otherwise and
increases with K; its DReG form is unbiased for its reparameterised φ-gradient and zero at
the exact posterior.
"""
import numpy as np
import pytest
import tensorflow as tf

import tfiw
from tfiw import bounds, objectives, testing

RNG = np.random.default_rng(0)
LOG_W = tf.constant(RNG.normal(scale=3.0, size=(7, 5)), tf.float32)


def vr(alpha):
  return objectives.get_objective("vr", alpha=alpha)


def test_vr_at_alpha_zero_is_the_iwae_bound_exactly():
  np.testing.assert_array_equal(vr(0.0).value(LOG_W), bounds.iwae_bound(LOG_W))


def test_vr_lies_between_elbo_and_iwae_decreasing_in_alpha():
  elbo, iwae = bounds.elbo(LOG_W).numpy(), bounds.iwae_bound(LOG_W).numpy()
  previous = iwae
  for alpha in (0.1, 0.3, 0.5, 0.8, 0.95):
    value = vr(alpha).value(LOG_W).numpy()
    assert np.all(value >= elbo - 1e-5) and np.all(value < previous), alpha  # strictly
    previous = value


def test_vr_tends_to_the_elbo_as_alpha_tends_to_one():
  gaps = [np.max(np.abs(vr(a).value(LOG_W) - bounds.elbo(LOG_W))) for a in (0.9, 0.99, 0.999)]
  assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.05, gaps


def test_vr_options_are_checked():
  for alpha in (1.0, -0.1, 2, "x"):
    with pytest.raises(ValueError, match="alpha in \\[0, 1\\)"):
      vr(alpha)
  with pytest.raises(ValueError, match="valid: \\['alpha'\\]"):
    objectives.get_objective("vr", beta=0.5)
  with pytest.raises(ValueError, match="valid objectives"):
    objectives.get_objective("renyi")


LGM = testing.LinearGaussian(data_dim=6, latent_dim=3, seed=0)
X = LGM.sample(8, seed=1).astype(np.float32)
EXACT = LGM.log_marginal(X)


def vr_model(alpha, k, shift=0.0, widen=1.0, **kwargs):
  return LGM.keras_model(tfiw.LatentVariableModel, q_loc_shift=shift, q_scale_factor=widen,
                         objective="vr", alpha=alpha, num_samples=k, **kwargs)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9])
def test_vr_equals_log_p_x_with_the_exact_posterior(alpha):
  step = vr_model(alpha, 5).compute_losses(X, tf.constant([1, 2]))
  np.testing.assert_allclose(step.bound, EXACT, atol=2e-4)


def _mean_bound(model, draws=100):
  return np.mean([model.compute_losses(X, tf.constant([3, s])).bound.numpy()
                  for s in range(draws)], axis=0)


def test_vr_is_below_log_p_x_and_increases_with_k():
  means = {k: _mean_bound(vr_model(0.5, k, shift=0.4, widen=1.5)) for k in (1, 5, 50)}
  for k, m in means.items():
    assert np.all(m < EXACT), (k, m - EXACT)
  assert means[1].mean() < means[5].mean() < means[50].mean(), {k: m.mean() for k, m in means.items()}
  iwae = _mean_bound(vr_model(0.0, 50, shift=0.4, widen=1.5))
  assert np.all(means[50] < iwae)  # decreasing in alpha, in expectation too


def _phi_grads(model, seed):
  with tf.GradientTape() as tape:
    step = model.compute_losses(X, tf.constant([5, seed]))
  return np.concatenate([np.reshape(g, -1) for g in tape.gradient(
      step.inference_loss, model.inference_variables)])


def test_vr_dreg_is_zero_at_the_exact_posterior():
  g = _phi_grads(vr_model(0.5, 5, estimator="dreg"), 0)
  assert np.max(np.abs(g)) < 1e-4, np.max(np.abs(g))


def test_vr_dreg_is_unbiased_for_the_reparameterised_gradient():
  """E[DReG φ-gradient] = E[reparameterised φ-gradient] (paired draws, same seeds); a
  DReG form with the IWAE weights s² instead of α s + (1-α) s² fails this."""
  kw = dict(shift=0.5, widen=1.6)
  rep, dreg = vr_model(0.5, 4, **kw), vr_model(0.5, 4, estimator="dreg", **kw)
  diffs = np.stack([_phi_grads(dreg, s) - _phi_grads(rep, s) for s in range(60)])
  mean, se = diffs.mean(0), diffs.std(0, ddof=1) / np.sqrt(len(diffs))
  z = np.abs(mean) / np.maximum(se, 1e-8)
  assert np.max(z) < 4.5, (np.max(z), mean[np.argmax(z)])
  assert np.max(se) > 0  # the two estimators do differ draw by draw


@pytest.mark.parametrize("kwargs,message", [
    (dict(estimator="rws", objective="vr"), "estimator 'rws' does not support"),
    (dict(estimator="rem", latents="bernoulli"), "estimator 'rem' does not support"),
    (dict(estimator="stl", latents="bernoulli"), "estimators for this family and objective"),
    (dict(estimator="nvil", objective="iwae"), "supports families"),
    (dict(estimator="dreg_rws", objective="vr"), "does not support"),
    (dict(estimator="vimco", num_samples=1), "num_samples >= 2"),
    (dict(estimator="reinforce", phi_update="mixed"), "unknown option"),
    (dict(estimator="tweedie"), "valid estimators"),
])
def test_unsupported_combinations_are_refused_with_the_valid_ones(kwargs, message):
  with pytest.raises(ValueError, match=message):
    tfiw.LatentVariableModel(input_dim=4, latent_dims=[2], hidden=[3], **kwargs)


def test_the_refusal_lists_the_estimators_that_do_support_the_pair():
  with pytest.raises(ValueError) as e:
    tfiw.LatentVariableModel(input_dim=4, latent_dims=[2], estimator="rem", latents="bernoulli")
  # Bernoulli latents with the (default) IWAE objective: not nvil (ELBO only), not pathwise.
  assert "estimators for this family and objective: ['reinforce', 'rws', 'vimco']" in str(e.value)


def test_every_registered_method_builds_with_its_family_objective_and_estimator():
  for name, method in tfiw.METHODS.items():
    kw = dict(input_dim=4, latent_dims=[2], hidden=[3], num_samples=2)
    if name == "vae_dgp":
      kw.update(likelihood="gaussian", num_inducing=3, num_train=10, hidden=[3])
    model = method(**kw)
    assert (model.family, model.objective.name, model.estimator.name) == (
        method.family, method.objective, method.estimator), name


def test_vr_trains_under_xla_evaluates_and_exports(tmp_path):
  """The VR-IWAE method end to end: XLA fit from the registry, K=50 evaluation, a
  SavedModel whose log_prob is the model's estimate (same K, seed and kernels)."""
  import keras
  from tfiw import export
  x = testing.tiny_binary_data(40, 12)
  model = tfiw.get_method("vr")(input_dim=12, latent_dims=[3], hidden=[8], num_samples=5,
                                alpha=0.5)
  model.init_from_data(x)
  model.compile(keras.optimizers.Adam(3e-3), jit_compile=True)
  hist = model.fit(x, batch_size=20, epochs=3, verbose=0).history
  assert hist["bound"][-1] > hist["bound"][0] and np.all(np.isfinite(hist["loss"]))
  log_p = model.log_prob(x[:6], num_samples=50, seed=3)
  assert np.all(np.isfinite(log_p)) and np.all(log_p < 0)
  path = str(tmp_path / "vr_savedmodel")
  export.export_savedmodel(model, path, num_samples=50, seed=3)
  loaded = tf.saved_model.load(path)
  got = loaded.signatures["log_prob"](x=tf.constant(x[:6]))["log_prob"].numpy()
  # The signature runs TensorFlow's kernels (no XLA): the same numbers as evaluating so.
  want = model.log_prob(x[:6], num_samples=50, seed=3, jit_compile=False)
  np.testing.assert_allclose(got, want, rtol=1e-5)
