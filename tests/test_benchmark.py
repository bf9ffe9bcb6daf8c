"""The benchmark tool runs end to end on a tiny setting (timings themselves are not tested)."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_runs_on_a_tiny_setting(tmp_path):
  out = str(tmp_path / "bench")
  res = subprocess.run(
      [sys.executable, "-m", "zoo.benchmark", "--methods=iwae", "--layers=1", "--settings=4x2",
       "--jit=true", "--steps_per_execution=1,2", "--steps=3", "--repeats=1", "--eval_examples=4", "--eval_k=10",
       "--precision=float32,bfloat16",
       "--eval_batch=4", "--eval_chunk=5", f"--out={out}"],
      cwd=REPO, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert res.returncode == 0, res.stderr[-3000:]
  results = json.load(open(out + ".json"))["results"]
  kinds = sorted((r["kind"], r["precision"]) for r in results)
  assert kinds == [("eval", "bfloat16"), ("eval", "float32")] + [
      ("train", "bfloat16")] * 2 + [("train", "float32")] * 2
  assert sorted(r["steps_per_execution"] for r in results if r["kind"] == "train") == [1, 1, 2, 2]
  for r in results:
    assert r["achieved_gflops"] > 0 and 0 < r["utilisation"]
    # utilisation against matmuls measured at the record's own precision
    assert {d["precision"] for d in r["matmul_detail"]} == {r["precision"]}
  table = open(out + ".md").read()
  assert "| iwae | 1 | 4x2 | bfloat16 | True (threefry) | 2 |" in table
