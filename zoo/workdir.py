"""The layout of a run directory: every path inside one, and how to read and write its files.

Every tool that reads or writes a run directory (``zoo.train``, ``zoo.evaluate``,
``zoo.diagnose``, ``zoo.diagnose_sbn``, ``zoo.reproduce``, ``export.savedmodel``) goes
through these functions; none joins file names by hand, so the layout is written down once,
here. Importing this module is cheap (the standard library; Keras, TensorFlow and
ml_collections are imported by the functions that need them).

A ``zoo.train`` run directory::

  config.json         the run's config (``load_config``); a resumed run must match it in
                      every field that shapes the training trajectory
  backup/             Keras BackupAndRestore state (weights incl. the step seed counter,
                      optimizer, epoch): the resume point, written at the end of each epoch;
                      ``training_metadata.json`` inside holds the epochs done
                      (``backup_epoch``), ``latest.weights.h5`` the weights;
                      each save is swapped in whole (``replace_backup``: ``backup.new/``
                      and ``backup.old/`` exist only while it runs)
  backup_worker<i>/   (multi_worker only) non-chief worker i's own backup; non-chief workers
                      write everything else to a temporary directory
  history.json        per-epoch training/validation logs {"<epoch>": {metric: value}}
  tensorboard/        TensorBoard logs; tensorboard/eval/ the evaluations' scalars and images
  model.keras         the trained model, native Keras format (``load_model``)
  results.json        the final evaluation of zoo.train; its presence marks the run finished
  evaluation.json     zoo.evaluate's summary; samples.png and reconstructions.png beside it
  diagnostics/        zoo.diagnose's default output folder (snr.json, snr.png)
  grad_variance.json  zoo.diagnose_sbn's default output
  .lock               held (``exclusive``) by the process training in the directory, and
                      naming it (``load_run`` refuses while it is held: ``check_idle``);
                      ``.lock.worker<i>``: non-chief worker i's

A ``zoo.reproduce`` row directory (``<workdir_root>/<table>/<row>/``) has ``config.json``
and ``backup/`` as above, ``curve.json`` (the learning curve with the checkpoint
evaluations) instead of ``history.json`` and ``model.keras`` (its models are exported as
SavedModels elsewhere), ``test_log_prob/epoch_<e>.npy`` (each checkpoint's per-image test
log p, float32, for paired comparisons between rows) and ``ais.json`` where
``docs/ais_eval.py`` ran on the row.

The SavedModel written by ``export.savedmodel`` lives wherever ``--output`` says, not in
the run directory; its own layout (``assets/config.json``) is ``tfiw.export``'s.
"""
import contextlib
import datetime
import errno
import json
import os
import shutil
import sys
import warnings

try:
  import fcntl
except ImportError:  # not on POSIX (Windows): runs go unlocked
  fcntl = None

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
MODEL_FILE = "model.keras"
RESULTS_FILE = "results.json"
EVALUATION_FILE = "evaluation.json"
BACKUP_DIR = "backup"
TENSORBOARD_DIR = "tensorboard"
EVAL_TENSORBOARD_DIR = "eval"  # inside TENSORBOARD_DIR
PICTURES = ("samples", "reconstructions")  # zoo.evaluate's <name>.png
DIAGNOSTICS_DIR = "diagnostics"
GRAD_VARIANCE_FILE = "grad_variance.json"
CURVE_FILE = "curve.json"
AIS_FILE = "ais.json"
TEST_LOG_PROB_DIR = "test_log_prob"
# Keras's BackupAndRestore names these inside the backup folder (keras.callbacks).
BACKUP_METADATA_FILE = "training_metadata.json"
BACKUP_WEIGHTS_FILE = "latest.weights.h5"
LOCK_FILE = ".lock"


# ---- paths ---------------------------------------------------------------------------------
def config_path(workdir):
  return os.path.join(workdir, CONFIG_FILE)


def history_path(workdir):
  return os.path.join(workdir, HISTORY_FILE)


def model_path(workdir):
  return os.path.join(workdir, MODEL_FILE)


def results_path(workdir):
  return os.path.join(workdir, RESULTS_FILE)


def evaluation_path(workdir):
  return os.path.join(workdir, EVALUATION_FILE)


def picture_path(workdir, name):
  """``<workdir>/<name>.png`` for one of ``PICTURES``."""
  if name not in PICTURES:
    raise ValueError(f"unknown picture {name!r}; valid: {list(PICTURES)}")
  return os.path.join(workdir, f"{name}.png")


def backup_dir(workdir, worker=None):
  """The BackupAndRestore folder: ``backup/``, or ``backup_worker<i>/`` for non-chief
  worker ``i`` of a multi-worker run (``worker=None``: the chief's)."""
  return os.path.join(workdir, BACKUP_DIR if worker is None else f"{BACKUP_DIR}_worker{worker}")


def backup_weights_path(workdir, worker=None):
  """The weights of the last finished epoch, as BackupAndRestore saved them."""
  return os.path.join(backup_dir(workdir, worker), BACKUP_WEIGHTS_FILE)


def lock_path(workdir, worker=None):
  """The lock file of the process that works in ``workdir`` (non-chief worker ``i``: its own)."""
  return os.path.join(workdir, LOCK_FILE if worker is None else f"{LOCK_FILE}.worker{worker}")


def tensorboard_dir(workdir):
  return os.path.join(workdir, TENSORBOARD_DIR)


def eval_tensorboard_dir(workdir):
  """Where the evaluations (zoo.train's final one, zoo.evaluate's) log to TensorBoard."""
  return os.path.join(workdir, TENSORBOARD_DIR, EVAL_TENSORBOARD_DIR)


def diagnostics_dir(workdir):
  return os.path.join(workdir, DIAGNOSTICS_DIR)


def grad_variance_path(workdir):
  return os.path.join(workdir, GRAD_VARIANCE_FILE)


def row_dir(root, table, row):
  """A zoo.reproduce row's directory: ``<root>/<table>/<row>``."""
  return os.path.join(root, table, row)


def curve_path(workdir):
  return os.path.join(workdir, CURVE_FILE)


def ais_path(workdir):
  return os.path.join(workdir, AIS_FILE)


def test_log_prob_path(workdir, epoch):
  return os.path.join(workdir, TEST_LOG_PROB_DIR, f"epoch_{int(epoch)}.npy")


# ---- reading and writing -------------------------------------------------------------------
def read_json(path, default=None):
  """The JSON in ``path``, or ``default`` if there is no such file."""
  if not os.path.exists(path):
    return default
  with open(path) as f:
    return json.load(f)


def write_json(path, obj, indent=2, allow_nan=False):
  """Atomic JSON write: a kill mid-write leaves the old file. The temporary name carries
  the process id, so two processes writing the same file never share one. NaN/inf are
  refused unless ``allow_nan`` (results must be finite; a learning curve may not be)."""
  text = json.dumps(obj, indent=indent, allow_nan=allow_nan)
  tmp = f"{path}.{os.getpid()}.tmp"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)


def write_npy(path, array):
  """Atomic ``np.save`` (as ``write_json``), creating the folder."""
  import numpy as np
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.{os.getpid()}.tmp.npy"
  np.save(tmp, array)
  os.replace(tmp, path)


def load_config_dict(workdir):
  """config.json of the run in ``workdir`` as a plain dict (None if there is none)."""
  return read_json(config_path(workdir))


def load_config(workdir):
  """config.json of the run in ``workdir`` as an ``ml_collections.ConfigDict``."""
  import ml_collections
  path = config_path(workdir)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: {workdir} is not a zoo.train run directory")
  return ml_collections.ConfigDict(read_json(path))


def read_history(workdir):
  """history.json: {"<epoch>": {metric: value}} ({} before the first epoch ends)."""
  return read_json(history_path(workdir), {})


def write_history_epoch(workdir, epoch, logs):
  """Record (or replace: an epoch redone after a kill) one epoch's logs in history.json."""
  history = read_history(workdir)
  history[str(epoch)] = logs
  write_json(history_path(workdir), history)


def load_results(workdir):
  """results.json (the final evaluation), or None if the run has not finished."""
  return read_json(results_path(workdir))


def backup_epoch(backup):
  """Epochs finished according to the BackupAndRestore state in the folder ``backup``
  (``backup_dir(workdir)``, or a worker's); 0 if there is none."""
  meta = read_json(os.path.join(backup, BACKUP_METADATA_FILE), {})
  return int(meta.get("epoch", 0))


def replace_folder(folder, write):
  """Write a new ``folder`` with ``write(path)`` (which creates ``path``) at
  ``<folder>.new``, then swap it in: a kill at any moment leaves one complete copy, the old
  or the new, in ``folder`` or (between the two renames) in ``<folder>.old``, where
  ``recover_folder`` finds it."""
  new, old = folder + ".new", folder + ".old"
  # An earlier kill's leftovers first: were <folder>.old (then the only complete copy)
  # removed before the swap, a kill before the new copy is in place would leave none.
  recover_folder(folder)
  write(new)
  if os.path.exists(folder):
    os.rename(folder, old)
  os.rename(new, folder)
  shutil.rmtree(old, ignore_errors=True)


def recover_folder(folder):
  """Undo what a kill in ``replace_folder`` left: the complete copy back in ``folder``, a
  half-written new one removed. Run before anything reads the folder (the holder of the
  workdir's lock). Returns True if the folder was moved back."""
  new, old = folder + ".new", folder + ".old"
  moved = not os.path.exists(folder) and os.path.exists(old)
  if moved:
    os.rename(old, folder)
  shutil.rmtree(old, ignore_errors=True)
  shutil.rmtree(new, ignore_errors=True)
  return moved


def replace_backup(backup, save_weights, metadata):
  """A backup folder swapped in whole (``replace_folder``): ``save_weights(path)`` writes
  the weights file, then the metadata {"epoch": e, ...} is written.

  Keras's BackupAndRestore writes the weights in place and then the epoch: a kill during
  the first write left a truncated file no run could resume from, and one between the two
  left epoch e's weights under epoch e-1's count.
  """
  def write(new):
    os.makedirs(new)
    save_weights(os.path.join(new, BACKUP_WEIGHTS_FILE))
    write_json(os.path.join(new, BACKUP_METADATA_FILE), metadata)
  replace_folder(backup, write)


def _need_model(workdir):
  path = model_path(workdir)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: train first with python -m zoo.train "
                            f"--config=... --workdir={workdir} (a run writes {MODEL_FILE} "
                            "when its training ends)")
  return path


def load_model(workdir):
  """The trained model of the run in ``workdir`` (``model.keras``); FileNotFoundError
  with the command to train it if there is none."""
  path = _need_model(workdir)
  import keras
  import tfiw  # noqa: F401  (registers the model classes for deserialisation)
  return keras.models.load_model(path)


def load_run(workdir):
  """(config as a ConfigDict, trained model) of the run in ``workdir``. ``WorkdirBusy``
  while a process trains there (its model.keras is missing, or about to be replaced)."""
  check_idle(workdir)
  _need_model(workdir)
  return load_config(workdir), load_model(workdir)


# ---- one process at a time -----------------------------------------------------------------
class WorkdirBusy(RuntimeError):
  """Another process holds the directory's lock: it is training there."""


@contextlib.contextmanager
def exclusive(workdir, worker=None):
  """Hold ``workdir``'s lock for the block, or raise ``WorkdirBusy`` naming the process that
  holds it. Two processes training one run would overwrite each other's backups, and a
  resumed run would continue from whichever wrote last.

  The lock is an ``flock`` on ``lock_path``, which the kernel releases when its holder
  exits, however it exits (a SIGKILLed run leaves no stale lock behind); the file itself
  stays, holding the last holder's pid and command for the message. Where nothing can lock
  (some network mounts; Windows has no flock) it warns and goes on unlocked.
  """
  os.makedirs(workdir, exist_ok=True)
  path = lock_path(workdir, worker)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      if fcntl is None:
        raise OSError(errno.ENOSYS, "no flock on this system")
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        warnings.warn(f"cannot lock {path} ({e}); make sure no other process works in "
                      f"{workdir}")
      else:
        raise _busy(workdir, fd) from None
    os.ftruncate(fd, 0)
    os.write(fd, (f"pid {os.getpid()}, `{' '.join(sys.argv)}`, since "
                  f"{datetime.datetime.now().isoformat(timespec='seconds')}").encode())
    yield path
  finally:
    os.close(fd)  # (releases the flock)


def check_idle(workdir):
  """Raise ``WorkdirBusy`` if a process is training in ``workdir`` (for readers of its
  model, ``load_run``: the run has no final model yet, or is replacing it); writes
  nothing."""
  if fcntl is None:
    return
  try:
    fd = os.open(lock_path(workdir), os.O_RDONLY)
  except FileNotFoundError:  # never trained here (or not a run directory at all)
    return
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # refused while a trainer holds it
  except OSError as e:
    if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
      raise _busy(workdir, fd) from None
  finally:
    os.close(fd)


def _busy(workdir, fd):
  holder = os.read(fd, 4096).decode(errors="replace").strip() or "an unknown process"
  return WorkdirBusy(f"{workdir} is in use by another process ({holder}); wait for it to "
                     "end, or stop it, then run this again")
