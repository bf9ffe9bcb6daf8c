"""tfiw.optimizers.YburdaAdam against a NumPy transcription of yburda/iwae ``optimizers.py``."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import common
from tfiw import optimizers
from zoo import trainer


def _theano_adam(theta, grads, lr, beta_1=0.99, beta_2=0.999):
  """yburda/iwae's Adam with Theano's semantics: every update of a step reads the values from
  before the step (timestep from 1, m from zeros, v from ones), here as descent on a loss."""
  t, m, v = 1.0, np.zeros_like(theta), np.ones_like(theta)
  for g in grads:
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    theta, m, v, t = (theta - alpha * m / (np.sqrt(v) + 1e-4), beta_1 * m + (1 - beta_1) * g,
                      beta_2 * v + (1 - beta_2) * g**2, t + 1)
  return theta


@pytest.mark.parametrize("jit", [False, True])
def test_yburda_adam_matches_the_released_code(jit):
  rng = np.random.default_rng(0)
  theta0 = rng.normal(size=(3, 2)).astype(np.float32)
  grads = rng.normal(size=(6, 3, 2)).astype(np.float32) * 0.5
  var = tf.Variable(theta0)
  # Fed the gradient of a 4-example mean, it steps as their code does on the sum.
  opt = optimizers.YburdaAdam(learning_rate=0.1, gradient_scale=4)
  opt.build([var])

  @tf.function(jit_compile=jit)
  def step(g):
    opt.apply([g], [var])

  for g in grads:
    step(tf.constant(g))
  np.testing.assert_allclose(var.numpy(), _theano_adam(theta0, 4 * grads, 0.1), rtol=1e-5,
                             atol=1e-6)
  # Keras's Adam (moments of this step, v from zeros, beta1 0.9) is far from it.
  keras_var = tf.Variable(theta0)
  k = keras.optimizers.Adam(0.1, epsilon=1e-4)
  k.build([keras_var])
  for g in grads:
    k.apply([tf.constant(g)], [keras_var])
  assert np.abs(keras_var.numpy() - var.numpy()).max() > 0.1


def test_the_config_chooses_the_optimizer():
  cfg = common.get_config("runlocal")
  assert type(trainer.build_optimizer(cfg, 10)).__name__ == "Adam"
  cfg.optim.adam = "yburda_iwae"
  opt = trainer.build_optimizer(cfg, 10)
  assert isinstance(opt, optimizers.YburdaAdam)
  assert (opt.beta_1, opt.epsilon, opt.gradient_scale) == (0.99, cfg.optim.adam_epsilon,
                                                          cfg.data.batch_size)
  cfg.optim.adam = "yburda"
  with pytest.raises(trainer.ConfigError, match="optim.adam"):
    trainer.validate_config(cfg)
