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
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
common=(--workdir_root="$LONGRUNS/runs" --state_root=reproduction/state --pretrained_root=pretrained
        --docs_dir=docs --data_dir=../shared/data --threads=1)
start() {  # start LOG ARGS...: one background zoo.reproduce process
  local log=$1; shift
  nohup nice -n 19 python -m zoo.reproduce "$@" "${common[@]}" >> "$LONGRUNS/logs/$log.log" 2>&1 &
}
# Burda Table 1, 1-layer k=1 and k=5 rows toward the full protocol (next checkpoint: epoch 1093)
start small_k --table=burda2016_table1 --rows=iwae_l1_k5,vae_l1_k1,vae_l1_k5 --stop_epoch=1093
# Burda Table 1, the K=50 and 2-layer rows from stage 4 (121) to stage 5 (364)
start k50 --table=burda2016_table1 --rows=iwae_l2_k5,vae_l1_k50,iwae_l1_k50,iwae_l2_k50 --stop_epoch=364
