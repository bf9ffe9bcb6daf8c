"""tf.distribute: mirrored training on 2 logical CPUs, two-worker training, sharded evaluation.

Logical CPU devices must be configured before TensorFlow initialises its devices, so the
mirrored checks run once in a fresh subprocess (this file run as a script) that prints
its measurements as JSON; the tests below assert on them. The two-worker test starts two
``python -m zoo.train`` processes with TF_CONFIG on 127.0.0.1.

Comparability: with N replicas each replica draws its own importance samples (seed folded
with the replica id), so a mirrored step equals, exactly, a single-device step that
averages the gradients of the N half-batches drawn with those folded seeds. That
reference is checked to float tolerance with plain SGD (Adam would hide a wrong loss
scale: it is invariant to the gradient's scale). Against an ordinary single-device run
(different draws) the bound trajectory is compared with a statistical tolerance.
"""
import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(**extra):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
  env.pop("TF_CONFIG", None)
  env.update(extra)
  return env


# ---- the subprocess: 2 logical CPUs, MirroredStrategy ------------------------------------
def _mirrored_checks(workdir):
  from zoo import trainer
  trainer.split_cpu(2)
  import keras
  import tensorflow as tf
  import tfiw
  from configs import iwae as iwae_config
  from tfiw import evaluation
  from tfiw.models import step

  out = {}
  log = lambda *a: print(*a, file=sys.stderr, flush=True)
  strategy = trainer.make_strategy("mirrored")
  out["replicas"] = strategy.num_replicas_in_sync
  x = (np.random.RandomState(0).rand(160, 12) < 0.4).astype(np.float32)
  batch, steps = 8, 3

  def make():
    return tfiw.IWAE(input_dim=12, latent_dims=[3], hidden=[8], num_samples=4, seed=7)

  # 1. Exact: mirrored SGD steps == single-device average of the replicas' half-batch grads.
  with strategy.scope():
    m = make()
    m.compile(keras.optimizers.SGD(0.05), jit_compile=True)
    m.build()
  ref = make()
  ref.build()
  ref.set_weights(m.get_weights())
  init = m.get_weights()
  trained = lambda model: [v.numpy() for v in model.trainable_variables]
  init_trainable = trained(m)
  ds = tf.data.Dataset.from_tensor_slices(x).batch(batch, drop_remainder=True)
  m.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
  out["whole_step_jit"] = bool(m.jit_compile)
  out["replica_jit"] = bool(m._replica_jit_compile)
  out["replica_fn_traces"] = int(step._REPLICA_FNS[m].experimental_get_tracing_count())
  sgd = keras.optimizers.SGD(0.05)
  half = batch // 2
  # XLA-compiled like the replicas' function: XLA's stateless RNG draws other numbers than
  # TensorFlow's kernels for the same seed, so an eager reference would not match.
  ref_grads = tf.function(ref._losses_and_grads, jit_compile=True, autograph=False)
  for i in range(steps):
    seed = tf.constant([7, i + 1], tf.int32)  # the step counter runs 1, 2, ...
    grads = []
    for r in range(2):
      xr = tf.constant(x[i * batch + r * half:i * batch + (r + 1) * half])
      grads.append(ref_grads(xr, tf.random.experimental.stateless_fold_in(seed, r))[1])
    sgd.apply([(a + b) / 2 for a, b in zip(*grads)], ref.trainable_variables)
  diff = lambda a, b: max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))
  out["weight_change"] = diff(trained(m), init_trainable)
  out["max_diff_vs_reference"] = diff(trained(m), trained(ref))
  seeds = strategy.experimental_local_results(strategy.run(m._next_seed))
  out["replica_seeds"] = [s.numpy().tolist() for s in seeds]

  log("2. Sharded")
  # 2. Sharded evaluation == single-device evaluation (same seeds).
  args = dict(num_samples=30, seed=3, batch_size=16, chunk_size=10)
  single = evaluation.log_likelihood(m, x[:56], **args)
  sharded = evaluation.log_likelihood_distributed(m, x[:56], strategy, **args)
  out["eval_max_diff"] = float(np.max(np.abs(single - sharded)))
  out["eval_mean"] = float(np.mean(single))

  log("3. Statistic")
  # 3. Statistical: mirrored vs ordinary single-device Adam, same data and init.
  bounds = {}
  for name in ("mirrored", "single"):
    with strategy.scope() if name == "mirrored" else contextlib.nullcontext():
      model = make()  # variables are created by build: inside the scope
      model.compile(keras.optimizers.Adam(1e-2), jit_compile=True)
      model.build()
      model.set_weights(init)
    hist = model.fit(ds.repeat(), epochs=2, steps_per_epoch=20, verbose=0)
    bounds[name] = hist.history["bound"]
  out["bounds"] = bounds

  log("3b. NVIL")
  # 3b. A method with a baseline network and state updates (NVIL) takes the same path:
  # XLA inside each replica, its running statistics assigned after the optimizer step.
  with strategy.scope():
    nvil = tfiw.get_method("nvil")(input_dim=12, latent_dims=[3], hidden=[[]],
                                   baseline_hidden=[4], seed=7)
    nvil.compile(keras.optimizers.Adam(1e-2), jit_compile=True)
    nvil.build()
  stats = lambda: [float(nvil.signal_mean.numpy()), float(nvil.signal_var.numpy())]
  before = stats()
  hist = nvil.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0).history
  out["nvil"] = dict(replica_jit=bool(nvil._replica_jit_compile),
                     traces=int(step._REPLICA_FNS[nvil].experimental_get_tracing_count()),
                     stats_before=before, stats_after=stats(), loss=hist["loss"][-1])

  log("4. zoo train")
  # 4. zoo trainer under "mirrored": interrupted after epoch 1, resumed from the backup.
  class Stop(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
      if epoch == 1:
        raise KeyboardInterrupt("simulated kill")

  class Epochs(keras.callbacks.Callback):
    seen = []

    def on_epoch_begin(self, epoch, logs=None):
      self.seen.append((epoch, int(self.model.optimizer.iterations.numpy())))

  cfg = iwae_config.get_config("runlocal,k=5")
  cfg.train.epochs = 3
  cfg.train.strategy = "mirrored"
  cfg.train.logical_cpus = 2
  try:
    trainer.train_and_evaluate(cfg, workdir, extra_callbacks=[Stop()], log=lambda *a: None)
  except KeyboardInterrupt:
    pass
  out["finished_before_resume"] = os.path.exists(os.path.join(workdir, "results.json"))
  results = trainer.train_and_evaluate(cfg, workdir, extra_callbacks=[Epochs()],
                                       log=lambda *a: None)
  out["resumed_epochs"] = Epochs.seen
  out["steps_per_epoch"] = cfg.train.steps_per_epoch
  out["trainer_results"] = results
  return out


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("mirrored") / "run")
  proc = subprocess.run([sys.executable, __file__, "mirrored", workdir], cwd=REPO,
                        env=_env(), capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mirrored_uses_two_replicas_with_xla_inside_each(mirrored):
  assert mirrored["replicas"] == 2
  # Keras's whole-step jit is off; the per-replica loss-and-gradient function is compiled
  # (jit_compile=True raises rather than falls back, so tracing it proves compilation).
  assert not mirrored["whole_step_jit"] and mirrored["replica_jit"]
  assert mirrored["replica_fn_traces"] >= 1
  # Every method: NVIL (baseline network, running statistics) too.
  nvil = mirrored["nvil"]
  assert nvil["replica_jit"] and nvil["traces"] >= 1 and np.isfinite(nvil["loss"]), nvil
  assert nvil["stats_after"] != nvil["stats_before"] and np.all(np.isfinite(nvil["stats_after"]))


def test_mirrored_step_equals_single_device_average_of_replica_gradients(mirrored):
  assert mirrored["weight_change"] > 1e-3  # it trained
  assert mirrored["max_diff_vs_reference"] < 1e-5, mirrored


def test_replicas_draw_different_samples(mirrored):
  a, b = mirrored["replica_seeds"]
  assert a != b


def test_mirrored_bound_trajectory_matches_single_device_within_noise(mirrored):
  m, s = np.array(mirrored["bounds"]["mirrored"]), np.array(mirrored["bounds"]["single"])
  assert m[-1] > m[0] and s[-1] > s[0]  # both learn
  # Epoch means over 160 examples of a K=4 bound around -8 nats: noise ~0.1-0.3 nats.
  assert np.max(np.abs(m - s)) < 0.75, (m, s)


def test_sharded_evaluation_equals_single_device(mirrored):
  assert mirrored["eval_max_diff"] < 1e-4 and mirrored["eval_mean"] < 0


def test_trainer_mirrored_resumes_after_interruption(mirrored):
  assert not mirrored["finished_before_resume"]
  steps = mirrored["steps_per_epoch"]
  assert mirrored["resumed_epochs"] == [[2, 2 * steps]]
  assert mirrored["trainer_results"]["test_log_likelihood"] < 0


def test_unknown_strategy_lists_valid_ones():
  from zoo import trainer
  with pytest.raises(ValueError, match="mirrored"):
    trainer.make_strategy("tpu_pod")


# ---- two workers: MultiWorkerMirroredStrategy over 127.0.0.1 ------------------------------
def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def _start_workers(workdir, ports, extra=()):
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  procs = []
  for i in range(len(ports)):
    tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "zoo.train", "--config=configs/iwae.py:runlocal,k=5",
         "--config.train.strategy=multi_worker", f"--workdir={workdir}", *extra],
        cwd=REPO, env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True))
  return procs


@pytest.mark.slow
def test_two_workers_killed_and_restarted_resume_then_chief_exports(tmp_path):
  """Both workers train; SIGKILLed after epoch 1 is backed up; restarted, they resume."""
  workdir = str(tmp_path / "run")
  extra = ["--config.train.epochs=3", "--config.train.steps_per_epoch=10",
           "--config.train.verbose=2"]
  procs = _start_workers(workdir, _free_ports(2), extra)
  metadata = [os.path.join(workdir, d, "training_metadata.json")
              for d in ("backup", "backup_worker1")]
  deadline = time.time() + 600
  while time.time() < deadline:
    done = [json.load(open(m))["epoch"] if os.path.exists(m) else 0 for m in metadata]
    if min(done) >= 1 or any(p.poll() is not None for p in procs):
      break
    time.sleep(0.2)
  for p in procs:
    p.kill()
    p.wait()
  assert min(done) >= 1 and not os.path.exists(os.path.join(workdir, "results.json")), done
  procs = _start_workers(workdir, _free_ports(2), extra)
  outs = [p.communicate(timeout=900) for p in procs]
  for p, (stdout, stderr) in zip(procs, outs):
    assert p.returncode == 0, stderr[-4000:]
  for stdout, stderr in outs:  # finished epochs are not run again
    epochs = [l.split()[1] for l in (stdout + stderr).splitlines() if l.startswith("Epoch ")]
    assert epochs and epochs[0] == f"{min(done) + 1}/3", epochs
  assert "Test log-likelihood" in outs[0][0]  # only the chief reports and writes
  assert "2 replica(s)" in outs[0][0] and "worker 1" in outs[1][0]
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert results["test_log_likelihood"] < 0 and results["epochs"] == 3
  for name in ("model.keras", "backup", "backup_worker1", "tensorboard", "config.json"):
    assert os.path.exists(os.path.join(workdir, name)), name
  from export import savedmodel
  exported = savedmodel.export_run(workdir, str(tmp_path / "exported"))
  assert os.path.exists(os.path.join(exported, "saved_model.pb"))


if __name__ == "__main__":
  if sys.argv[1] == "mirrored":
    start = time.time()
    result = _mirrored_checks(sys.argv[2])
    result["seconds"] = time.time() - start
    print(json.dumps(result))
