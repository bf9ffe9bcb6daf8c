"""Estimators with several stochastic layers, against the deep linear-Gaussian model
(``tfiw.testing.DeepLinearGaussian``: exact log p(x), and a q that can equal p(z | x)).

With q the exact posterior, log w = log p(x) for every joint sample, so ∂log w/∂z = 0
along every path and the STL, DReG and DReG-RWS φ-gradients are exactly zero draw by
draw. Stopping the gradient at q's outputs (loc, scale) instead of its parameters drops
the path through z_{l-1} in q(z_l | z_{l-1}) and breaks both this and unbiasedness.
"""
import numpy as np
import pytest
import tensorflow as tf

import tfiw
from tfiw import bounds
from tfiw.models.iwae_r import IWAER
from tfiw.testing import DeepLinearGaussian

DEEP = {2: dict(latent_dims=(4, 2), sigmas=(0.7, 0.6)),
        3: dict(latent_dims=(5, 3, 2), sigmas=(0.7, 0.6, 0.5))}


def _lg(layers):
  return DeepLinearGaussian(data_dim=6, seed=layers, **DEEP[layers])


def _grads(model, x, seed, loss="inference_loss", variables=None, k=None):
  variables = model.inference_variables if variables is None else variables
  with tf.GradientTape() as tape:
    losses = model.losses_from_log_weights(model.log_weights(x, k or model.num_samples,
                                               tf.constant(seed, tf.int32)))
    value = getattr(losses, loss)
  return [g.numpy() for g in tape.gradient(value, variables)]


@pytest.mark.parametrize("layers", [2, 3])
def test_log_weights_equal_exact_log_px_with_exact_q(layers):
  lg = _lg(layers)
  x = lg.sample(8).astype(np.float32)
  model = lg.keras_model(tfiw.IWAE)
  log_w = model.log_weights(x, 6, tf.constant([3, 4])).log_w.numpy()
  np.testing.assert_allclose(log_w, np.broadcast_to(lg.log_marginal(x), log_w.shape),
                             atol=3e-5)


@pytest.mark.parametrize("layers", [2, 3])
def test_deep_bounds_below_exact_and_tighten_with_k(layers):
  lg = _lg(layers)
  x = lg.sample(40, seed=2).astype(np.float32)
  exact = lg.log_marginal(x).mean()
  model = lg.keras_model(tfiw.IWAE, q_loc_shift=0.4, q_scale_factor=0.7)
  # Average over draws so the comparison is of expectations, not of one noisy estimate.
  values = []
  for k in (1, 5, 50):
    values.append(np.mean([bounds.iwae_bound(model.log_weights(
        x, k, tf.constant([s, k])).log_w).numpy().mean() for s in range(20)]))
  assert values[0] < values[1] < values[2] < exact, (values, exact)
  assert exact - values[0] > 0.5  # q is far enough from the posterior to see the gap


@pytest.mark.parametrize("layers", [2, 3])
@pytest.mark.parametrize("gradient", ["stl", "dreg", "dreg_rws"])
def test_phi_gradient_is_zero_draw_by_draw_at_exact_posterior(layers, gradient):
  lg = _lg(layers)
  x = lg.sample(6, seed=3).astype(np.float32)
  model = lg.keras_model(tfiw.IWAE, estimator=gradient, num_samples=5)
  for seed in ([0, 1], [5, 9], [11, 2]):
    worst = max(np.abs(g).max() for g in _grads(model, x, seed))
    assert worst < 2e-4, (gradient, seed, worst)
  # ... while the plain IWAE φ-gradient is not (its score term is zero only on average).
  plain = lg.keras_model(tfiw.IWAE, num_samples=5)
  assert max(np.abs(g).max() for g in _grads(plain, x, [0, 1])) > 1e-2


def _wake_phi_loss(model, x, k, seed):
  """-mean_b sum_k w~_k log q_φ(z_k | x) at the samples held constant: the RWS wake-φ
  direction (Le et al. 2019), computed here by its own walk down the encoder."""
  lw = model.log_weights(x, k, tf.constant(seed, tf.int32))
  w = tf.stop_gradient(tf.nn.softmax(lw.log_w, axis=0))
  h, log_q = tf.convert_to_tensor(x), 0.0
  for block, z in zip(model.encoder_blocks, lw.zs):
    z = tf.stop_gradient(z)
    loc, raw = block(h)  # the block's own network, independent of the family's walk
    log_q += tfiw.distributions.diag_gaussian(
        loc, tfiw.distributions.scale_from_raw(raw)).log_prob(z)
    h = z
  return -tf.reduce_mean(tf.reduce_sum(w * log_q, 0))


def _paired_z_scores(model_a, loss_a, model_b, loss_b, x, replicates):
  """Per-parameter z-scores of mean(∇a - ∇b) over ``replicates`` paired draws (each a
  batch of copies of x, so a replicate's gradient already averages len(x) draws)."""
  diffs = []
  for r in range(replicates):
    ga = loss_a(r)
    gb = loss_b(r)
    diffs.append(np.concatenate([(a - b).ravel() for a, b in zip(ga, gb)]))
  diffs = np.stack(diffs)
  se = diffs.std(0, ddof=1) / np.sqrt(replicates)
  return diffs.mean(0) / np.maximum(se, 1e-12), diffs


def _tape(model, fn):
  with tf.GradientTape() as tape:
    value = fn()
  return [g.numpy() for g in tape.gradient(value, model.inference_variables)]


@pytest.fixture(scope="module")
def deep_pair():
  lg = _lg(2)
  x0 = lg.sample(1, seed=5).astype(np.float32)
  x = np.repeat(x0, 50, 0)  # 50 independent draws per replicate for one example
  return lg, x


def test_dreg_phi_gradient_is_unbiased_for_iwae_with_two_layers(deep_pair):
  lg, x = deep_pair
  dreg = lg.keras_model(tfiw.IWAE, estimator="dreg", q_loc_shift=0.3, q_scale_factor=1.4,
                        num_samples=5)
  iwae = lg.keras_model(tfiw.IWAE, q_loc_shift=0.3, q_scale_factor=1.4, num_samples=5)
  z, diffs = _paired_z_scores(
      dreg, lambda r: _grads(dreg, x, [r, 17]), iwae, lambda r: _grads(iwae, x, [r, 17]),
      x, replicates=40)
  assert np.abs(z).max() < 4.5, np.sort(np.abs(z))[-5:]
  # Power: DReG's variance is lower than IWAE's, so the difference is not just noise.
  assert np.abs(diffs).max() > 1e-3


def test_dreg_rws_is_unbiased_for_the_wake_phi_direction_with_two_layers(deep_pair):
  lg, x = deep_pair
  model = lg.keras_model(tfiw.IWAE, estimator="dreg_rws", q_loc_shift=0.3,
                         q_scale_factor=1.4, num_samples=5)
  z, _ = _paired_z_scores(
      model, lambda r: _grads(model, x, [r, 23]),
      model, lambda r: _tape(model, lambda: _wake_phi_loss(model, x, 5, [r, 23])),
      x, replicates=40)
  assert np.abs(z).max() < 4.5, np.sort(np.abs(z))[-5:]


def test_theta_gradient_of_dreg_equals_iwae_with_two_layers():
  lg = _lg(2)
  x = lg.sample(7, seed=4).astype(np.float32)
  kw = dict(q_loc_shift=0.3, q_scale_factor=1.4, num_samples=4)
  a, b = lg.keras_model(tfiw.IWAE, estimator="dreg", **kw), lg.keras_model(tfiw.IWAE, **kw)
  for ga, gb in zip(_grads(a, x, [1, 2], "model_loss", a.model_variables),
                    _grads(b, x, [1, 2], "model_loss", b.model_variables)):
    np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gradient", ["stl", "dreg"])
def test_iwae_r_recognition_path_stops_parameters_not_outputs(gradient):
  """IWAE-Rrec with (almost) deterministic weights at the exact posterior means: its STL
  and DReG φ-gradients vanish too (the frozen re-evaluation reuses the weight draw)."""
  lg = _lg(2)
  x = lg.sample(6, seed=3).astype(np.float32)
  model = IWAER(input_dim=6, latent_dims=lg.latent_dims, hidden=[], likelihood="gaussian",
                random_weights="recognition", init_stddev=1e-6, estimator=gradient,
                num_samples=5)
  model.build()
  reference = lg.keras_model(tfiw.IWAE)
  for bayes, block in zip(model.encoder_blocks, reference.encoder_blocks):
    for head, dense in zip(bayes.heads, (block.head.loc, block.head.raw_scale)):
      head.kernel_loc.assign(dense.kernel)
      head.bias_loc.assign(dense.bias)
  for ours, theirs in zip(model.decoder_blocks, reference.decoder_blocks):
    for v, w in zip(ours.weights, theirs.weights):
      v.assign(w)
  worst = max(np.abs(g).max() for g in _grads(model, x, [4, 2]))
  assert worst < 2e-3, worst
