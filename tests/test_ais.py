"""AIS and BDMC (tfiw.ais) against exact log p(x) and against the IWAE estimate."""
import numpy as np
import pytest
import tensorflow as tf

import tfiw
from tfiw import ais
from tfiw.models.iwae_r import IWAER
from tfiw.models.vae_dgp import VAEDGP
from tfiw.testing import DeepLinearGaussian, LinearGaussian


def test_sigmoid_schedule_runs_from_zero_to_one():
  b = ais.sigmoid_schedule(50)
  assert b.shape == (51,) and b[0] == 0.0 and b[-1] == 1.0 and np.all(np.diff(b) > 0)


@pytest.mark.parametrize("lg,jit_compile", [
    (LinearGaussian(), True), (DeepLinearGaussian(6, (4, 2), (0.7, 0.6), seed=2), False)],
                         ids=["1 layer, XLA", "2 layers"])
def test_ais_recovers_the_exact_log_px_of_the_linear_gaussian_model(lg, jit_compile):
  """From a poor q (IWAE with 16 samples is 0.2-1.4 nats low) AIS gets within 0.05 nats on
  average."""
  x = lg.sample(10).astype(np.float32)
  model = lg.keras_model(tfiw.IWAE, q_loc_shift=0.5, q_scale_factor=1.3)
  exact = lg.log_marginal(x)
  result = ais.ais_log_likelihood(model, x, num_chains=16, num_steps=500, leapfrog_steps=5,
                                  verbose=0, jit_compile=jit_compile)
  assert abs(np.mean(result.log_likelihood - exact)) < 0.05
  assert np.all(np.abs(result.log_likelihood - exact) < 0.6)
  assert 0.5 < result.acceptance.mean() < 0.8   # the pilot tuned the step size
  iwae = model.log_prob(x, num_samples=16, seed=0, verbose=0)
  assert np.mean(exact - iwae) > 0.15            # the test has something to recover


@pytest.fixture(scope="module")
def nonlinear():
  """A small Bernoulli model with a deliberately poor q (encoder bias shifted)."""
  tf.keras.utils.set_random_seed(0)
  model = tfiw.IWAE(input_dim=12, latent_dims=[3], hidden=[16], num_samples=5, seed=0)
  model.build()
  for v in model.decoder_blocks[0].weights:
    v.assign(v * 3.0)  # a sharper, more nonlinear decoder
  bias = model.encoder_blocks[0].head.loc.bias
  bias.assign(bias + 1.0)
  x, _ = model.dream(20, tf.constant([3, 4]))
  return model, x.numpy()


def test_ais_is_above_iwae_on_a_nonlinear_model(nonlinear):
  model, x = nonlinear
  result = ais.ais_log_likelihood(model, x, num_chains=8, num_steps=200, leapfrog_steps=5,
                                  verbose=0, jit_compile=False)
  iwae = model.log_prob(x, num_samples=100, seed=0, verbose=0)
  diff = result.log_likelihood - iwae
  assert diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(len(diff)), (diff.mean(), diff.std())


def test_bdmc_sandwiches_and_its_gap_shrinks_with_more_steps(nonlinear):
  model, _ = nonlinear
  gaps = []
  for steps in (10, 200):
    x, lower, upper = ais.bdmc(model, 10, num_chains=4, num_steps=steps, leapfrog_steps=5,
                               verbose=0, jit_compile=False, seed=5)
    gap = upper.log_likelihood - lower.log_likelihood
    assert gap.mean() > 0, (steps, gap)
    gaps.append(gap.mean())
  assert gaps[1] < 0.5 * gaps[0], gaps


def test_bdmc_closes_on_the_exact_value():
  """Both directions converge to the exact log p(x) of simulated data (their order, clear
  far from convergence, is tested above; here the two are within noise of each other)."""
  lg = DeepLinearGaussian(6, (4, 2), (0.7, 0.6), seed=2)
  model = lg.keras_model(tfiw.IWAE, q_loc_shift=0.8, q_scale_factor=1.6)
  x, lower, upper = ais.bdmc(model, 8, num_chains=8, num_steps=300, leapfrog_steps=5,
                             verbose=0, jit_compile=False)
  exact = lg.log_marginal(x)
  assert abs(np.mean(lower.log_likelihood - exact)) < 0.1
  assert abs(np.mean(upper.log_likelihood - exact)) < 0.1


def test_models_ais_does_not_apply_to_are_refused():
  with pytest.raises(ValueError, match="discrete"):
    ais.check_model(tfiw.get_method("vimco")(input_dim=4, latent_dims=[3], hidden=[]))
  with pytest.raises(ValueError, match="IWAE-R"):
    ais.check_model(IWAER(input_dim=4, latent_dims=[2], hidden=[4]))
  with pytest.raises(ValueError, match="one GP layer"):
    ais.check_model(VAEDGP(input_dim=4, latent_dims=[2], gp_hidden=[3]))
  ais.check_model(VAEDGP(input_dim=4, latent_dims=[2], gp_hidden=[]))


def test_zoo_evaluate_with_the_ais_estimator(tmp_path, capsys):
  import json
  import os
  from configs import iwae as iwae_config
  from zoo import evaluate, trainer
  workdir = str(tmp_path / "run")
  trainer.train_and_evaluate(iwae_config.get_config("runlocal"), workdir)
  summary = evaluate.evaluate_run(workdir, num_samples=10, max_examples=4, estimator="ais",
                                  ais_chains=2, ais_steps=5, ais_leapfrog=2, jit_compile=False)
  out = capsys.readouterr().out
  assert "AIS log-likelihood (binarized_mnist, 2 chains, 5 steps, 4 examples):" in out
  saved = json.load(open(os.path.join(workdir, "evaluation.json")))["ais"]
  assert saved["num_examples"] == 4 and np.isfinite(saved["log_likelihood"])
  assert saved == summary["ais"]
