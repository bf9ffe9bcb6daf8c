"""The training job behind ``python -m zoo.train``: config -> data, model, fit, evaluation.

Only ``zoo/`` reads configs; everything it calls in ``tfiw`` takes explicit arguments.

Workdir layout:
  config.json         the config of the run (a resumed run must match it)
  backup/             Keras BackupAndRestore state (weights, optimizer, epoch): resume point
  tensorboard/        TensorBoard logs (train/validation metrics, evaluation)
  model.keras         the trained model (native Keras format)
  results.json        the final evaluation; its presence marks the run as finished
  backup_worker<i>/   (multi_worker only) non-chief worker i's own BackupAndRestore state;
                      non-chief workers write everything else to a temporary directory
"""
import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import tfiw
from tfiw import data as tfiw_data, evaluation, schedules

CONFIG_FILE, RESULTS_FILE, MODEL_FILE = "config.json", "results.json", "model.keras"


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


def build_model(cfg, input_dim, likelihood="bernoulli"):
  """The method's model from the config (method fields other than ``name`` are kwargs)."""
  cls = tfiw.get_method(cfg.method.name)
  method_kwargs = {k: v for k, v in cfg.method.items() if k != "name"}
  return cls(input_dim=input_dim, latent_dims=list(cfg.model.latent_dims),
             hidden=[list(h) for h in cfg.model.hidden], activation=cfg.model.activation,
             likelihood=likelihood, seed=cfg.seed, **method_kwargs)


def build_optimizer(cfg, steps_per_epoch):
  o = cfg.optim
  if o.schedule == "burda":
    lr = schedules.BurdaSchedule(steps_per_epoch, o.learning_rate)
  elif o.schedule == "constant":
    lr = o.learning_rate
  else:
    raise ValueError(f"unknown optim.schedule {o.schedule!r}; valid: ['burda', 'constant']")
  return keras.optimizers.Adam(learning_rate=lr, epsilon=o.adam_epsilon)


def load_data(cfg, data_dir=None):
  return tfiw_data.load(cfg.data.name, data_dir=data_dir or cfg.data.data_dir or None)


def _check_config(workdir, cfg):
  """Write config.json, or refuse to resume a run whose config differs (no silent mix)."""
  path = os.path.join(workdir, CONFIG_FILE)
  text = cfg.to_json_best_effort(indent=2, sort_keys=True)
  if os.path.exists(path):
    with open(path) as f:
      old = f.read()
    if json.loads(old) != json.loads(text):
      raise ValueError(f"{workdir} holds a run with a different config ({path}); "
                       "use a new --workdir or the same config to resume it")
  else:
    with open(path, "w") as f:
      f.write(text)


def test_log_likelihood(model, cfg, x_test, verbose=1, strategy=None):
  n = cfg.eval.max_examples or x_test.shape[0]
  if strategy is not None:
    # Blocks of examples spread over the replicas; same numbers as one device.
    return evaluation.log_likelihood_distributed(
        model, x_test[:n], strategy, num_samples=cfg.eval.num_samples, seed=cfg.seed,
        batch_size=cfg.eval.batch_size, chunk_size=cfg.eval.chunk_size,
        jit_compile=cfg.eval.jit_compile, verbose=verbose)
  return evaluation.log_likelihood(
      model, x_test[:n], num_samples=cfg.eval.num_samples, seed=cfg.seed,
      batch_size=cfg.eval.batch_size, chunk_size=cfg.eval.chunk_size,
      jit_compile=cfg.eval.jit_compile, verbose=verbose)


def steps_per_execution(wanted, steps_per_epoch):
  """The largest divisor of ``steps_per_epoch`` not above ``wanted``: Keras runs whole
  executions, so a non-divisor would lengthen every epoch."""
  return max(d for d in range(1, max(1, wanted) + 1) if steps_per_epoch % d == 0)


def train_and_evaluate(cfg, workdir, data_dir=None, log=print, extra_callbacks=()):
  """Train (resuming from ``workdir`` if it holds an unfinished run), then evaluate.

  Returns the results dict that is also written to ``workdir/results.json``.
  """
  # First: MultiWorkerMirroredStrategy and logical CPUs must precede TF device setup.
  strategy = make_strategy(cfg.train.get("strategy", "default"),
                           cfg.train.get("logical_cpus", 0))
  chief, task_id = worker_role(strategy)
  os.makedirs(workdir, exist_ok=True)
  results_path = os.path.join(workdir, RESULTS_FILE)
  if chief:
    _check_config(workdir, cfg)
  if os.path.exists(results_path):
    with open(results_path) as f:
      results = json.load(f)
    log(f"Run in {workdir} has finished already ({results_path}); test log-likelihood "
        f"{results['test_log_likelihood']:.2f} nats (K={results['eval_num_samples']}).")
    return results

  # Only the chief writes the run's outputs; a non-chief worker keeps its own backup (to
  # resume after a restart) and writes the rest to a temporary directory.
  out_dir = workdir if chief else tempfile.mkdtemp(prefix=f"tfiw_worker{task_id}_")
  backup_dir = os.path.join(workdir, "backup" if chief else f"backup_worker{task_id}")
  keras.utils.set_random_seed(cfg.seed)
  splits = load_data(cfg, data_dir)
  steps = cfg.train.steps_per_epoch or splits.train.shape[0] // cfg.data.batch_size
  with strategy.scope():  # mirrored variables, optimizer slots and metrics
    model = build_model(cfg, splits.train.shape[1], splits.likelihood)
    model.set_output_bias(splits.train.mean(0))
    # Several steps per call only on one device (the fused XLA loop); under a strategy
    # Keras's own multi-step loop around the per-replica XLA function fails to run
    # ("You must feed a value for placeholder tensor ..." from the nested while loop).
    spe = (1 if tf.distribute.has_strategy()  # (true inside a non-default strategy's scope)
           else steps_per_execution(cfg.train.steps_per_execution, steps))
    model.compile(build_optimizer(cfg, steps), jit_compile=cfg.train.jit_compile,
                  steps_per_execution=spe)
  train_ds = tfiw_data.train_dataset(splits.train, cfg.data.batch_size, cfg.seed,
                                     splits.dynamic)
  valid = splits.valid if splits.valid is not None else splits.test
  valid_ds = tfiw_data.eval_dataset(
      valid[:cfg.train.validation_examples] if splits.likelihood == "gaussian" or
      not splits.dynamic else tfiw_data.binarize(valid[:cfg.train.validation_examples],
                                                 tfiw_data.TEST_BINARIZATION_SEED),
      batch_size=100)
  callbacks = [
      # delete_checkpoint=False: the backup outlives fit, so a run stopped after training
      # (during evaluation) resumes without retraining.
      keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False),
      keras.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard")),
      *extra_callbacks,
  ]
  log(f"Training {cfg.method.name} (K={cfg.method.num_samples}) on {cfg.data.name}: "
      f"{cfg.train.epochs} epochs x {steps} steps, batch {cfg.data.batch_size}, "
      f"jit_compile={cfg.train.jit_compile}, strategy={cfg.train.get('strategy', 'default')} "
      f"({strategy.num_replicas_in_sync} replica(s){'' if chief else f', worker {task_id}'})")
  start = time.time()
  history = model.fit(train_ds, epochs=cfg.train.epochs, steps_per_epoch=steps,
                      validation_data=valid_ds, validation_freq=cfg.train.validation_freq,
                      callbacks=callbacks, verbose=cfg.train.verbose)
  train_seconds = time.time() - start
  model.save(os.path.join(out_dir, MODEL_FILE))

  log(f"Evaluating test log-likelihood with K={cfg.eval.num_samples} importance samples")
  start = time.time()
  distributed = cfg.train.get("strategy", "default") != "default"
  lp = test_log_likelihood(model, cfg, splits.test, strategy=strategy if distributed else None)
  eval_seconds = time.time() - start
  results = {
      "method": cfg.method.name, "dataset": cfg.data.name, "data_source": splits.source,
      "test_log_likelihood": float(np.mean(lp)),
      "test_log_likelihood_stderr": float(np.std(lp) / np.sqrt(len(lp))),
      "eval_num_samples": int(cfg.eval.num_samples), "eval_num_examples": int(len(lp)),
      "eval_seconds": eval_seconds, "train_seconds_this_session": train_seconds,
      "epochs": int(cfg.train.epochs), "steps_per_epoch": int(steps),
      "final_train_bound": float(history.history["bound"][-1]) if history.history else None,
  }
  if not chief:  # every worker took part in the (collective) evaluation; the chief writes
    shutil.rmtree(out_dir, ignore_errors=True)
    return results
  writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", "eval"))
  with writer.as_default():
    tf.summary.scalar("test_log_likelihood", results["test_log_likelihood"],
                      step=int(model.optimizer.iterations.numpy()))
  with open(results_path, "w") as f:
    json.dump(results, f, indent=2)
  log(f"Test log-likelihood ({cfg.data.name}, K={cfg.eval.num_samples}, {len(lp)} examples): "
      f"{results['test_log_likelihood']:.2f} ± {results['test_log_likelihood_stderr']:.2f} nats")
  return results


def load_run(workdir):
  """(config, trained model) of a finished run in ``workdir``."""
  import ml_collections
  model_path = os.path.join(workdir, MODEL_FILE)
  if not os.path.exists(model_path):
    raise FileNotFoundError(f"{model_path} not found: train first with "
                            f"python -m zoo.train --config=... --workdir={workdir}")
  with open(os.path.join(workdir, CONFIG_FILE)) as f:
    cfg = ml_collections.ConfigDict(json.load(f))
  return cfg, keras.models.load_model(model_path)
