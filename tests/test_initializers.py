"""tfiw.initializers.yburda_iwae against a NumPy transcription of yburda/iwae ``nnet.py``."""
import keras
import numpy as np
import pytest

from configs import common
from tfiw import initializers
from tfiw.testing import tiny_binary_data
from zoo import trainer


def _linear_random(n_in, n_out):
  """yburda/iwae nnet.Linear.random(n_in, n_out): factor 1, seed 123 for every layer."""
  scale = np.sqrt(6.0 / (n_in + n_out))
  return np.random.RandomState(123).uniform(low=-scale, high=scale, size=(n_in, n_out))


def _dense(model):
  return {layer.path: layer for layer in model._flatten_layers()
          if isinstance(layer, keras.layers.Dense)}


def _model(init):
  cfg = common.get_config("runlocal")
  cfg.model.latent_dims, cfg.model.hidden, cfg.model.init = [3], [[5, 5]], init
  x = tiny_binary_data(40, 12)
  return trainer.initial_model(cfg, x), x


def test_every_kernel_is_the_released_codes_draw_and_biases_are_kept():
  model, x = _model("yburda_iwae")
  dense = _dense(model)
  assert len(dense) == 7  # q: 2 hidden + loc + raw_scale; p: 2 hidden + logits
  for layer in dense.values():
    np.testing.assert_allclose(layer.kernel.numpy(), _linear_random(*layer.kernel.shape),
                               rtol=1e-6)
  heads = [l.kernel.numpy() for p, l in dense.items() if p.endswith(("/loc", "/raw_scale"))]
  assert len(heads) == 2 and np.array_equal(*heads)  # their mean and sigma nets start equal
  # The output bias still holds the logit of the clipped training mean (init_from_data).
  again, _ = _model("keras")
  biases = lambda m: [l.bias.numpy() for l in _dense(m).values()]
  for b, b0 in zip(biases(model), biases(again)):
    np.testing.assert_array_equal(b, b0)
  assert sum(np.abs(b).sum() > 0 for b in biases(model)) == 1


def test_keras_init_draws_each_layer_on_its_own_and_a_typo_is_refused():
  model, _ = _model("keras")
  heads = [l.kernel.numpy() for p, l in _dense(model).items()
           if p.endswith(("/loc", "/raw_scale"))]
  assert not np.allclose(*heads)
  cfg = common.get_config("runlocal")
  cfg.model.init = "yburda"
  with pytest.raises(trainer.ConfigError, match="model.init.*did you mean 'yburda_iwae'"):
    trainer.validate_config(cfg)


def test_a_model_without_dense_layers_is_refused():
  with pytest.raises(ValueError, match="no Dense layers"):
    initializers.yburda_iwae(keras.Sequential([keras.layers.Identity()]))
