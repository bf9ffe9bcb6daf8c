"""Numeric precision of training and evaluation: "float32", "bfloat16" or "auto".

"float32": everything in float32 (the numbers tfiw has always given).
"bfloat16": the Dense matmuls and activations of the q and p networks compute in bf16
  (Keras's "mixed_bfloat16" policy: variables stay float32 and are cast on read), and
  every network output is cast back to float32 before it parameterizes a distribution
  (``tfiw.networks.StochasticBlock``). So log-weights, log-sum-exp, losses, the
  gradients as applied, optimizer state and the evaluator's float64 streaming stay wide;
  only the matmuls (where bf16 hardware is fast) are narrow. Networks other than Dense
  stacks (IWAE-R's random-weight layers, VAE-DGP's GP) and NVIL's baseline stay float32.
"auto": ``resolve`` picks the concrete precision from ``AUTO``, a table of measured
  facts per (device kind, path), and float32 wherever nothing was measured.

The pure part (validation, hardware kind from CPU flags, the table look-up) comes first;
the Keras plumbing that applies a precision to a model's layers is at the end.
"""
import contextlib

import keras

PRECISIONS = ("float32", "bfloat16", "auto")
CONCRETE = ("float32", "bfloat16")
DEVICE_KINDS = ("gpu", "cpu_amx", "cpu_avx512_bf16", "cpu")
PATHS = ("xla", "tf")  # XLA-compiled (jit_compile=True) or TensorFlow's own kernels

# What "auto" resolves to, per (device kind, path). bf16 is only worth it where the
# hardware's bf16 matmuls are faster end to end, which differs per path (issue 17: on an
# AMX CPU TensorFlow's oneDNN bf16 matmul is ~2x its float32 one, while XLA's CPU bf16
# matmul is slower than its float32 one). The lead fills these entries from
# ``zoo.benchmark --precision=float32,bfloat16`` measurements; until an entry is
# measured it stays "float32", so "auto" never makes anything slower.
AUTO = {(kind, path): "float32" for kind in DEVICE_KINDS for path in PATHS}
# Measured 2026-12-05, 2-vCPU AMD EPYC with AVX-512 BF16 (docs/performance.md, "Precision"):
# TensorFlow's oneDNN kernels, bf16 vs float32: batch 20 K=50 training 92.4 vs 82.9
# steps/s, K=5000 evaluation 0.0183 vs 0.0237 s/example, K=5 training 232 vs 229 (even);
# bf16 evaluation within 0.002 nats of float32 on 1,000 test images. XLA there: bf16
# slower on all three (90.3 vs 99.4, 0.0212 vs 0.0198, 439 vs 590), so it stays float32.
AUTO[("cpu_avx512_bf16", "tf")] = "bfloat16"


def check(precision, name="precision"):
  """``precision`` if it is one of ``PRECISIONS``, else a ValueError listing them."""
  if precision not in PRECISIONS:
    raise ValueError(f"{name} must be one of {list(PRECISIONS)}, got {precision!r}")
  return precision


def cpu_kind(flags):
  """The CPU's kind from its /proc/cpuinfo flags: AMX tiles beat AVX-512 BF16 beat none."""
  flags = set(flags)
  if "amx_bf16" in flags:
    return "cpu_amx"
  if "avx512_bf16" in flags:
    return "cpu_avx512_bf16"
  return "cpu"


def device_kind(has_gpu, cpu_flags):
  """One of ``DEVICE_KINDS``: a GPU wins (TensorFlow places the model there)."""
  return "gpu" if has_gpu else cpu_kind(cpu_flags)


def read_cpu_flags(path="/proc/cpuinfo"):
  """The CPU's feature flags (empty where /proc/cpuinfo is absent, e.g. macOS)."""
  try:
    with open(path) as f:
      for line in f:
        if line.startswith("flags"):
          return set(line.partition(":")[2].split())
  except OSError:
    pass
  return set()


def detect_device_kind():
  import tensorflow as tf
  return device_kind(bool(tf.config.list_physical_devices("GPU")), read_cpu_flags())


def resolve(precision, jit_compile, kind=None):
  """The concrete precision ("float32" or "bfloat16") that ``precision`` means here.

  ``jit_compile``: True for the XLA path, anything else TensorFlow's kernels. ``kind``
  (a device kind; detected when None) is for tests and what-ifs; a kind or path missing
  from ``AUTO`` resolves to float32.
  """
  check(precision)
  if precision != "auto":
    return precision
  kind = detect_device_kind() if kind is None else kind
  return AUTO.get((kind, "xla" if jit_compile is True else "tf"), "float32")


# ---- Keras plumbing ------------------------------------------------------------------
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def network_dense_layers(blocks):
  """The Dense layers inside ``blocks`` (the layers whose matmuls a precision changes)."""
  return [layer for block in blocks for layer in block._flatten_layers(include_self=True)
          if isinstance(layer, keras.layers.Dense)]


def set_precision(blocks, precision):
  """Give every Dense layer in ``blocks`` the Keras dtype policy of a concrete precision.

  Takes effect when a function is next traced (compiled steps and estimators are traced
  after this). Variables keep their float32 storage under either policy.
  """
  if precision not in CONCRETE:
    raise ValueError(f"set_precision needs one of {list(CONCRETE)} (resolve 'auto' first), "
                     f"got {precision!r}")
  for layer in network_dense_layers(blocks):
    layer.dtype_policy = POLICIES[precision]


def current_precision(blocks):
  """"bfloat16" if any Dense layer in ``blocks`` computes in bf16, else "float32"."""
  return ("bfloat16" if any(l.compute_dtype == "bfloat16" for l in network_dense_layers(blocks))
          else "float32")


@contextlib.contextmanager
def using(blocks, precision):
  """``set_precision`` inside the block, the previous precision restored after it (an
  evaluation's precision is its own, whatever the model was compiled with)."""
  previous = current_precision(blocks)
  set_precision(blocks, precision)
  try:
    yield
  finally:
    set_precision(blocks, previous)
