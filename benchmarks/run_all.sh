#!/usr/bin/env bash
# Run every benchmark at full size, one JSON (and its stderr) per benchmark into DIR.
#   usage: bash benchmarks/run_all.sh [DIR] [NAME ...]     (default: bench-out, all benchmarks)
# Each benchmark gets BENCH_TIMEOUT seconds (default 300); ReservoirPy is needed for `reservoir`
# (`pip install 'physlearning[bench]'`). Python: $PYTHON, else python3.
set -u
out=${1:-bench-out}
shift || true
names=${*:-reservoir ep scattering thermo heb}
mkdir -p "$out"
for b in $names; do
  start=$(date +%s)
  timeout "${BENCH_TIMEOUT:-300}" "${PYTHON:-python3}" -m physlearning bench "$b" --json >"$out/$b.json" 2>"$out/$b.err"
  echo "$b: exit $? in $(( $(date +%s) - start )) s"
done
