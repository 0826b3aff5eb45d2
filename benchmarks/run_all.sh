#!/usr/bin/env bash
# make bench: run every `signals bench NAME --json` and keep the last JSON line of each in
# benchmarks/results/NAME.json (each benchmark measures the project and its peer in the same run).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results
names=${BENCH:-$(.venv/bin/python -c "from signals.cli.bench import _names; print(' '.join(_names()))")}
status=0
for name in $names; do
  echo "== signals bench $name --json"
  log=benchmarks/results/$name.log
  if .venv/bin/signals bench "$name" --json ${BENCH_ARGS:-} | tee "$log"; then
    tail -n 1 "$log" > "benchmarks/results/$name.json"
  else
    echo "bench $name failed (see $log)"; status=1
  fi
done
# the second committed policy (DAgger imitation of our actuated control) through the same bench
if [ -z "${BENCH:-}" ] || [[ " $names " == *" policy "* ]]; then
  echo "== signals bench policy --policy policies/pilot-zone-dagger --json"
  log=benchmarks/results/policy-dagger.log
  if .venv/bin/signals bench policy --policy policies/pilot-zone-dagger --json | tee "$log"; then
    tail -n 1 "$log" > benchmarks/results/policy-dagger.json
  else
    echo "bench policy (dagger) failed (see $log)"; status=1
  fi
fi
exit $status
