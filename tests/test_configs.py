"""Every config loads with ``runlocal``, passes the trainer's validation, builds its model
and runs a training step; every paper row loads and validates."""
import glob
import importlib
import os

import keras
import numpy as np
import pytest

from zoo import trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOT_CONFIGS = {"__init__", "common", "sbn_common"}
METHOD_CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(f"{REPO}/configs/*.py")
                        if os.path.basename(p)[:-3] not in NOT_CONFIGS)
# The estimators that support both latent families, on the family they do not default to.
VARIANTS = ["rws:latents=bernoulli", "vimco:latents=gaussian", "nvil:latents=gaussian",
            "reinforce:latents=gaussian", "vr:alpha=0.2,layers=2", "dreg:rws"]


def _config(spec):
  name, _, arg = spec.partition(":")
  return importlib.import_module(f"configs.{name}").get_config(
      ",".join(filter(None, [arg, "runlocal"])))


def test_every_config_is_listed():
  assert {"iwae", "vae", "rws", "rem", "vimco", "nvil", "reinforce", "vr", "vae_dgp",
          "iwae_r"} <= set(METHOD_CONFIGS)


@pytest.mark.parametrize("spec", METHOD_CONFIGS + VARIANTS)
def test_config_runs_a_step_with_runlocal(spec):
  cfg = _config(spec)
  trainer.validate_config(cfg)
  assert cfg.train.steps_per_epoch == 5 and cfg.eval.num_samples <= 20  # runlocal applied
  gaussian = cfg.data.name == "frey_faces"
  dim = 560 if gaussian else 784
  rng = np.random.default_rng(0)
  x = (rng.random((cfg.data.batch_size, dim)) if gaussian
       else (rng.random((cfg.data.batch_size, dim)) < 0.3)).astype(np.float32)
  model = trainer.build_model(cfg, dim, "gaussian" if gaussian else "bernoulli")
  model.init_from_data(x)
  # Eagerly: every method's XLA step is compiled in test_models (per METHODS entry); here
  # the config -> model -> step path is what is checked, without the cost of tracing.
  model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False, run_eagerly=True)
  logs = model.fit(x, batch_size=cfg.data.batch_size, epochs=1, verbose=0).history
  assert all(np.isfinite(v[-1]) for v in logs.values()), logs
  latents = cfg.method.get("latents")
  if latents:
    assert model.latents.name == latents


@pytest.mark.parametrize("table", sorted(os.path.basename(p)[:-3] for p in
                                         glob.glob(f"{REPO}/configs/papers/*.py")
                                         if not p.endswith(("__init__.py", "common.py"))))
def test_every_paper_row_loads_and_validates(table):
  module = importlib.import_module(f"configs.papers.{table}")
  for row in module.ROWS:
    for arg in (f"row={row}", f"row={row},runlocal"):
      cfg = module.get_config(arg)
      trainer.validate_config(cfg)
      # pinned, not "auto": resume points recorded without the fields are float32
      assert (cfg.train.precision, cfg.eval.precision) == ("float32", "float32"), row
      if "runlocal" in arg:
        assert cfg.train.steps_per_epoch == 5
