#!/usr/bin/env bash
# Resume the long reproduction runs (issue 16) in the background, at low priority, one
# thread each. Rows seed their workdirs from reproduction/state when those are missing and
# continue from the last finished epoch; each run stops at its --stop_epoch (the next
# schedule checkpoint worth reaching). Logs: $LONGRUNS/logs/*.log.
#   bash reproduction/resume.sh          # LONGRUNS defaults to ../longruns (outside the repo)
# Stop them with `pkill -f zoo.reproduce`, then commit reproduction/ docs/ pretrained/.
set -euo pipefail
cd "$(dirname "$0")/.."
LONGRUNS=${LONGRUNS:-$(cd .. && pwd)/longruns}
mkdir -p "$LONGRUNS/runs" "$LONGRUNS/logs"
# The project's virtual environment when one is active or sits in .venv, else python on PATH.
PYTHON=${PYTHON:-$( [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
common=(--workdir_root="$LONGRUNS/runs" --state_root=reproduction/state --pretrained_root=pretrained
        --docs_dir=docs --data_dir=../shared/data --threads=1)
start() {  # start LOG "ARGS; ARGS; ...": one background chain of zoo.reproduce calls
  local log=$1 chain=$2 cmd="" part
  IFS=';' read -ra parts <<< "$chain"
  for part in "${parts[@]}"; do
    cmd+="nice -n 19 $PYTHON -m zoo.reproduce $part ${common[*]} >> '$LONGRUNS/logs/$log.log' 2>&1; "
  done
  nohup bash -c "$cmd" > /dev/null 2>&1 &
}
# Two chains, one per core. First the two cheapest 1-layer rows of Burda's Table 1 to the
# full protocol (3,280 epochs: the first rows that can count as reproduced), then the rest
# to their next checkpoint.
start small_k "--table=burda2016_table1 --rows=vae_l1_k1 --stop_epoch=3280;
  --table=burda2016_table1 --rows=vae_l1_k5 --stop_epoch=1093"
start k5 "--table=burda2016_table1 --rows=iwae_l1_k5 --stop_epoch=3280;
  --table=burda2016_table1 --rows=iwae_l2_k5,vae_l1_k50,iwae_l1_k50,iwae_l2_k50 --stop_epoch=364"
