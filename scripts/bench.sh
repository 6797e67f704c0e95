#!/usr/bin/env bash
# End-to-end benchmark (see BENCHMARKS.md): start a `dcproxy lab` fleet of N simulated DCs, audit it
# with dcproxy (full audit, then registry only) and with the pywinrm peer (../shared/bench), and
# print wall time, hosts/s, CPU seconds, peak RSS, requests and handshakes per host.
#
#   scripts/bench.sh N [CONCURRENCY]          default CONCURRENCY 500
#
# Environment: MIX (mixed|healthy, default healthy), LATENCY (50ms), PROBE_TIME (500ms),
# TIMEOUT (per-host --timeout, 20s), PEER (1: run the peer, 0: skip), PEER_SCRIPT (path),
# RUNS (full,registry,peer: which runs, comma-separated), OUT (work dir, default a temp dir),
# PROFILE (1: write cpu profiles of the client and the lab into OUT).
set -euo pipefail

N=${1:?usage: scripts/bench.sh N [CONCURRENCY]}
C=${2:-500}
MIX=${MIX:-healthy}
LATENCY=${LATENCY:-50ms}
PROBE_TIME=${PROBE_TIME:-500ms}
TIMEOUT=${TIMEOUT:-20s}
RUNS=${RUNS:-full,registry,peer}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEER_SCRIPT=${PEER_SCRIPT:-$ROOT/../shared/bench/peer_pywinrm.py}
OUT=${OUT:-$(mktemp -d /tmp/dcproxy-bench.XXXXXX)}
mkdir -p "$OUT"
BIN=$OUT/dcproxy

ulimit -n "$(ulimit -Hn)"
echo "== machine: $(nproc) cpus, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM," \
  "$(go version | cut -d' ' -f3), linux $(uname -r), open files $(ulimit -n)"
echo "== build"
(cd "$ROOT" && go build -o "$BIN" ./cmd/dcproxy)

LAB_PID=
cleanup() { if [ -n "$LAB_PID" ]; then kill "$LAB_PID" 2>/dev/null || true; wait "$LAB_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

lab_env=()
[ "${PROFILE:-0}" = 1 ] && lab_env=(env DCPROXY_CPUPROFILE="$OUT/lab.cpu.pprof")
echo "== lab: $N hosts, mix $MIX, latency $LATENCY, probe time $PROBE_TIME (dir $OUT/lab)"
rm -rf "$OUT/lab"
"${lab_env[@]}" "$BIN" lab --hosts "$N" --mix "$MIX" --latency "$LATENCY" --probe-time "$PROBE_TIME" --out "$OUT/lab" \
  >"$OUT/lab.log" 2>&1 &
LAB_PID=$!
while [ ! -e "$OUT/lab/ready" ]; do
  kill -0 "$LAB_PID" 2>/dev/null || { cat "$OUT/lab.log"; exit 1; }
  sleep 0.2
done
cat "$OUT/lab.log"
# shellcheck disable=SC1091
. "$OUT/lab/lab.env"
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE

lab_cpu() { awk '{printf "%.2f", ($14+$15)/'"$(getconf CLK_TCK)"'}' "/proc/$LAB_PID/stat"; }
lab_rss() { awk '/VmRSS/{printf "%d", $2/1024}' "/proc/$LAB_PID/status"; }

# run NAME CMD...: time a client run under /usr/bin/time -v and print its figures.
run() {
  local name=$1; shift
  local before after
  # Back-to-back runs leave tens of thousands of loopback sockets in TIME_WAIT (60 s); see BENCHMARKS.md.
  echo "   (TIME_WAIT sockets now: $(ss -tan state time-wait 2>/dev/null | tail -n +2 | wc -l))"
  before=$(lab_cpu)
  /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" || true
  after=$(lab_cpu)
  python3 - "$OUT" "$name" "$N" "$C" "$before" "$after" "$(lab_rss)" <<'PY'
import json, os, re, sys
out, name, n, c, lab0, lab1, labrss = sys.argv[1:]
t = open(os.path.join(out, name + ".time")).read()
def field(label):
    return re.search(re.escape(label) + r": (.*)", t).group(1).strip()
wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
rss = int(field("Maximum resident set size (kbytes)")) / 1024
n = int(n)
extra = ""
rep = os.path.join(out, name + ".json")
if os.path.exists(rep):
    r = json.load(open(rep))
    hs = r["hosts"]
    st = [h.get("stats") or {} for h in hs]
    ok = [s for h, s in zip(hs, st) if h["status"] != "error"] or [{}]
    extra = " req/host=%.2f handshakes/host=%.2f summary=%s" % (
        sum(s.get("requests", 0) for s in ok) / len(ok), sum(s.get("handshakes", 0) for s in ok) / len(ok),
        json.dumps(r["summary"], separators=(",", ":")))
else:
    m = re.search(r"^summary: .*", open(os.path.join(out, name + ".stdout")).read(), re.M)
    extra = " peer " + (m.group(0) if m else "(no summary line)")
print("RESULT %-9s hosts=%d conc=%s wall=%.2fs hosts/s=%.1f cpu=%.2fs peak_rss=%.0fMB lab_cpu=%.2fs lab_rss=%sMB%s" % (
    name, n, c, wall, n / wall, cpu, rss, float(lab1) - float(lab0), labrss, extra))
PY
}

audit_env=()
if [[ ,$RUNS, == *,full,* ]]; then
  echo "== dcproxy audit (full: registry + endpoint probe)"
  [ "${PROFILE:-0}" = 1 ] && audit_env=(env DCPROXY_CPUPROFILE="$OUT/full.cpu.pprof")
  run full "${audit_env[@]}" "$BIN" audit -i "$OUT/lab/inventory.yaml" --concurrency "$C" --timeout "$TIMEOUT" -q \
    --format json -o "$OUT/full.json"
fi
if [[ ,$RUNS, == *,registry,* ]]; then
  echo "== dcproxy audit --no-probe (registry only, like the peer)"
  [ "${PROFILE:-0}" = 1 ] && audit_env=(env DCPROXY_CPUPROFILE="$OUT/registry.cpu.pprof")
  run registry "${audit_env[@]}" "$BIN" audit -i "$OUT/lab/inventory.yaml" --concurrency "$C" --timeout "$TIMEOUT" -q \
    --no-probe --format json -o "$OUT/registry.json"
fi
if [[ ,$RUNS, == *,peer,* ]] && [ "${PEER:-1}" = 1 ]; then
  echo "== peer: pywinrm thread pool ($PEER_SCRIPT)"
  run peer /usr/bin/python3 "$PEER_SCRIPT" "$OUT/lab/inventory.txt" --user "$DCPROXY_USER" --transport ntlm \
    --concurrency "$C" --timeout "${TIMEOUT%s}" --quiet
fi
echo "== files in $OUT"
