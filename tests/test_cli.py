"""Every command-line entry point answers --help: exit status 0, the module docstring with
an example command, and every flag of the tool with a help string.

The tools start in parallel subprocesses (each imports TensorFlow, ~5 s of CPU), once
for all the parametrised checks.
"""
import ast
import concurrent.futures
import os
import re
import subprocess
import sys

import pytest

from zoo import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (command after `python`, source file, flags the help must list)
ENTRY_POINTS = {
    "zoo.train": (["-m", "zoo.train"], "zoo/train.py", ["config", "workdir", "data_dir"]),
    "zoo.evaluate": (["-m", "zoo.evaluate"], "zoo/evaluate.py",
                     ["workdir", "num_samples", "max_examples", "estimator", "ais_steps"]),
    "zoo.reproduce": (["-m", "zoo.reproduce"], "zoo/reproduce.py",
                      ["table", "rows", "workdir_root", "max_hours", "list", "report_only"]),
    "zoo.benchmark": (["-m", "zoo.benchmark"], "zoo/benchmark.py",
                      ["methods", "layers", "settings", "jit", "steps", "out"]),
    "zoo.diagnose": (["-m", "zoo.diagnose"], "zoo/diagnose.py",
                     ["workdir", "config", "estimators", "ks", "num_draws", "out"]),
    "zoo.diagnose_sbn": (["-m", "zoo.diagnose_sbn"], "zoo/diagnose_sbn.py",
                         ["workdir", "estimators", "num_draws", "out"]),
    "zoo.lrt_variance": (["-m", "zoo.lrt_variance"], "zoo/lrt_variance.py",
                         ["model", "stddev", "batch", "k", "repeats"]),
    "zoo.distribute_benchmark": (["-m", "zoo.distribute_benchmark"],
                                 "zoo/distribute_benchmark.py", ["mode", "steps"]),
    "export.savedmodel": (["-m", "export.savedmodel"], "export/savedmodel.py",
                          ["workdir", "output", "num_samples", "seed"]),
    "export/score.py": (["export/score.py"], "export/score.py",
                        ["model", "data", "key", "num_samples", "output", "samples"]),
}


def _help(args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, *args, "--help"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def helps():
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    futures = {name: pool.submit(_help, args) for name, (args, _, _) in ENTRY_POINTS.items()}
    return {name: f.result() for name, f in futures.items()}


def _main_module_flags(stdout):
  """{flag: help text} of the flags absl lists for the main module (before --helpfull)."""
  section = stdout.split("\nflags:\n", 1)[1].split("Try --helpfull", 1)[0]
  entries = re.split(r"\n  --", "\n" + section.split("\n", 2)[2])[1:]  # after the file line
  out = {}
  for entry in entries:
    name, _, text = entry.partition(":")
    text = re.sub(r"^ *<[^>]*>: *", "", text)  # an enum's choices
    text = " ".join(line.strip() for line in text.splitlines()
                    if not line.strip().startswith("("))  # (default: ...), (an integer)
    out[name.replace("[no]", "")] = text.strip()
  return out


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_help(helps, name):
  args, source, main_flags = ENTRY_POINTS[name]
  out = helps[name]
  assert out.returncode == 0, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
  doc = ast.get_docstring(ast.parse(open(os.path.join(REPO, source)).read()))
  assert doc and doc.splitlines()[0] in out.stdout  # the module docstring ...
  example = f"python -m {name}" if args[0] == "-m" else f"python {name}"
  assert f"  {example} --" in out.stdout  # ... with an example command
  listed = _main_module_flags(out.stdout)
  missing = [f for f in main_flags if f not in listed]
  assert not missing, f"--help of {name} does not list {missing}: {sorted(listed)}"
  no_help = [f for f, text in listed.items() if not text]
  assert not no_help, f"flags of {name} without a help string: {no_help}"


def test_asked_for_help():
  assert cli.asked_for_help(["p", "--help"]) and cli.asked_for_help(["p", "-?"])
  assert cli.asked_for_help(["p", "--workdir=x", "--helpfull"])
  assert cli.asked_for_help(["p", "-helpshort"])
  assert not cli.asked_for_help(["p", "--workdir=help"])
  assert not cli.asked_for_help(["p", "--", "--help"])  # after --: an argument, not a flag
  assert not cli.asked_for_help(["p", "help"])


def test_distribute_benchmark_positional_arguments_are_checked():
  """MODE [STEPS] as the documented commands give them (docs/distributed.md); refused
  before TensorFlow is imported, so this costs a fraction of a second."""
  for args, message in ((["bogus"], "unknown mode 'bogus'"),
                        (["single_xla", "0"], "steps must be an integer >= 1"),
                        (["single_xla", "10", "3"], "too many arguments"),
                        ([], "give --mode")):
    out = subprocess.run([sys.executable, "-m", "zoo.distribute_benchmark", *args], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and message in out.stderr, (args, out.stderr[-1000:])


# A missing run, model or data file, or a misspelt table: one line naming it, exit status 1,
# no traceback, nothing created. (command after `python`, what the message must say)
MISSING = {
    "zoo.diagnose": (["-m", "zoo.diagnose", "--workdir={missing}"], "model.keras not found"),
    "zoo.diagnose_sbn": (["-m", "zoo.diagnose_sbn", "--workdir={missing}"],
                         "model.keras not found"),
    "zoo.reproduce": (["-m", "zoo.reproduce", "--table=burda2016", "--workdir_root={missing}"],
                      "unknown table 'burda2016'; did you mean 'burda2016_appd'?"),
    "export/score.py model": (["export/score.py", "--model={missing}", "--data=x.npy"],
                              "no SavedModel in {missing}"),
}


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
  missing = str(tmp_path_factory.mktemp("cli") / "missing")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  run = lambda args: subprocess.run([sys.executable, *[a.format(missing=missing) for a in args]],
                                    cwd=REPO, env=env, capture_output=True, text=True,
                                    timeout=300)
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    futures = {name: pool.submit(run, args) for name, (args, _) in MISSING.items()}
    return missing, {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", list(MISSING))
def test_missing_input_is_one_line(refusals, name):
  missing, results = refusals
  out, message = results[name], MISSING[name][1].format(missing=missing)
  assert out.returncode == 1, (out.returncode, out.stderr[-2000:])
  assert message in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
  assert not os.path.exists(missing)
