#!/usr/bin/env bash
# replay-ab.sh ROUNDS OUT NAME=BINARY...
#
# Alternating replay series: for each round, for each public trace, runs
# every BINARY on it in turn and appends "round trace NAME ns_per_op" to
# OUT; then prints each trace's median per NAME and its ratio to the last
# NAME's. A BINARY whose path contains "demo" is run as `BINARY replay
# TRACE` (the Go demo); any other as `BINARY TRACE` (the C replayers of
# ../shared/cpython-replay). The bench/results files of sessions 6 to 8
# named /tmp/s6/cmp.sh were made by this script.
#
# Example: go build -o /tmp/demo ./cmd/demo
#          bench/scripts/replay-ab.sh 7 /tmp/ab.txt gopymalloc=/tmp/demo cpython=$HOME/cref/replay-pymalloc
set -euo pipefail
rounds=$1 out=$2
shift 2
traces=${TRACES:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/traces}
: >"$out"
for r in $(seq "$rounds"); do
	for t in compileall json_tool pydoc test_re; do
		for nb in "$@"; do
			n=${nb%%=*} b=${nb#*=}
			case $b in
			*demo*) line=$("$b" replay "$traces/$t.trace.gz") ;;
			*) line=$("$b" "$traces/$t.trace.gz") ;;
			esac
			echo "$r $t $n $(echo "$line" | grep -o 'ns_per_op=[0-9.]*' | cut -d= -f2)" >>"$out"
		done
	done
done
python3 - "$out" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r, t, n, ns = line.split()
    d[(t, n)].append(float(ns))
names, traces = [], []
for t, n in d:
    names += [n] if n not in names else []
    traces += [t] if t not in traces else []
ref = names[-1]
for t in traces:
    print(t, " ".join(f"{n}={statistics.median(d[(t, n)]):.2f}({statistics.median(d[(t, n)]) / statistics.median(d[(t, ref)]):.3f})" for n in names))
PY
