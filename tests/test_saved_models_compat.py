"""Models saved before the family x objective x estimator redesign still load, score the
same and resume training (``tests/data/pre_redesign``: how they were made is in its
log_prob.json; IWAE's old ``gradient``/``num_groups``/``beta`` config keys, IWAE-Rrec's
variable order, NVIL's baseline and VAE-DGP's ``importance_weighted`` are covered)."""
import json
import os

import keras
import numpy as np
import pytest

from tfiw.testing import tiny_binary_data

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pre_redesign")
with open(os.path.join(HERE, "log_prob.json")) as f:
  PINS = json.load(f)["log_prob"]


@pytest.mark.parametrize("name", sorted(PINS))
def test_a_pre_redesign_model_loads_scores_the_same_and_trains_on(name):
  model = keras.models.load_model(os.path.join(HERE, f"{name}.keras"))
  x = tiny_binary_data(20, 12) + (0.1 if name == "vae_dgp" else 0.0)
  got = model.log_prob(x[:4], num_samples=20, seed=1, jit_compile=False)
  np.testing.assert_allclose(got, PINS[name], rtol=1e-5)
  model.jit_compile = False  # (the saved XLA setting would only cost compile time here)
  before = model.optimizer.iterations.numpy()
  model.fit(x, batch_size=10, epochs=1, verbose=0)  # the optimizer's saved slots fit
  assert model.optimizer.iterations.numpy() == before + 2
