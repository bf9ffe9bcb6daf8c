"""Throughput benchmark: training steps/s and K=5000 evaluation, against the machine's own
matmul speed measured on the same shapes in the same run.

  python -m zoo.benchmark --out=docs/benchmark                # the default suite
  python -m zoo.benchmark --methods=iwae --layers=1 --settings=20x50 --jit=true --repeats=3

Utilisation = achieved model FLOP/s / measured matmul FLOP/s, where model FLOPs count the
matmuls only (forward 2*rows*in*out per Dense layer; a training step counts forward plus
backward as 3x forward) and the matmul rate is the fastest of TensorFlow's default
(oneDNN) kernel and XLA's on each of the model's own matmul shapes (for training also
each layer's two gradient matmuls, on their own shapes), at the record's own precision
(``--precision``: bfloat16 records are measured against bf16 matmuls; each shape is measured
once per run and shared by the records that use it). Timings exclude compilation and
warm-up; each figure is the median over repeats, with min and max.
Writes OUT.json and OUT.md.
"""
import functools
import json
import os
import platform
import statistics
import time

import keras
import numpy as np
import tensorflow as tf
from absl import flags

import tfiw
from tfiw import data as tfiw_data, distributions as dists, evaluation, precision as precision_lib
from configs.common import ARCHITECTURES
from zoo import cli

_METHODS = flags.DEFINE_list("methods", ["vae", "iwae"], "Methods from tfiw.METHODS.")
_LAYERS = flags.DEFINE_list("layers", ["1", "2"], "Stochastic layers (Burda architectures).")
_SETTINGS = flags.DEFINE_list("settings", ["20x50", "100x5"], "Training BATCHxK settings.")
_JIT = flags.DEFINE_list("jit", ["true", "false"], "jit_compile values to compare.")
_STEPS = flags.DEFINE_integer("steps", 300, "Training steps per timed repeat.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed repeats (median reported).")
_STEPS_PER_EXECUTION = flags.DEFINE_list("steps_per_execution", ["1", "10"],
                                          "Keras steps_per_execution values to compare.")
_XLA_RNG = flags.DEFINE_list("xla_rng", [dists.XLA_RNG_ALG], "RNG algorithms for XLA-compiled "
                             "steps to compare (threefry, philox, auto_select).")
_EVAL_EXAMPLES = flags.DEFINE_integer("eval_examples", 200, "Test examples for the K=5000 timing "
                                      "(0 skips evaluation).")
_EVAL_K = flags.DEFINE_integer("eval_k", 5000, "K for the evaluation timing.")
_EVAL_BATCH = flags.DEFINE_integer("eval_batch", evaluation.DEFAULT_BATCH, "Eval examples/block.")
_EVAL_CHUNK = flags.DEFINE_list("eval_chunk", ["0"], "Eval samples/chunk values to compare "
                                "(0: the device default).")
_AUTOTUNE = flags.DEFINE_list("autotune", ["false"], "tf.data autotuning of the training "
                              "pipeline to compare (tfiw turns it off; true shows why).")
_PRECISION = flags.DEFINE_list("precision", ["float32"], "Precisions to compare (float32, "
                                "bfloat16, auto: tfiw.precision); each record names the one "
                                "that ran.")
_DEVICE = flags.DEFINE_string("device", None, "e.g. /GPU:0 (default: TensorFlow's choice).")
_OUT = flags.DEFINE_string("out", "runs/benchmark", "Output path prefix (.json and .md).")


def matmul_shapes(model, batch, k):
  """[(rows, in, out)] of every Dense matmul in one forward pass over a batch and K samples.

  The first recognition block sees each example once (B rows); every other block runs
  once per importance sample (K*B rows).
  """
  shapes = []
  for i, block in enumerate(model.encoder_blocks + model.decoder_blocks):
    rows = batch if i == 0 else batch * k
    for layer in block._flatten_layers(include_self=False):
      if isinstance(layer, keras.layers.Dense):
        shapes.append((rows, int(layer.kernel.shape[0]), int(layer.kernel.shape[1])))
  return shapes


def flops(shapes):
  return sum(2 * r * i * o for r, i, o in shapes)


def _time(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return times


def _seconds(fn, repeats):
  fn().numpy()  # compile, warm up
  return min(_time(lambda: fn().numpy(), repeats))


@functools.lru_cache(maxsize=None)  # records of one run share shapes: measure each once
def _kernel_seconds(rows, n_in, n_out, transpose_a, jit, repeats, dtype=tf.float32):
  """Seconds for one [rows, n_in] x [n_in, n_out] matmul (the left operand stored
  transposed if ``transpose_a``), timed as ~1 GFLOP of matmuls on distinct inputs in one
  call so that the call's own cost (~0.2 ms) is amortised. Each product is consumed by a
  max (XLA cannot fold that into the matmul, as it can a sum or a slice); the max's own
  time, measured on tensors of the product's size, is subtracted unless that would
  remove more than half (tiny shapes, where both are call cost and noise). ``dtype``:
  of the operands and product (bf16 for the "bfloat16" precision's matmuls)."""
  reps = int(min(20, max(2, 1e9 / (2 * rows * n_in * n_out))))
  normal = lambda shape, seed=None: tf.cast(tf.random.normal(shape, seed=seed), dtype)
  lhs = [normal([n_in, rows] if transpose_a else [rows, n_in], seed=i) for i in range(reps)]
  w = normal([n_in, n_out])
  prods = [normal([rows, n_out]) for _ in range(reps)]
  matmuls = tf.function(lambda lhs, w: tf.add_n(
      [tf.reduce_max(tf.matmul(a, w, transpose_a=transpose_a)) for a in lhs]), jit_compile=jit)
  maxes = tf.function(lambda ps: tf.add_n([tf.reduce_max(p) for p in ps]), jit_compile=jit)
  with_max = _seconds(lambda: matmuls(lhs, w), repeats)
  net = with_max - _seconds(lambda: maxes(prods), repeats)
  return (net if net > with_max / 2 else with_max) / reps


def matmul_seconds(shapes, repeats=5, backward=False, precision="float32"):
  """Time of the matmuls of ``shapes`` [(rows, in, out)] at the fastest of TensorFlow's
  default (oneDNN) kernel and XLA's, each measured on that exact shape in ``precision``
  (a concrete one: the rate a record of that precision could reach).

  With ``backward`` every shape also brings its two gradient matmuls, measured on their
  own shapes: the input gradient [rows, out] x [out, in] and the kernel gradient
  [in, rows] x [rows, out] (a reduction over the rows). Returns (seconds, per-shape detail).
  """
  dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
  total, detail = 0.0, []
  for rows, n_in, n_out in sorted(set(shapes)):
    kernels = {"forward": (rows, n_in, n_out, False)}
    if backward:
      kernels.update(input_grad=(rows, n_out, n_in, False), kernel_grad=(n_in, rows, n_out, True))
    count = shapes.count((rows, n_in, n_out))
    fl = 2 * rows * n_in * n_out
    for name, (m, k, n, transpose_a) in kernels.items():
      best = {jit: _kernel_seconds(m, k, n, transpose_a, jit, repeats, dtype)
              for jit in (False, True)}
      total += count * min(best.values())
      detail.append({"shape": [rows, n_in, n_out], "kernel": name, "count": count,
                     "precision": precision,
                     "tf_gflops": fl / best[False] / 1e9, "xla_gflops": fl / best[True] / 1e9})
  return total, detail


def build(method, layers, k):
  arch = ARCHITECTURES[layers]
  return tfiw.get_method(method)(input_dim=784, latent_dims=arch["latent_dims"],
                                 hidden=arch["hidden"], num_samples=k, seed=0)


def bench_training(method, layers, batch, k, jit, spe, rng, autotune, x_train,
                   precision="float32"):
  keras.utils.set_random_seed(0)
  model = build(method, layers, k)
  model.set_output_bias(x_train.mean(0))
  model.compile(keras.optimizers.Adam(1e-3, epsilon=1e-4), jit_compile=jit,
                steps_per_execution=spe, precision=precision)
  ds = tfiw_data.train_dataset(x_train, batch, 0, False)
  if autotune:
    options = tf.data.Options()
    options.autotune.enabled = True
    ds = ds.with_options(options)
  steps = max(spe, _STEPS.value - _STEPS.value % spe)  # whole executions
  fit = lambda n: model.fit(ds, epochs=1, steps_per_epoch=n, verbose=0)
  default_alg = dists.XLA_RNG_ALG
  dists.XLA_RNG_ALG = rng  # read when the step is traced (the warm-up call)
  try:
    fit(max(20, spe * 2))  # compile + warm up
  finally:
    dists.XLA_RNG_ALG = default_alg
  rates = [steps / t for t in _time(lambda: fit(steps), _REPEATS.value)]
  shapes = matmul_shapes(model, batch, k)
  step_flops = 3 * flops(shapes)
  mm_seconds, detail = matmul_seconds(shapes, _REPEATS.value, backward=True,
                                      precision=model.precision)
  med = statistics.median(rates)
  return {
      "kind": "train", "method": method, "layers": layers, "batch": batch, "k": k, "jit": jit,
      "precision": model.precision,  # what ran ("auto" resolved)
      "steps_per_execution": spe, "xla_rng": rng if jit else None, "autotune": autotune,
      "steps_per_s": med, "steps_per_s_min": min(rates), "steps_per_s_max": max(rates),
      "examples_k_per_s": med * batch * k, "model_gflop_per_step": step_flops / 1e9,
      "achieved_gflops": med * step_flops / 1e9,
      "matmul_gflops": step_flops / mm_seconds / 1e9,
      # Both rates count the same matmuls, so their ratio is the share of peak reached.
      "utilisation": (med * step_flops) / (step_flops / mm_seconds),
      "matmul_detail": detail,
  }


def bench_eval(layers, jit, chunk, x_test, precision="float32"):
  model = build("iwae", layers, 1)
  model.set_output_bias(x_test.mean(0))
  n, k = _EVAL_EXAMPLES.value, _EVAL_K.value
  chunk = min(chunk or evaluation.default_chunk_size(), k)
  precision = precision_lib.resolve(precision, jit)
  kwargs = dict(num_samples=k, batch_size=_EVAL_BATCH.value, chunk_size=chunk, jit_compile=jit,
                precision=precision)
  evaluation.log_likelihood(model, x_test[:_EVAL_BATCH.value], **kwargs)  # compile, warm up
  times = _time(lambda: evaluation.log_likelihood(model, x_test[:n], **kwargs),
                max(1, _REPEATS.value // 2))
  # Per block of B examples: ceil(K / chunk) chunks, each a forward pass over chunk*B rows.
  shapes = matmul_shapes(model, _EVAL_BATCH.value, chunk)
  per_example = flops(shapes) * -(-k // chunk) / _EVAL_BATCH.value
  mm_seconds, detail = matmul_seconds(shapes, _REPEATS.value, precision=precision)
  mm_rate = flops(shapes) / mm_seconds
  med = statistics.median(times)
  return {
      "kind": "eval", "method": "iwae", "layers": layers, "k": k, "jit": jit, "examples": n,
      "precision": precision,
      "chunk": chunk,
      "seconds_per_example": med / n, "seconds_per_example_min": min(times) / n,
      "seconds_per_example_max": max(times) / n, "examples_per_s": n / med,
      "full_test_set_seconds": 10000 * med / n,
      "model_gflop_per_example": per_example / 1e9,
      "achieved_gflops": per_example * n / med / 1e9, "matmul_gflops": mm_rate / 1e9,
      "utilisation": per_example * n / med / mm_rate, "matmul_detail": detail,
  }


def markdown(results, meta):
  lines = [f"Machine: {meta['machine']}; TensorFlow {meta['tensorflow']}; "
           f"command: `{meta['command']}`", ""]
  train = [r for r in results if r["kind"] == "train"]
  if train:
    autotune = any(r["autotune"] for r in train)
    lines += ["| method | layers | batch x K | precision | XLA (RNG) | steps/call | "
              + ("tf.data autotune | " if autotune else "") + "steps/s (min–max) | "
              "examples·K/s | model GFLOP/s | matmul GFLOP/s | utilisation | XLA speed-up |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if autotune else "")]
    for r in train:
      twin = [o for o in train if not o["jit"] and r["jit"] and all(
          o[key] == r[key] for key in ("method", "layers", "batch", "k", "steps_per_execution",
                                       "autotune", "precision"))]
      speedup = f"{r['steps_per_s'] / twin[0]['steps_per_s']:.2f}x" if twin else ""
      lines.append(
          f"| {r['method']} | {r['layers']} | {r['batch']}x{r['k']} | {r['precision']} | "
          f"{r['jit']}{' (' + r['xla_rng'] + ')' if r['xla_rng'] else ''} | "
          f"{r['steps_per_execution']} | " + (f"{r['autotune']} | " if autotune else "") +
          f"{r['steps_per_s']:.1f} ({r['steps_per_s_min']:.1f}–{r['steps_per_s_max']:.1f}) | "
          f"{r['examples_k_per_s']:.0f} | {r['achieved_gflops']:.1f} | {r['matmul_gflops']:.1f} "
          f"| {100 * r['utilisation']:.0f}% | {speedup} |")
  evals = [r for r in results if r["kind"] == "eval"]
  if evals:
    lines += ["", "| evaluation | layers | K | precision | XLA | samples/chunk | "
              "s/example (min–max) | full test set (s) | model GFLOP/s | matmul GFLOP/s | "
              "utilisation |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in evals:
      lines.append(
          f"| log p(x) | {r['layers']} | {r['k']} | {r['precision']} | {r['jit']} | {r['chunk']} | "
          f"{r['seconds_per_example']:.4f} "
          f"({r['seconds_per_example_min']:.4f}–{r['seconds_per_example_max']:.4f}) | "
          f"{r['full_test_set_seconds']:.0f} | {r['achieved_gflops']:.1f} | "
          f"{r['matmul_gflops']:.1f} | {100 * r['utilisation']:.0f}% |")
  rates = [(max(d["tf_gflops"], d["xla_gflops"]), d) for r in results
           for d in r.get("matmul_detail", []) if np.prod(d["shape"]) >= 1e8]
  for p in sorted({d["precision"] for _, d in rates}):  # utilisation is against its own
    best, d = max([t for t in rates if t[1]["precision"] == p], key=lambda t: t[0])
    lines += ["", f"Fastest {p} matmul measured in this run: {best:.0f} GFLOP/s "
              f"({d['kernel']} of shape {d['shape']})."]
  return "\n".join(lines) + "\n"


def _bools(values):
  return [v.lower() in ("1", "true", "yes") for v in values]


def run(out):
  for p in _PRECISION.value:  # a typo fails now, not after an hour of other records
    precision_lib.check(p, "--precision")
  x = tfiw_data.load("binarized_mnist")
  results = []
  jits = _bools(_JIT.value)
  for method in _METHODS.value:
    for layers in map(int, _LAYERS.value):
      for setting in _SETTINGS.value:
        batch, k = map(int, setting.lower().split("x"))
        for jit in jits:
          for spe in map(int, _STEPS_PER_EXECUTION.value):
            for rng in (_XLA_RNG.value if jit else [None]):
              for autotune in _bools(_AUTOTUNE.value):
                for precision in _PRECISION.value:
                  r = bench_training(method, layers, batch, k, jit, spe, rng, autotune, x.train,
                                     precision)
                  print(json.dumps({key: v for key, v in r.items() if key != "matmul_detail"}),
                        flush=True)
                  results.append(r)
  if _EVAL_EXAMPLES.value:
    for layers in map(int, _LAYERS.value):
      for jit, chunk, precision in [(j, int(c), p) for j in jits for c in _EVAL_CHUNK.value
                                    for p in _PRECISION.value]:
        r = bench_eval(layers, jit, chunk, x.test, precision)
        print(json.dumps({key: v for key, v in r.items() if key != "matmul_detail"}), flush=True)
        results.append(r)
  meta = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                     f"{os.cpu_count()} CPUs, devices "
                     f"{[d.name for d in tf.config.list_logical_devices()]}",
          "tensorflow": tf.__version__, "keras": keras.__version__,
          "command": "python -m zoo.benchmark " + " ".join(
              f"--{f.name}={f.value}" for f in flags.FLAGS.get_key_flags_for_module(__name__)
              if f.present),
          "time": time.strftime("%Y-%m-%d %H:%M:%S")}
  os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
  with open(out + ".json", "w") as f:
    json.dump({"meta": meta, "results": results}, f, indent=2)
  table = markdown(results, meta)
  with open(out + ".md", "w") as f:
    f.write(table)
  print(table)
  return results


def main(argv):
  del argv
  if _DEVICE.value:
    with tf.device(_DEVICE.value):
      run(_OUT.value)
  else:
    run(_OUT.value)


if __name__ == "__main__":
  cli.run(main, "zoo.benchmark")
