"""The precision choice (``tfiw.precision``, issue 17): float32 changes nothing, bfloat16
narrows only the networks' matmuls, and its numbers stay close to float32's."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import tfiw
from configs import iwae as iwae_config
from tfiw import evaluation, precision
from tfiw.testing import LinearGaussian, tiny_binary_data
from zoo import trainer


def tiny_model(**kwargs):
  keras.utils.set_random_seed(0)
  model = tfiw.IWAE(input_dim=12, latent_dims=[4], hidden=[16], num_samples=5, seed=0, **kwargs)
  model.build()
  return model


def train(model, x, steps, batch=16, **compile_kwargs):
  """``steps`` steps in one epoch over x repeated (its rows in order)."""
  model.compile(keras.optimizers.Adam(1e-2), **compile_kwargs)
  data = np.tile(x, (-(-steps * batch // x.shape[0]), 1))[:steps * batch]
  model.fit(data, batch_size=batch, epochs=1, verbose=0, shuffle=False)
  return model


# ---- (a) "float32" is what tfiw always did ------------------------------------------------
def test_float32_is_bit_identical_to_not_passing_precision():
  x = tiny_binary_data()
  plain = train(tiny_model(), x, 8, jit_compile=True)
  f32 = train(tiny_model(), x, 8, jit_compile=True, precision="float32")
  assert f32.precision == "float32"
  for a, b in zip(plain.get_weights(), f32.get_weights()):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(plain.optimizer.variables, f32.optimizer.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  np.testing.assert_array_equal(
      evaluation.log_likelihood(plain, x[:8], num_samples=30),
      evaluation.log_likelihood(plain, x[:8], num_samples=30, precision="float32"))

  # Both of those went through compile's / the evaluator's precision code: compare with
  # a model that never did (Keras's own float32 layers), step and estimate.
  args = (tf.constant(x[:16]), tf.constant([0, 1]))
  fresh = tiny_model()
  expected = tf.nest.flatten(fresh._losses_and_grads(*args))
  direct = tf.function(lambda x, k, s: evaluation.make_estimator_fn(fresh)(x, k, s, 20))(
      tf.constant(x[:8]), tf.constant(30), tf.constant([0, 0]))[0].numpy()
  estimated = evaluation.log_likelihood(fresh, x[:8], num_samples=30, jit_compile=False,
                                        precision="float32")
  np.testing.assert_array_equal(estimated, direct)
  compiled = tiny_model()
  compiled.compile(keras.optimizers.Adam(), precision="float32")
  for a, b in zip(expected, tf.nest.flatten(compiled._losses_and_grads(*args))):
    np.testing.assert_array_equal(a, b)


# ---- (b) bfloat16: Dense kernels narrow, everything else wide --------------------------
def test_bfloat16_narrows_the_matmuls_only():
  x = tiny_binary_data()
  model = train(tiny_model(), x, 4, jit_compile=True, precision="bfloat16")
  assert model.precision == "bfloat16"
  dense = precision.network_dense_layers(model.precision_blocks())
  assert len(dense) == 5  # q: hidden, loc, raw_scale; p (Bernoulli): hidden, logits
  assert {l.compute_dtype for l in dense} == {"bfloat16"}
  assert {v.dtype for v in model.variables} <= {"float32", "int64"}
  assert {v.dtype for v in model.optimizer.variables} <= {"float32", "int64"}

  # The traced step: its matmuls run in bf16, its outputs and gradients are float32.
  fn = tf.function(model._losses_and_grads, autograph=False)
  graph = fn.get_concrete_function(tf.constant(x[:16]), tf.constant([0, 1])).graph
  def matmul_types(g):
    types = [op.get_attr("T") for op in g.get_operations() if op.type == "MatMul"]
    for f in g._functions.values():  # nested functions (Keras's layer calls)
      types += matmul_types(f.graph) if hasattr(f, "graph") else []
    return types
  types = matmul_types(graph)
  assert types and set(types) == {tf.bfloat16}, types
  out, grads = model._losses_and_grads(tf.constant(x[:16]), tf.constant([0, 1]))
  assert out["bound"].dtype == tf.float32
  assert {l.dtype for l in out["losses"].values()} == {tf.float32}
  assert {g.dtype for g in grads} == {tf.float32}
  lw = model.log_weights(x[:4], 3, tf.constant([0, 2]))
  assert {t.dtype for t in (lw.log_w, lw.log_p, lw.log_q, *lw.zs)} == {tf.float32}


# ---- (c) bf16 evaluation agrees with float32 on the exact linear-Gaussian model -----------
# Tolerance: the 0.05 nats per example (bf16 keeps 8 significant bits, a relative
# error of ~0.4% on each network output).
EVAL_TOLERANCE = 0.05


def test_bfloat16_evaluation_matches_float32_on_the_linear_gaussian_model():
  lgm = LinearGaussian()
  model = lgm.keras_model(tfiw.IWAE, q_loc_shift=0.2, q_scale_factor=1.3)
  x = lgm.sample(64).astype(np.float32)
  f32 = evaluation.log_likelihood(model, x, num_samples=200, seed=3)
  bf16 = evaluation.log_likelihood(model, x, num_samples=200, seed=3, precision="bfloat16")
  assert not np.array_equal(f32, bf16)  # it did compute in bf16
  assert np.max(np.abs(bf16 - f32)) < EVAL_TOLERANCE, np.max(np.abs(bf16 - f32))
  # float32 again afterwards: the evaluation's precision did not stick to the model
  np.testing.assert_array_equal(evaluation.log_likelihood(model, x, num_samples=200, seed=3), f32)
  assert abs(np.mean(f32) - np.mean(lgm.log_marginal(x))) < 0.1  # (the exact answer)


# ---- (d) a short bf16 training run under XLA tracks the float32 one ----------------------
# Tolerance: 0.15 nats on the float32 K=200 bound of the training data (both runs start
# from the same weights, draw the same samples and take the same 320 steps).
TRAIN_TOLERANCE = 0.15


def test_bfloat16_training_reaches_the_float32_bound():
  x = tiny_binary_data()
  start = evaluation.log_likelihood(tiny_model(), x, num_samples=200).mean()
  nll = {}
  for p in ("float32", "bfloat16"):
    model = train(tiny_model(), x, 320, jit_compile=True, steps_per_execution=40, precision=p)
    nll[p] = evaluation.log_likelihood(model, x, num_samples=200).mean()
  assert nll["float32"] > start + 1.0  # it learned something
  assert abs(nll["bfloat16"] - nll["float32"]) < TRAIN_TOLERANCE, nll


# ---- (e) resolve and its table --------------------------------------------------------
def test_resolve_auto_is_float32_unless_the_table_says_otherwise(monkeypatch):
  for jit in (True, False):
    assert precision.resolve("auto", jit, kind="tpu") == "float32"  # not in the table
    assert precision.resolve("auto", jit) in precision.CONCRETE   # this machine
    assert precision.resolve("bfloat16", jit, kind="cpu") == "bfloat16"
  monkeypatch.setitem(precision.AUTO, ("cpu_amx", "tf"), "bfloat16")
  assert precision.resolve("auto", False, kind="cpu_amx") == "bfloat16"
  assert precision.resolve("auto", True, kind="cpu_amx") == "float32"  # the XLA path
  assert precision.resolve("auto", False, kind="cpu") == "float32"


def test_the_measured_table():
  """What the benchmark showed (docs/performance.md, "Precision"): XLA's CPU bf16 is
  slower than its float32 everywhere measured; TensorFlow's oneDNN bf16 is faster on
  AVX-512 BF16; CPUs without bf16 instructions stay float32."""
  for kind in ("cpu_amx", "cpu_avx512_bf16", "cpu"):
    assert precision.resolve("auto", True, kind=kind) == "float32"
  assert precision.resolve("auto", False, kind="cpu_avx512_bf16") == "bfloat16"
  assert precision.resolve("auto", False, kind="cpu") == "float32"


def test_device_kind_from_cpu_flags():
  assert precision.device_kind(True, {"amx_bf16"}) == "gpu"
  assert precision.device_kind(False, {"avx512f", "amx_bf16", "avx512_bf16"}) == "cpu_amx"
  assert precision.device_kind(False, {"avx512f", "avx512_bf16"}) == "cpu_avx512_bf16"
  assert precision.device_kind(False, {"avx2"}) == "cpu"
  assert precision.detect_device_kind() in precision.DEVICE_KINDS


def test_invalid_precision_lists_the_valid_ones():
  with pytest.raises(ValueError, match=r"\['float32', 'bfloat16', 'auto'\].*'fp16'"):
    precision.resolve("fp16", True)
  with pytest.raises(ValueError, match="'float32', 'bfloat16', 'auto'"):
    tiny_model().compile(keras.optimizers.Adam(), precision="half")
  with pytest.raises(ValueError, match="'float32', 'bfloat16', 'auto'"):
    evaluation.log_likelihood(tiny_model(), tiny_binary_data()[:2], num_samples=2,
                              precision="bf16")


def test_saved_model_keeps_its_precision(tmp_path):
  model = train(tiny_model(), tiny_binary_data(), 4, jit_compile=True, precision="bfloat16")
  model.save(tmp_path / "m.keras")
  loaded = keras.saving.load_model(tmp_path / "m.keras")
  assert loaded.get_compile_config()["precision"] == "bfloat16"
  assert loaded.precision == "bfloat16"
  assert {l.compute_dtype for l in precision.network_dense_layers(loaded.precision_blocks())} == {
      "bfloat16"}


# ---- (f) config fields -----------------------------------------------------------------
def test_config_precision_fields():
  cfg = iwae_config.get_config("runlocal")
  assert cfg.train.precision == "auto" and cfg.eval.precision == "auto"
  trainer.validate_config(cfg)
  resolved = trainer.resolve_precisions(cfg)
  assert resolved.train.precision in precision.CONCRETE
  assert resolved.eval.precision in precision.CONCRETE
  assert cfg.train.precision == "auto"  # a copy
  cfg.train.precision = "fp16"
  with pytest.raises(trainer.ConfigError, match=r"train.precision 'fp16'.*valid"):
    trainer.validate_config(cfg)
  # A run recorded before the fields existed ran float32, and compares as such.
  old = cfg.to_dict()
  del old["train"]["precision"], old["eval"]["precision"]
  filled = trainer.with_added_fields(old)
  assert filled["train"]["precision"] == filled["eval"]["precision"] == "float32"
  assert "precision" not in old["train"]
