#!/usr/bin/env bash
# check-unit-hardening.sh UNIT MAX: systemd's own offline security score of
# the unit (0 safest .. 10) must be MAX or less. Exit 77 (skipped) where
# systemd-analyze is missing.
set -euo pipefail
unit=$1 max=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "skipped: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi
report=$(systemd-analyze security --offline=true "$unit" 2>&1) || true
if grep -qi "unrecognized option\|unknown option" <<<"$report"; then
  echo "skipped: this systemd-analyze has no --offline (systemd 250 or later has)"
  exit 77
fi
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$report")
[ -n "$score" ] || { echo "$report"; echo "no score for $unit"; exit 1; }
echo "$unit: exposure $score (at most $max)"
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || { echo "$report" | grep '✗'; exit 1; }
