#!/usr/bin/env bash
# bench/run.sh: runs every benchmark in bench/ (`npm run bench`). Arguments go to each script,
# e.g. `npm run bench -- --write-results`. Environment variables (DUR, ROUNDS, ...) pass through.
set -u -o pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rc=0
for b in http1-reverse tls-intercept mock-endpoints; do
  echo "== $b" >&2
  bash "$dir/$b.sh" "$@" || rc=$?
done
exit $rc
