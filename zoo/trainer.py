"""The training job behind ``python -m zoo.train``: config -> data, model, fit, evaluation.

Only ``zoo/`` reads configs; everything it calls in ``tfiw`` takes explicit arguments.

Before the workdir is touched, the whole config is validated (``validate_config``) and
the data loaded and checked (``tfiw.validation``), so a failed start leaves nothing behind
and the corrected command runs in the same workdir.

The workdir's layout (config.json, backup/, history.json, tensorboard/, model.keras,
results.json) and the functions that read and write it are ``zoo.workdir``'s. A resumed
run must match config.json in every field that shapes the training trajectory
(``RESUMABLE_FIELDS`` may differ); history.json keeps the final training bound through a
kill during evaluation; results.json marks the run as finished.
"""
import ast
import copy
import difflib
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings

import keras
import ml_collections
import numpy as np
import tensorflow as tf

import tfiw
from tfiw import (data as tfiw_data, evaluation, initializers, optimizers, precision, schedules,
                  validation)
from zoo import workdir as wd

# Config fields that do not change the training trajectory: they may differ when a run is
# resumed (prefixes of dotted names). train.epochs may grow (more epochs continue a run).
# The validation fields are not among them: validation steps advance the model's seed
# counter, so they change every later training draw. steps_per_execution is: N steps fused
# into one XLA call give the same weights bit for bit as single steps (tests/test_models.py).
# ``paper.`` is a paper row's metadata (its number, source, notes, checkpoints to evaluate).
RESUMABLE_FIELDS = ("eval.", "export.", "train.verbose", "train.epochs", "data.data_dir",
                    "args.", "train.steps_per_execution", "paper.")
SCHEDULES = ("burda", "constant")
ADAMS = ("keras", "yburda_iwae")
INITS = ("keras", "yburda_iwae")
# Config fields added after runs were recorded, with the value every earlier run had: a
# config.json without one compares as if it held that value, so those runs still resume.
ADDED_FIELDS = {"train.precision": "float32", "eval.precision": "float32", "optim.adam": "keras",
                "model.init": "keras", "data.shuffle": True}


class ConfigError(ValueError):
  """A config that cannot run; raised before anything is written."""


class NonFiniteError(FloatingPointError):
  """Training or evaluation produced NaN or inf; nothing non-finite was saved."""


def filtered_stderr(patterns):
  """Context manager: what is written to file descriptor 2 (TensorFlow's C++ logs
  included) passes through, except the lines containing one of ``patterns``."""
  import contextlib

  @contextlib.contextmanager
  def manager():
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
      os.dup2(tmp.fileno(), 2)
      try:
        yield
      finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        tmp.seek(0)
        kept = [line for line in tmp.read().decode(errors="replace").splitlines(True)
                if not any(p in line for p in patterns)]
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
  return manager()


def has_nvidia_driver():
  return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia")


def probe_devices_quietly():
  """Look for devices once, at the start of a command-line tool. On a machine without an
  NVIDIA driver, CUDA-enabled TensorFlow logs an ERROR line "failed call to cuInit" that
  only means "no GPU here": it is dropped. With a driver nothing is hidden (there the
  line reports a real problem)."""
  if has_nvidia_driver():
    tf.config.list_physical_devices()
    return
  with filtered_stderr(("failed call to cuInit",)):
    tf.config.list_physical_devices()


def short_error(e):
  """One readable line for an exception (ml_collections quotes its messages as reprs)."""
  msg = str(e)
  while len(msg) > 1 and msg[0] == msg[-1] and msg[0] in "'\"":
    try:
      msg = ast.literal_eval(msg)
    except (ValueError, SyntaxError):
      break
  return " ".join(part.strip() for part in str(msg).splitlines() if part.strip())


def parse_flags(argv, program="zoo.train"):
  """absl's flag parsing for the zoo tools' ``app.run(..., flags_parser=)``: errors
  raised while loading the config file (a bad config argument, a misspelt --config.x.y)
  are reported in one line instead of a traceback.

  Also probes the devices first (``probe_devices_quietly``): absl's start-up
  after parsing already initialises them.
  """
  from absl import flags
  probe_devices_quietly()
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if any(line.startswith("Traceback") for line in lines):  # the config file raised
      sys.exit(f"{program}: config error: {short_error(lines[-1])}")
    sys.exit(f"FATAL Flags parsing error: {e}\n"
             "Pass --helpshort or --helpfull to see help on flags.")
  except Exception as e:  # an override (--config.a.b=v) of a field that does not exist, ...
    field = "no such config field " if isinstance(e, (AttributeError, KeyError)) else ""
    sys.exit(f"{program}: config error: {field}{short_error(e)}")


STRATEGIES = ("default", "mirrored", "multi_worker")
# One strategy object per name and process: two MirroredStrategy objects over the same
# devices hand out clashing collective keys (a resumed run in the same process then fails
# with "Shape mismatch in the collective instance"), and MultiWorkerMirroredStrategy can
# only be set up once.
_STRATEGY_CACHE = {}


def split_cpu(num_devices):
  """Split the host CPU into ``num_devices`` logical devices (data parallelism without GPUs).

  Must run before TensorFlow initialises its devices, i.e. early in a fresh process.
  """
  cpu = tf.config.list_physical_devices("CPU")[0]
  current = tf.config.get_logical_device_configuration(cpu)
  if current and len(current) == num_devices:
    return
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
  except RuntimeError as e:
    raise RuntimeError(f"train.logical_cpus={num_devices} needs a fresh process: TensorFlow "
                       "has initialised its devices already") from e


def make_strategy(name, logical_cpus=0):
  """The ``tf.distribute`` strategy named by ``train.strategy``.

  "mirrored" replicates over all local GPUs, or all logical CPUs when there is no GPU
  (MirroredStrategy's own default would use one CPU only). "multi_worker" reads the
  cluster from TF_CONFIG; it is created before anything initialises TensorFlow's
  devices, since collective ops can only be configured then.
  """
  if name not in STRATEGIES:
    raise ValueError(f"unknown train.strategy {name!r}; valid: {list(STRATEGIES)}")
  if logical_cpus:
    split_cpu(int(logical_cpus))
  if name == "default":
    return tf.distribute.get_strategy()
  if name not in _STRATEGY_CACHE:
    if name == "multi_worker":
      strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif tf.config.list_physical_devices("GPU"):
      strategy = tf.distribute.MirroredStrategy()
    else:
      strategy = tf.distribute.MirroredStrategy(
          [d.name for d in tf.config.list_logical_devices("CPU")])
    _STRATEGY_CACHE[name] = strategy
  return _STRATEGY_CACHE[name]


def worker_role(strategy):
  """(is_chief, task_id): the chief is task "chief", or worker 0 of a cluster without one."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True, 0
  task_type, task_id = resolver.task_type, resolver.task_id or 0
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return (task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief),
          task_id)


def method_options(name, method_cfg=None):
  """Options a config's ``method`` section may set for registered method ``name``
  (``tfiw.registry.Method.option_names``; with its objective/estimator overridden by the
  section, their options)."""
  method_cfg = method_cfg or {}
  return tfiw.get_method(name).option_names(method_cfg.get("objective"),
                                            method_cfg.get("estimator"))


def suggest(value, valid):
  """'; did you mean X?' for the valid value closest to a misspelt one, else ''."""
  close = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1)
  return f"; did you mean {close[0]!r}?" if close else ""


def validate_config(cfg):
  """Raise ``ConfigError`` listing every problem of ``cfg`` (method, data, schedule, K,
  batch size, layers, strategy, evaluation and export fields); pure, writes nothing."""
  problems = []

  def need(ok, message):
    if not ok:
      problems.append(message)

  def integer(path, low, value=None):
    value = _get(cfg, path) if value is None else value
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    need(ok, f"{path} must be an integer >= {low}, got {value!r}")

  methods = sorted(tfiw.METHODS)
  name = cfg.method.name
  if name not in tfiw.METHODS:
    problems.append(f"unknown method.name {name!r}{suggest(name, methods)} (valid: {methods})")
  else:
    allowed = method_options(name, cfg.method)
    for key in cfg.method:
      if key != "name" and key not in allowed:
        problems.append(f"method.{key} is not an option of {name!r}"
                        f"{suggest(key, sorted(allowed))} (valid: {sorted(allowed)})")
  integer("method.num_samples", 1)
  datasets = list(tfiw_data.DATASETS)
  need(cfg.data.name in datasets,
       f"unknown data.name {cfg.data.name!r}{suggest(cfg.data.name, datasets)} "
       f"(valid: {datasets})")
  integer("data.batch_size", 1)
  latent = cfg.model.latent_dims
  need(isinstance(latent, (list, tuple)) and len(latent) > 0 and
       all(isinstance(z, int) and z >= 1 for z in latent),
       f"model.latent_dims must be a non-empty list of positive integers, got {latent!r}")
  hidden = cfg.model.hidden
  flat = isinstance(hidden, (list, tuple)) and all(isinstance(h, int) for h in hidden)
  nested = isinstance(hidden, (list, tuple)) and all(isinstance(h, (list, tuple)) for h in hidden)
  need((flat and all(h >= 1 for h in hidden)) or (
      nested and isinstance(latent, (list, tuple)) and len(hidden) == len(latent) and
      all(isinstance(u, int) and u >= 1 for h in hidden for u in h)),
       f"model.hidden must be a list of layer sizes, or one list per stochastic layer "
       f"({len(latent) if isinstance(latent, (list, tuple)) else '?'}), got {hidden!r}")
  try:
    keras.activations.get(cfg.model.activation)
  except (ValueError, TypeError):
    problems.append(f"unknown model.activation {cfg.model.activation!r}")
  need(cfg.optim.schedule in SCHEDULES, f"unknown optim.schedule {cfg.optim.schedule!r}"
       f"{suggest(cfg.optim.schedule, SCHEDULES)} (valid: {list(SCHEDULES)})")
  shuffle = _get(cfg, "data.shuffle", ADDED_FIELDS["data.shuffle"])
  need(isinstance(shuffle, bool), f"data.shuffle must be True or False, got {shuffle!r}")
  init = _get(cfg, "model.init", ADDED_FIELDS["model.init"])
  need(init in INITS, f"unknown model.init {init!r}{suggest(init, INITS)} "
       f"(valid: {list(INITS)})")
  adam = _get(cfg, "optim.adam", ADDED_FIELDS["optim.adam"])
  need(adam in ADAMS, f"unknown optim.adam {adam!r}{suggest(adam, ADAMS)} "
       f"(valid: {list(ADAMS)})")
  for path in ("optim.learning_rate", "optim.adam_epsilon"):
    value = _get(cfg, path)
    need(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 and
         math.isfinite(value), f"{path} must be a positive number, got {value!r}")
  integer("train.epochs", 1)
  for path, low in (("train.steps_per_epoch", 0), ("train.steps_per_execution", 1),
                    ("train.validation_freq", 1), ("train.validation_examples", 1),
                    ("train.logical_cpus", 0), ("eval.num_samples", 1), ("eval.chunk_size", 0),
                    ("eval.batch_size", 1), ("eval.max_examples", 0), ("export.num_samples", 1),
                    ("seed", 0)):
    if _get(cfg, path, None) is not None:
      integer(path, low)
  # The field's default is the string "auto", so --config.train.verbose=2 arrives as "2".
  need(str(cfg.train.verbose) in ("auto", "0", "1", "2"),
       f"train.verbose must be 'auto', 0, 1 or 2, got {cfg.train.verbose!r}")
  strategy = cfg.train.get("strategy", "default")
  need(strategy in STRATEGIES, f"unknown train.strategy {strategy!r}"
       f"{suggest(strategy, STRATEGIES)} (valid: {list(STRATEGIES)})")
  for path in ("train.jit_compile", "eval.jit_compile"):
    need(isinstance(_get(cfg, path), bool), f"{path} must be True or False, "
         f"got {_get(cfg, path)!r}")
  for path in ("train.precision", "eval.precision"):
    value = _get(cfg, path, ADDED_FIELDS[path])
    need(value in precision.PRECISIONS, f"unknown {path} {value!r}"
         f"{suggest(value, precision.PRECISIONS)} (valid: {list(precision.PRECISIONS)})")
  if problems:
    raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


_MISSING = object()


def _get(cfg, path, default=_MISSING):
  node = cfg
  for key in path.split("."):
    if default is not _MISSING and key not in node:
      return default
    node = node[key]
  return node


def with_added_fields(config):
  """A copy of a config dict with the ``ADDED_FIELDS`` it lacks set to their old values."""
  out = copy.deepcopy(config)
  for path, value in ADDED_FIELDS.items():
    *parents, leaf = path.split(".")
    node = out
    for key in parents:
      node = node.setdefault(key, {})
    node.setdefault(leaf, value)
  return out


def resolve_precisions(cfg):
  """A copy of ``cfg`` with train.precision and eval.precision concrete: "auto" resolved
  (``tfiw.precision.resolve``) for this hardware and each one's jit_compile. Done before
  config.json is written, so a run records the precision it ran in, and a run resumed
  on hardware where "auto" means another precision is refused like any changed field."""
  cfg = ml_collections.ConfigDict(with_added_fields(cfg.to_dict()))
  cfg.train.precision = precision.resolve(cfg.train.precision, cfg.train.jit_compile)
  cfg.eval.precision = precision.resolve(cfg.eval.precision, cfg.eval.jit_compile)
  return cfg


def build_model(cfg, input_dim, likelihood="bernoulli"):
  """The method's model from the config (method fields other than ``name`` are kwargs)."""
  cls = tfiw.get_method(cfg.method.name)
  method_kwargs = {k: v for k, v in cfg.method.items() if k != "name"}
  return cls(input_dim=input_dim, latent_dims=list(cfg.model.latent_dims),
             hidden=[list(h) for h in cfg.model.hidden], activation=cfg.model.activation,
             likelihood=likelihood, seed=cfg.seed, **method_kwargs)


def train_stream(cfg, splits, start_batch=0):
  """The training batches from batch ``start_batch`` on (``tfiw.data.train_dataset``), in
  the config's order: shuffled every pass, or the stored order (``data.shuffle=False``)."""
  return tfiw_data.train_dataset(splits.train, cfg.data.batch_size, cfg.seed, splits.dynamic,
                                 start_batch=start_batch,
                                 shuffle=_get(cfg, "data.shuffle", ADDED_FIELDS["data.shuffle"]))


def initial_model(cfg, x_train, likelihood="bernoulli"):
  """The model before its first step: built from the config, initialised from the data
  (output bias), its kernels drawn by ``model.init`` ("keras": each layer its own Glorot
  draw; "yburda_iwae": ``tfiw.initializers.yburda_iwae``)."""
  model = build_model(cfg, x_train.shape[1], likelihood)
  model.init_from_data(x_train)
  if _get(cfg, "model.init", ADDED_FIELDS["model.init"]) == "yburda_iwae":
    initializers.yburda_iwae(model)
  return model


def build_optimizer(cfg, steps_per_epoch):
  o = cfg.optim
  if o.schedule == "burda":
    lr = schedules.BurdaSchedule(steps_per_epoch, o.learning_rate)
  elif o.schedule == "constant":
    lr = o.learning_rate
  else:
    raise ConfigError(f"unknown optim.schedule {o.schedule!r}; valid: {list(SCHEDULES)}")
  if o.get("adam", ADDED_FIELDS["optim.adam"]) == "yburda_iwae":
    # Their gradient is of the minibatch's sum of bounds; tfiw's of the mean.
    return optimizers.YburdaAdam(learning_rate=lr, epsilon=o.adam_epsilon,
                                 gradient_scale=cfg.data.batch_size)
  return keras.optimizers.Adam(learning_rate=lr, epsilon=o.adam_epsilon)


def load_data(cfg, data_dir=None):
  return tfiw_data.load(cfg.data.name, data_dir=data_dir or cfg.data.data_dir or None)


def check_data(cfg, splits, log=print):
  """Every array of the data set checked once (shape, NaN/inf with the first bad row, the
  likelihood's support) and the batch size against the training set."""
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", validation.ScaleWarning)
    validation.check_splits(splits, cfg.data.name)
  for w in caught:
    log(f"Warning: {w.message}")
  if cfg.data.batch_size > splits.train.shape[0]:
    raise ConfigError(f"data.batch_size={cfg.data.batch_size} is larger than the training "
                      f"set ({splits.train.shape[0]} examples)")


def _flatten(d, prefix=""):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def config_differences(old, new):
  """Dotted names (sorted) of the fields whose values differ between two config dicts."""
  a, b = _flatten(old), _flatten(new)
  return sorted(k for k in set(a) | set(b) if a.get(k, _MISSING) != b.get(k, _MISSING))


def trajectory_differences(old, new):
  """The differing fields that change the training trajectory (not ``RESUMABLE_FIELDS``)."""
  return [k for k in config_differences(old, new)
          if not any(k == f or k.startswith(f) for f in RESUMABLE_FIELDS)]


def _check_config(workdir, cfg, backup_dir, log=print):
  """Write config.json, or check that a run to resume has the same trajectory fields.

  A refusal names the differing fields. Fields in ``RESUMABLE_FIELDS`` may differ (the
  new values are recorded); a workdir whose earlier start finished no epoch has nothing
  to resume, and takes the new config.
  """
  path = wd.config_path(workdir)
  new = json.loads(cfg.to_json_best_effort(sort_keys=True))
  old = wd.load_config_dict(workdir)
  if old is not None:
    old = with_added_fields(old)
    done = wd.backup_epoch(backup_dir)
    differ = trajectory_differences(old, new)
    if differ and (done or os.path.exists(wd.results_path(workdir))):
      fo, fn = _flatten(old), _flatten(new)
      lines = "\n  ".join(f"{k}: {fo.get(k, '(absent)')!r} -> {fn.get(k, '(absent)')!r}"
                          for k in differ)
      raise ConfigError(
          f"{workdir} holds a run ({done} epochs done) with a different config in fields "
          f"that change training:\n  {lines}\nuse a new --workdir, or the run's config "
          f"({path}) to resume it; only {', '.join(RESUMABLE_FIELDS)} may differ")
    if differ:
      log(f"No epoch of the earlier run in {workdir} finished: starting it with the new config")
    if done > cfg.train.epochs:
      raise ConfigError(f"the run in {workdir} has finished {done} epochs already; "
                        f"train.epochs={cfg.train.epochs} would end before that (use "
                        f">= {done}, or a new --workdir)")
    if old != new:
      changed = ", ".join(config_differences(old, new))
      if not differ:
        log(f"Config fields changed on resume (they do not change training): {changed}")
  wd.write_json(path, new)


def eval_subset(cfg, n):
  """Indices of the test examples evaluated: all, or ``eval.max_examples`` of them drawn
  at random with a fixed seed (recorded), never the first N of a file ordered by class."""
  return evaluation.subset_indices(n, cfg.eval.max_examples)


def fit_verbosity(value):
  """train.verbose for Keras: "auto" or the int 0/1/2 (a command-line override is a str)."""
  return "auto" if str(value) == "auto" else int(value)


def test_log_likelihood(model, cfg, x_test, verbose=1, strategy=None):
  """Per-example log p(x) of ``x_test``, or of its ``eval_subset`` with eval.max_examples."""
  subset = eval_subset(cfg, x_test.shape[0])
  x_test = x_test if subset is None else x_test[subset]
  if strategy is not None:
    # Blocks of examples spread over the replicas; same numbers as one device.
    return evaluation.log_likelihood_distributed(
        model, x_test, strategy, num_samples=cfg.eval.num_samples, seed=cfg.seed,
        batch_size=cfg.eval.batch_size, chunk_size=cfg.eval.chunk_size,
        jit_compile=cfg.eval.jit_compile, verbose=verbose, precision=eval_precision(cfg))
  return evaluation.log_likelihood(
      model, x_test, num_samples=cfg.eval.num_samples, seed=cfg.seed,
      batch_size=cfg.eval.batch_size, chunk_size=cfg.eval.chunk_size,
      jit_compile=cfg.eval.jit_compile, verbose=verbose, precision=eval_precision(cfg))


def eval_precision(cfg):
  """eval.precision, concrete (a config from before the field: float32)."""
  return precision.resolve(cfg.eval.get("precision", ADDED_FIELDS["eval.precision"]),
                           cfg.eval.jit_compile)


def steps_per_execution(wanted, steps_per_epoch):
  """The largest divisor of ``steps_per_epoch`` not above ``wanted``: Keras runs whole
  executions, so a non-divisor would lengthen every epoch."""
  return max(d for d in range(1, max(1, wanted) + 1) if steps_per_epoch % d == 0)


def _nonfinite(logs):
  return {k: float(np.mean(v)) for k, v in (logs or {}).items()
          if not np.all(np.isfinite(np.asarray(v, np.float64)))}


class StopOnNonFinite(keras.callbacks.Callback):
  """Raise ``NonFiniteError`` at the first non-finite loss/metric, before anything saves.

  Must come before BackupAndRestore in the callback list: Keras calls callbacks in list
  order and BackupAndRestore saves in ``on_epoch_end``; raising here ends ``fit`` before
  its turn, so the backup keeps the last finite epoch. (Keras's TerminateOnNaN only sets
  ``stop_training``: the epoch then ends normally and the backup is overwritten with NaN
  weights.) The epoch's metrics are running means, so a NaN at any step shows in every
  later log of that epoch; with several steps per call the message names the call's steps.
  """

  def __init__(self, steps_per_epoch, backup_dir):
    super().__init__()
    self.steps, self.backup_dir = steps_per_epoch, backup_dir
    self.epoch, self.first = 0, 0

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch

  def on_train_batch_begin(self, batch, logs=None):
    self.first = batch

  def on_train_batch_end(self, batch, logs=None):
    bad = _nonfinite(logs)
    if bad:
      steps = (f"step {batch + 1} of {self.steps}" if batch == self.first else
               f"steps {self.first + 1}-{batch + 1} of {self.steps} (run in one call)")
      self._stop(f"in epoch {self.epoch + 1}, {steps}; global step "
                 f"{self.epoch * self.steps + batch + 1}", bad)

  def on_epoch_end(self, epoch, logs=None):
    bad = _nonfinite(logs)
    if bad:
      self._stop(f"in epoch {epoch + 1}, step {self.steps} of {self.steps} (at the epoch's "
                 "validation)", bad)

  def _stop(self, where, bad):
    values = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
    raise NonFiniteError(
        f"training stopped: non-finite values ({values}) {where}. Nothing was saved from "
        f"this epoch: the backup in {self.backup_dir} keeps the last finite state "
        f"({self.epoch} epoch(s) done). Try a smaller optim.learning_rate or check the data.")


class EpochLog(keras.callbacks.Callback):
  """Per-epoch logs in ``<directory>/history.json`` (written before the backup: an epoch
  redone after a kill rewrites its own entry with the same numbers)."""

  def __init__(self, directory):
    super().__init__()
    self.directory = directory

  def on_epoch_end(self, epoch, logs=None):
    wd.write_history_epoch(self.directory, epoch,
                           {k: float(np.mean(v)) for k, v in (logs or {}).items()})


class Backup(keras.callbacks.BackupAndRestore):
  """Keras's BackupAndRestore (saved at every epoch's end, kept after training), each save
  swapped in whole (``zoo.workdir.replace_backup``): a kill while it saves cannot leave a
  truncated weights file, or epoch e's weights under epoch e-1's count. Whoever holds the
  workdir runs ``zoo.workdir.recover_folder`` before reading it."""

  def __init__(self, backup_dir):
    super().__init__(backup_dir, delete_checkpoint=False)

  def _save_model(self):
    wd.replace_backup(self.backup_dir,
                      lambda path: self.model.save_weights(path, overwrite=True),
                      {"epoch": self._current_epoch, "batch": self._last_batch_seen})


def train_and_evaluate(cfg, workdir, data_dir=None, log=print, extra_callbacks=()):
  """Train (resuming from ``workdir`` if it holds an unfinished run), then evaluate.

  Returns the results dict that is also written to ``workdir/results.json``. Raises
  ``ConfigError`` (before touching the workdir), ``validation.DataError``, or
  ``NonFiniteError`` (a non-finite loss or evaluation; the last finite backup is kept),
  or ``zoo.workdir.WorkdirBusy`` (another process trains in ``workdir``; nothing written).
  """
  validate_config(cfg)
  cfg = resolve_precisions(cfg)  # a copy: the caller's (locked) config stays as is
  if data_dir:  # recorded, so zoo.evaluate and a resumed run find the same data
    cfg.data.data_dir = os.path.abspath(data_dir)
  # First: MultiWorkerMirroredStrategy and logical CPUs must precede TF device setup.
  strategy = make_strategy(cfg.train.get("strategy", "default"),
                           cfg.train.get("logical_cpus", 0))
  chief, task_id = worker_role(strategy)
  splits = load_data(cfg)
  check_data(cfg, splits, log)
  # The first write: one process per run (a non-chief worker holds its own lock).
  with wd.exclusive(workdir, None if chief else task_id):
    return _train_and_evaluate(cfg, workdir, strategy, chief, task_id, splits, log,
                               extra_callbacks)


def _train_and_evaluate(cfg, workdir, strategy, chief, task_id, splits, log, extra_callbacks):
  # Only the chief writes the run's outputs; a non-chief worker keeps its own backup (to
  # resume after a restart) and writes the rest to a temporary directory.
  backup_dir = wd.backup_dir(workdir, None if chief else task_id)
  if wd.recover_folder(backup_dir):
    log(f"Recovered {backup_dir} from a save that a kill interrupted")
  results_path = wd.results_path(workdir)
  if chief:
    _check_config(workdir, cfg, backup_dir, log)
  results = wd.load_results(workdir)
  if results is not None:
    if results.get("epochs", 0) >= cfg.train.epochs:
      log(f"Run in {workdir} has finished already ({results_path}); test log-likelihood "
          f"{results['test_log_likelihood']:.2f} nats (K={results['eval_num_samples']}).")
      return results
    log(f"Continuing the finished run in {workdir} from {results['epochs']} to "
        f"{cfg.train.epochs} epochs")

  out_dir = workdir if chief else tempfile.mkdtemp(prefix=f"tfiw_worker{task_id}_")
  keras.utils.set_random_seed(cfg.seed)
  steps = cfg.train.steps_per_epoch or splits.train.shape[0] // cfg.data.batch_size
  with strategy.scope():  # mirrored variables, optimizer slots and metrics
    model = initial_model(cfg, splits.train, splits.likelihood)
    # Several steps per call only on one device (the fused XLA loop); under a strategy
    # Keras's own multi-step loop around the per-replica XLA function fails to run
    # ("You must feed a value for placeholder tensor ..." from the nested while loop).
    spe = (1 if tf.distribute.has_strategy()  # (true inside a non-default strategy's scope)
           else steps_per_execution(cfg.train.steps_per_execution, steps))
    model.compile(build_optimizer(cfg, steps), jit_compile=cfg.train.jit_compile,
                  steps_per_execution=spe, precision=cfg.train.precision)
  # The stream starts where the backup left off: epoch e's batches are a function of
  # (seed, e), so a resumed run trains on what an uninterrupted one would.
  initial_epoch = min(wd.backup_epoch(backup_dir), cfg.train.epochs)
  train_ds = train_stream(cfg, splits, start_batch=initial_epoch * steps)
  valid = splits.valid if splits.valid is not None else splits.test
  valid_ds = tfiw_data.eval_dataset(
      valid[:cfg.train.validation_examples] if splits.likelihood == "gaussian" or
      not splits.dynamic else tfiw_data.binarize(valid[:cfg.train.validation_examples],
                                                 tfiw_data.TEST_BINARIZATION_SEED),
      batch_size=100)
  callbacks = [
      StopOnNonFinite(steps, backup_dir),  # first: before anything saves the epoch
      EpochLog(out_dir),
      # The backup outlives fit, so a run stopped after training (during evaluation)
      # resumes without retraining.
      Backup(backup_dir),
      keras.callbacks.TensorBoard(wd.tensorboard_dir(out_dir)),
      *extra_callbacks,
  ]
  log(f"Training {cfg.method.name} (K={cfg.method.num_samples}) on {cfg.data.name}: "
      f"{cfg.train.epochs} epochs x {steps} steps, batch {cfg.data.batch_size}, "
      f"jit_compile={cfg.train.jit_compile}, precision={model.precision}, "
      f"strategy={cfg.train.get('strategy', 'default')} "
      f"({strategy.num_replicas_in_sync} replica(s){'' if chief else f', worker {task_id}'})")
  if initial_epoch:
    log(f"Resuming from epoch {initial_epoch} of {cfg.train.epochs} ({backup_dir})")
  start = time.time()
  model.fit(train_ds, epochs=cfg.train.epochs, steps_per_epoch=steps,
            validation_data=valid_ds, validation_freq=cfg.train.validation_freq,
            callbacks=callbacks, verbose=fit_verbosity(cfg.train.verbose), shuffle=False)
  train_seconds = time.time() - start
  model.save(wd.model_path(out_dir))
  history = wd.read_history(out_dir)
  last = history.get(str(cfg.train.epochs - 1), {})

  subset = eval_subset(cfg, splits.test.shape[0])  # (test_log_likelihood takes it)
  log(f"Evaluating test log-likelihood with K={cfg.eval.num_samples} importance samples"
      + ("" if subset is None else f" on a fixed random {len(subset)} of "
         f"{splits.test.shape[0]} test examples (seed {evaluation.SUBSET_SEED})"))
  start = time.time()
  distributed = cfg.train.get("strategy", "default") != "default"
  lp = test_log_likelihood(model, cfg, splits.test, strategy=strategy if distributed else None)
  eval_seconds = time.time() - start
  if not np.all(np.isfinite(lp)):
    bad = int(np.flatnonzero(~np.isfinite(lp))[0])
    raise NonFiniteError(f"the test log-likelihood is non-finite ({lp[bad]} for test "
                         f"example {bad if subset is None else int(subset[bad])}); "
                         f"{wd.RESULTS_FILE} was not written")
  results = {
      "method": cfg.method.name, "dataset": cfg.data.name, "data_source": splits.source,
      "data_dir": cfg.data.data_dir or os.environ.get("TFIW_DATA_DIR", ""),
      "test_log_likelihood": float(np.mean(lp)),
      "test_log_likelihood_stderr": float(np.std(lp) / np.sqrt(len(lp))),
      "eval_num_samples": int(cfg.eval.num_samples), "eval_num_examples": int(len(lp)),
      "eval_subset": None if subset is None else {
          "num_examples": int(len(subset)), "of": int(splits.test.shape[0]),
          "seed": evaluation.SUBSET_SEED, "indices": [int(i) for i in subset]},
      "eval_seconds": eval_seconds, "train_seconds_this_session": train_seconds,
      "epochs": int(cfg.train.epochs), "steps_per_epoch": int(steps),
      "final_train_bound": last.get("bound"),
      # What ran ("auto" resolved): model.precision is what compile made of train.precision.
      "train_precision": model.precision, "eval_precision": eval_precision(cfg),
  }
  if not chief:  # every worker took part in the (collective) evaluation; the chief writes
    shutil.rmtree(out_dir, ignore_errors=True)
    return results
  writer = tf.summary.create_file_writer(wd.eval_tensorboard_dir(workdir))
  with writer.as_default():
    tf.summary.scalar("test_log_likelihood", results["test_log_likelihood"],
                      step=int(model.optimizer.iterations.numpy()))
  wd.write_json(results_path, results)
  log(f"Test log-likelihood ({cfg.data.name}, K={cfg.eval.num_samples}, {len(lp)} examples): "
      f"{results['test_log_likelihood']:.2f} ± {results['test_log_likelihood_stderr']:.2f} nats")
  return results

