#!/usr/bin/env bash
# Resume the long reproduction runs (issue 16) in the background, at low priority, one
# thread each. Rows seed their workdirs from reproduction/state when those are missing and
# continue from the last finished epoch; each run stops at its --stop_epoch. Logs:
# $LONGRUNS/logs/*.log.
#   bash reproduction/resume.sh                  # the default chains below
#   bash reproduction/resume.sh LOG "ARGS; ARGS" # one chain of your own, e.g.
#   bash reproduction/resume.sh seed1 "--table=burda2016_table1 --rows=iwae_l1_k5_seed1 --stop_epoch=40"
# LONGRUNS defaults to ../longruns (outside the repo). Stop them with
# `pkill -f zoo.reproduce`, then commit reproduction/ docs/ pretrained/.
#
# The runs execute a snapshot of the code ($LONGRUNS/code/<time>), not the working tree:
# TensorFlow's autograph reads a function's source file when it first traces it, so a run
# that traces its evaluation hours after an edit of the tree parses shifted lines and
# fails (a run died so at its epoch-1093 checkpoint on 2026-12-06).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
LONGRUNS=${LONGRUNS:-$(cd .. && pwd)/longruns}
mkdir -p "$LONGRUNS/runs" "$LONGRUNS/logs"
# The default chains once only: started twice they would queue every row twice (each
# row's workdir lock refuses a second trainer, but the chains would move on to rows the
# first ones have not reached: three or four processes on two cores).
if [ $# -lt 2 ] && running=$(pgrep -f -- "--workdir_root=$LONGRUNS/runs"); then
  echo "runs are going in $LONGRUNS (pids $(echo $running)): stop them first with" \
       "pkill -f zoo.reproduce" >&2
  exit 1
fi
# The project's virtual environment when one is active or sits in .venv, else python on PATH.
PYTHON=${PYTHON:-$( [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ] && echo "$REPO/.venv/bin/python" || command -v python)}
SNAP="$LONGRUNS/code/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$SNAP"
cp -r tfiw zoo configs export setup.py "$SNAP"/
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
common=(--workdir_root="$LONGRUNS/runs" --state_root="$REPO/reproduction/state"
        --pretrained_root="$REPO/pretrained" --docs_dir="$REPO/docs"
        --data_dir="$REPO/../shared/data" --threads=1)
start() {  # start LOG "ARGS; ARGS; ...": one background chain of zoo.reproduce calls
  local log=$1 chain=${2//$'\n'/ } cmd="cd '$SNAP'; " part
  # Newlines folded first: `read` takes one line, so a chain written over several lines
  # would otherwise silently lose every command after the first (it did, 2026-12-06).
  IFS=';' read -ra parts <<< "$chain"
  for part in "${parts[@]}"; do
    cmd+="nice -n 19 '$PYTHON' -m zoo.reproduce $part ${common[*]} >> '$LONGRUNS/logs/$log.log' 2>&1; "
  done
  nohup bash -c "$cmd" > /dev/null 2>&1 &
  echo "started $log from $SNAP (log: $LONGRUNS/logs/$log.log)"
}
if [ $# -ge 2 ]; then
  start "$1" "$2"
  exit 0
fi
# Two chains, one per core: the 1-layer k=1 and k=5 rows of Burda's Table 1 to the full
# protocol (3,280 epochs: the rows that can count as reproduced first; a row already there
# is skipped at once), with the variants that measure the finished rows' gap to the paper
# (yburda/iwae's Adam on vae_l1_k1 and iwae_l1_k5; all the released code's known choices
# at once on both; two more seeds of vae_l1_k1 and one of iwae_l1_k5, the yardsticks: on
# the VAE row the Adam alone did not exceed the seed spread, so the IWAE row's seed comes
# before its Adam-only row); then iwae_l2_k5 to the full protocol (the first 2-layer row
# there, about 15 h) and the K=50 rows to their next checkpoint.
start small_k "--table=burda2016_table1 --rows=vae_l1_k1 --stop_epoch=3280;
  --table=burda2016_table1 --rows=vae_l1_k1_yburda_adam --stop_epoch=3280;
  --table=burda2016_table1 --rows=vae_l1_k1_seed1 --stop_epoch=3280;
  --table=burda2016_table1 --rows=vae_l1_k1_seed2 --stop_epoch=3280;
  --table=burda2016_table1 --rows=vae_l1_k5 --stop_epoch=3280;
  --table=burda2016_table1 --rows=iwae_l2_k5 --stop_epoch=3280"
start k5 "--table=burda2016_table1 --rows=iwae_l1_k5 --stop_epoch=3280;
  --table=burda2016_table1 --rows=vae_l1_k1_released_code --stop_epoch=3280;
  --table=burda2016_table1 --rows=iwae_l1_k5_released_code --stop_epoch=3280;
  --table=burda2016_table1 --rows=iwae_l1_k5_seed1 --stop_epoch=3280;
  --table=burda2016_table1 --rows=iwae_l1_k5_yburda_adam --stop_epoch=3280;
  --table=burda2016_table1 --rows=vae_l1_k50,iwae_l1_k50,iwae_l2_k50 --stop_epoch=364"
