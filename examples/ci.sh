#!/usr/bin/env bash
# A CI job for a cnnrun experiment; copy it into your pipeline and set the variables.
#
#   1. train the config, failing the job when the test accuracy misses the bar;
#   2. predict a held-out split with the best weights, failing below the bar again;
#   3. compare against a golden run (a run folder kept from a known-good build), failing when
#      validation accuracy dropped by more than the tolerance;
#   4. keep summary.json, predictions, the comparison figure and an HTML report as artifacts.
#
# Extra arguments go to `cnnrun train`, e.g. `examples/ci.sh --set train.epochs=5`.
# Exit codes are cnnrun's: 1 for a missed gate or a failed run, 2 for bad input.
set -euo pipefail

CONFIG=${CONFIG:-configs/digits.yaml}
RUNS=${RUNS:-runs/ci}
ARTIFACTS=${ARTIFACTS:-artifacts}
PREDICT_INPUT=${PREDICT_INPUT:-digits:test}
MIN_ACCURACY=${MIN_ACCURACY:-0.9}
GOLDEN=${GOLDEN:-}
TOLERANCE=${TOLERANCE:-0.02}

mkdir -p "$ARTIFACTS"

cnnrun train "$CONFIG" --runs-dir "$RUNS" --json --fail-under "test_accuracy=$MIN_ACCURACY" "$@" \
  > "$ARTIFACTS/summary.json"
RUN=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["run_dir"])' \
  "$ARTIFACTS/summary.json")
echo "trained: $RUN"

cnnrun predict --run "$RUN" "$PREDICT_INPUT" --output "$ARTIFACTS/predictions.csv" \
  --report "$ARTIFACTS/predict" --fail-under "accuracy=$MIN_ACCURACY" --overwrite

if [[ -n "$GOLDEN" ]]; then
  cnnrun compare "$GOLDEN" "$RUN" --metric val_accuracy --tolerance "$TOLERANCE" \
    --output "$ARTIFACTS/compare.png"
fi

cnnrun report "$RUN" --output "$ARTIFACTS/report.html"
echo "artifacts in $ARTIFACTS"
