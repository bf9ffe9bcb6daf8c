"""Score images and draw samples with an exported tfiw SavedModel, using TensorFlow only.

This file imports neither tfiw nor tensorflow_probability (only numpy, tensorflow and
absl, which tensorflow installs): it is what a consumer of the SavedModel runs. It prints
one JSON line with the mean log p(x) in nats and its standard error over the rows, and
writes the per-row numbers and samples where asked.

  python export/score.py --model=exported/quickstart --data=test.npz --key=test
  python export/score.py --model=exported/quickstart --data=x.npy --num_samples=100 \\
      --output=scores.npy --samples=16 --samples_png=samples.png
"""
import json
import math
import os
import sys
import tempfile

import numpy as np
import tensorflow as tf
from absl import app, flags

flags.DEFINE_string("model", None, "SavedModel directory (python -m export.savedmodel).")
flags.DEFINE_string("data", None, ".npy or .npz file of rows [N, D] to score (images "
                    "[N, H, W] are flattened).")
flags.DEFINE_string("key", None, "Array name inside a .npz file (needed if it holds several).")
flags.DEFINE_integer("num_samples", None, "K importance samples (default: the K exported in "
                     "the log_prob signature).")
flags.DEFINE_string("output", None, "Write the per-row log p(x) here (.npy).")
flags.DEFINE_integer("samples", 0, "Draw this many samples from the model.")
flags.DEFINE_integer("seed", 0, "Seed of the samples.")
flags.DEFINE_string("samples_npy", None, "Write the samples here (.npy).")
flags.DEFINE_string("samples_png", None, "Write the samples' means as a PNG grid.")
flags.mark_flags_as_required(["model"])


def load_rows(path, key=None):
  """Rows [N, D] float32 from a .npy file or one array of a .npz file."""
  if not os.path.isfile(path):
    raise SystemExit(f"no data file {path}")
  data = np.load(path)
  if isinstance(data, np.lib.npyio.NpzFile):
    keys = list(data.keys())
    if key is None:
      if len(keys) != 1:
        raise SystemExit(f"{path} holds {keys}: choose one with --key")
      key = keys[0]
    if key not in keys:
      raise SystemExit(f"{path} has no array {key!r}; it holds {keys}")
    data = data[key]
  data = np.asarray(data, np.float32)
  return data.reshape(data.shape[0], -1) if data.ndim > 2 else data


def score(model, x, num_samples=None):
  """log p(x) per row (nats) from the log_prob (or log_prob_k) signature.

  One call for all rows: the model splits them into blocks itself (bounded memory), seeding
  block b with [seed, b], so each row gets the number the in-process evaluator gives it.
  Calls of a slice each would restart the blocks at 0 and reuse the first rows' draws.
  """
  xt = tf.constant(x)
  if num_samples is None:
    return model.signatures["log_prob"](x=xt)["log_prob"].numpy()
  return model.signatures["log_prob_k"](
      x=xt, num_samples=tf.constant(num_samples, tf.int32))["log_prob"].numpy()


def write_grid_png(path, images, shape, columns=8):
  h, w = shape
  rows = math.ceil(len(images) / columns)
  grid = np.ones((rows * (h + 1) + 1, columns * (w + 1) + 1), np.float32)
  for i, img in enumerate(np.clip(images, 0, 1)):
    r, c = divmod(i, columns)
    grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = (
        img.reshape(h, w))
  tf.io.write_file(path, tf.io.encode_png((grid * 255).round().astype(np.uint8)[..., None]))


def probe_devices_quietly():
  """Find the devices once with TensorFlow's "failed call to cuInit" ERROR line (it only
  means "no GPU here") dropped from stderr, on a machine without an NVIDIA driver."""
  if os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia"):
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as tmp:
    os.dup2(tmp.fileno(), 2)
    try:
      tf.config.list_physical_devices()
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      tmp.seek(0)
      sys.stderr.write("".join(line for line in tmp.read().decode(errors="replace")
                               .splitlines(True) if "failed call to cuInit" not in line))
      sys.stderr.flush()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}: every option is a --flag")
  args = flags.FLAGS
  if not os.path.isfile(os.path.join(args.model, "saved_model.pb")):
    raise SystemExit(f"no SavedModel in {args.model} (write one with python -m "
                     "export.savedmodel --workdir=RUN --output=DIR)")
  probe_devices_quietly()
  model = tf.saved_model.load(args.model)
  info_path = os.path.join(args.model, "assets", "config.json")
  info = json.load(open(info_path)) if os.path.exists(info_path) else {}
  if args.data:
    x = load_rows(args.data, args.key)
    k = args.num_samples or info.get("log_prob", {}).get("num_samples", "exported")
    print(f"scoring {len(x)} rows with K={k} ...", file=sys.stderr, flush=True)
    try:
      lp = score(model, x, args.num_samples)
    except tf.errors.InvalidArgumentError as e:
      # The model names the problem (shape, NaN, non-binary values, K < 1).
      msg = [ln for ln in str(e).splitlines() if "assertion failed" in ln]
      raise SystemExit(f"input rejected by the model: {msg[0] if msg else e}")
    print(json.dumps({"num_examples": int(len(lp)), "num_samples": k,
                      "mean_log_prob": float(np.mean(lp)) if len(lp) else None,
                      "stderr": float(np.std(lp) / np.sqrt(len(lp))) if len(lp) else None}))
    if args.output:
      np.save(args.output, lp)
  if args.samples:
    out = model.signatures["sample"](num_samples=tf.constant(args.samples, tf.int32),
                                     seed=tf.constant(args.seed, tf.int32))
    if args.samples_npy:
      np.save(args.samples_npy, out["x"].numpy())
    if args.samples_png:
      shape = info.get("image_shape") or [1, out["mean"].shape[1]]
      write_grid_png(args.samples_png, out["mean"].numpy(), tuple(shape))
    print(json.dumps({"samples": int(out["x"].shape[0]), "dim": int(out["x"].shape[1])}))
  return 0


def _parse_flags(argv):
  """absl's parsing, with the help flags exiting 0 (absl's exit 1) and a bad flag one
  message (zoo.cli does the same for the zoo's tools; this file must not import zoo)."""
  helps = ("help", "helpshort", "helpfull", "helpxml", "?")
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"FATAL Flags parsing error: {e}\nPass --helpshort or --helpfull to see help.")
  except SystemExit as e:
    if e.code == 1 and any(a.startswith("-") and a.lstrip("-").split("=")[0] in helps
                           for a in argv[1:]):
      sys.exit(0)
    raise


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
