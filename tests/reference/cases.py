"""The pinned cases of tests/test_reference_values.py: one small model per method and
option that changes the math, fixed weights (a function of each variable's group, index
and shape, not of Keras's initialisation order), fixed data and seed.

``measure`` records, per case: the reported bound, each group's loss, the metrics, and per
variable group the gradient's norm and its dot product with a fixed random vector (so any
changed component shows); for fit cases also the weights after three XLA train steps.
"""
import numpy as np
import tensorflow as tf

import tfiw
from tfiw import testing

G1 = dict(latent_dims=[3], hidden=[8])
G2 = dict(latent_dims=[4, 3], hidden=[[8], [6]])
B1 = dict(latent_dims=[3], hidden=[[]])
B2 = dict(latent_dims=[4, 3], hidden=[[], [5]])

CASES = {
    "vae_l1": dict(method="vae", kw=G1),
    "vae_l2": dict(method="vae", kw=G2),
    "iwae_l1": dict(method="iwae", kw=G1, fit=True),
    "iwae_l2": dict(method="iwae", kw=G2),
    "stl_l2": dict(method="stl", kw=G2),
    "dreg_l2": dict(method="dreg", kw=G2),
    "dreg_rws_l2": dict(method="iwae", kw={**G2, "gradient": "dreg_rws"}),
    "miwae_l1": dict(method="miwae", kw={**G1, "num_groups": 2}),
    "ciwae_l1": dict(method="ciwae", kw={**G1, "beta": 0.3}),
    "piwae_l1": dict(method="piwae", kw={**G1, "num_groups": 2}),
    "miwae_dreg_l2": dict(method="iwae", kw={**G2, "objective": "miwae", "num_groups": 2,
                                             "gradient": "dreg"}),
    "piwae_stl_l1": dict(method="iwae", kw={**G1, "objective": "piwae", "num_groups": 2,
                                            "gradient": "stl"}),
    "rws_l1": dict(method="rws", kw=G1),
    "rws_l2": dict(method="rws", kw=G2),
    "rws_sleep_l2": dict(method="rws", kw={**G2, "phi_update": "sleep_phi"}, fit=True),
    "rws_mixed_l1": dict(method="rws", kw={**G1, "phi_update": "mixed"}),
    "rem_v1_l1": dict(method="rem", kw={**G1, "version": 1}),
    "rem_v2_l2": dict(method="rem", kw={**G2, "version": 2}),
    "rem_sample_l1": dict(method="rem", kw={**G1, "covariance": "sample",
                                            "cov_epsilon": 0.01}),
    "reinforce_l1": dict(method="reinforce", kw=B1),
    "reinforce_l2": dict(method="reinforce", kw=B2),
    "nvil_l1": dict(method="nvil", kw={**B1, "baseline_hidden": [4]}, fit=True),
    "nvil_plain_l2": dict(method="nvil", kw={**B2, "input_baseline": False,
                                             "variance_normalization": False}),
    "vimco_l1": dict(method="vimco", kw=B1),
    "vimco_l2": dict(method="vimco", kw=B2, fit=True),
    "iwae_r_both_l1": dict(method="iwae_r", kw=G1),
    "iwae_r_rec_l2": dict(method="iwae_r", kw={**G2, "random_weights": "recognition"}),
    "iwae_r_kl_l1": dict(method="iwae_r", kw={**G1, "kl_weight": 1.0, "num_train": 100,
                                              "gradient": "dreg"}),
    "vae_dgp_elbo": dict(method="vae_dgp", kw=dict(latent_dims=[2], hidden=[8], gp_hidden=[],
                                                   num_inducing=5, num_train=50,
                                                   likelihood="gaussian"), fit=True),
    "vae_dgp_iw": dict(method="vae_dgp", kw=dict(latent_dims=[2], hidden=[8], gp_hidden=[],
                                                 num_inducing=5, num_train=50,
                                                 likelihood="gaussian",
                                                 importance_weighted=True)),
    "vae_dgp_deep": dict(method="vae_dgp", kw=dict(latent_dims=[2], hidden=[8], gp_hidden=[3],
                                                   num_inducing=4, num_train=50,
                                                   likelihood="gaussian")),
}

D, B, K = 12, 5, 4
SEED = (3, 11)


def old_api(method, kw):
  return tfiw.get_method(method)(**kw)


def data(spec):
  x = testing.tiny_binary_data(n=B, dim=D, seed=4)
  if spec["kw"].get("likelihood") == "gaussian":
    rng = np.random.default_rng(5)
    x = (x + 0.3 * rng.standard_normal(x.shape)).astype(np.float32)
  return x


def variable_groups(model):
  """{group: variables}, non-empty groups only (today's ``variable_groups()``; the
  pre-redesign models had model/inference_variables and NVIL's baseline_variables)."""
  if hasattr(model, "variable_groups"):
    return {k: list(v) for k, v in model.variable_groups().items() if v}
  groups = {"model": model.model_variables, "inference": model.inference_variables}
  psi = getattr(model, "baseline_variables", None)
  if psi:
    groups["baseline"] = list(psi)
  return groups


def set_weights(model):
  """Every trainable variable set from (group, index, shape) alone."""
  for g, (group, variables) in enumerate(sorted(variable_groups(model).items())):
    for i, v in enumerate(variables):
      rng = np.random.default_rng(1000 * g + i)
      shape = tuple(v.shape)
      name = v.path if hasattr(v, "path") else v.name
      noise = rng.standard_normal(shape).astype(np.float32)
      if len(shape) == 2 and ("kernel" in name or "inducing" in name):
        value = noise * (0.8 / np.sqrt(shape[0])) if "kernel" in name else noise
      elif "q_sqrt" in name:
        value = np.tile(np.eye(shape[-1], dtype=np.float32)[None], (shape[0], 1, 1)) * 0.3 \
            + 0.02 * np.tril(noise)
      else:
        value = np.asarray(v.numpy(), np.float32) + 0.1 * noise
      v.assign(value)


def build(spec, api):
  x = data(spec)
  model = api(spec["method"], dict(input_dim=D, num_samples=K, seed=7, **spec["kw"]))
  model.build()
  set_weights(model)
  return model, x


def _project(grads, variables):
  flat = np.concatenate([np.zeros(int(np.prod(v.shape)), np.float64) if g is None
                         else np.asarray(g, np.float64).reshape(-1)
                         for g, v in zip(grads, variables)])
  rng = np.random.default_rng(99)
  r = rng.standard_normal(flat.shape)
  return {"norm": float(np.linalg.norm(flat)), "dot": float(flat @ r)}


def losses_of(step):
  """{group: loss} of a step's result, old (Losses) or new (Step) contract."""
  if hasattr(step, "losses") and isinstance(step.losses, dict):
    return dict(step.losses)
  return {"model": step.model_loss, "inference": step.inference_loss}


def metrics_of(step):
  if hasattr(step, "metrics") and isinstance(step.metrics, dict):
    return {k: float(tf.reduce_mean(v)) for k, v in step.metrics.items()}
  return {k: float(tf.reduce_mean(getattr(step, k))) for k in step._fields
          if k not in ("model_loss", "inference_loss", "bound")}


def measure(model, x, spec):
  groups = variable_groups(model)
  seed = tf.constant(SEED, tf.int32)
  xt = tf.constant(x)
  with tf.GradientTape(persistent=True) as tape:
    if spec["method"] == "nvil" and hasattr(model, "nvil_losses"):  # old API
      step, baseline_loss, _ = model.nvil_losses(xt, seed)
      losses = losses_of(step)
      losses["baseline"] = baseline_loss
    else:
      step = model.compute_losses(xt, seed)
      losses = losses_of(step)
  out = {"bound": float(tf.reduce_mean(step.bound)),
         "losses": {k: float(v) for k, v in losses.items()},
         "metrics": metrics_of(step),
         "shapes": {k: [list(v.shape) for v in vs] for k, vs in groups.items()},
         "grads": {}}
  for group, variables in groups.items():
    if group not in losses:
      continue
    out["grads"][group] = _project(tape.gradient(losses[group], variables), variables)
  del tape
  if spec.get("fit"):
    import keras
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=True)
    hist = model.fit(np.concatenate([x] * 3), batch_size=B, epochs=1, verbose=0,
                     shuffle=False)
    flat = np.concatenate([np.asarray(v.numpy(), np.float64).reshape(-1)
                           for vs in groups.values() for v in vs])
    r = np.random.default_rng(98).standard_normal(flat.shape)
    out["fit"] = {"logs": {k: float(v[-1]) for k, v in hist.history.items()},
                  "weights_dot": float(flat @ r),
                  "state": {v.name: float(v.numpy()) for v in model.non_trainable_variables
                            if v.shape == () and "signal" in v.name}}
  return out
