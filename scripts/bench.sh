#!/usr/bin/env bash
# End-to-end benchmark (see BENCHMARKS.md): start a `dcproxy lab` fleet of N simulated DCs, audit it
# with dcproxy (full audit, then registry only) and with the pywinrm peer (../shared/bench), and
# print wall time, hosts/s, CPU seconds, peak RSS, requests and handshakes per host, and the
# TIME_WAIT sockets on the lab's ports before and after each run.
#
#   scripts/bench.sh N [CONCURRENCY]          default CONCURRENCY 500
#   scripts/bench.sh one [REPEAT]             one-host latency: REPEAT audits (default 3) of one
#                                             compliant host, wall time and requests per host each
#   scripts/bench.sh side [N] [CONCURRENCY]   side by side in one run (default 2000 hosts at 200):
#                                             dcproxy full audit vs the peer's registry part, and
#                                             the ratio of their hosts/s
#
# Environment: MIX (mixed|healthy, default healthy), LATENCY (50ms), EXEC_TIME (20ms),
# PROBE_TIME (500ms), PROBE_URL (the endpoint the probe requests), TIMEOUT (per-host --timeout,
# 20s), PEER (1: run the peer, 0: skip), PEER_SCRIPT (path), RUNS (full,registry,peer: which runs,
# comma-separated), FULL_REPEAT (run the full audit that many times back to back, default 1),
# OUT (work dir, default a temp dir), PROFILE (1: write cpu profiles of the client
# and the lab into OUT), CLIENT_BIN (a dcproxy binary to audit with instead of the one built here,
# e.g. an older commit's; the lab always runs the current code), HTTP_PORT/HTTPS_PORT (the lab's
# ports, default 5985/5986: change them when another lab holds 127.1.0.1:5985).
set -euo pipefail

MODE=fleet
case ${1:-} in
one) MODE=one; N=1; REPEAT=${2:-3}; C=1; RUNS=${RUNS:-one} ;;
side) MODE=side; N=${2:-2000}; C=${3:-200}; RUNS=${RUNS:-full,peer} ;;
*) N=${1:?usage: scripts/bench.sh N [CONCURRENCY] | one [REPEAT] | side [N] [CONCURRENCY]}; C=${2:-500} ;;
esac
MIX=${MIX:-healthy}
LATENCY=${LATENCY:-50ms}
EXEC_TIME=${EXEC_TIME:-20ms}
PROBE_TIME=${PROBE_TIME:-500ms}
PROBE_URL=${PROBE_URL:-https://contososensorapi.atp.azure.com/tri/sensor/api/ping}
TIMEOUT=${TIMEOUT:-20s}
RUNS=${RUNS:-full,registry,peer}
HTTP_PORT=${HTTP_PORT:-5985}
HTTPS_PORT=${HTTPS_PORT:-5986}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEER_SCRIPT=${PEER_SCRIPT:-$ROOT/../shared/bench/peer_pywinrm.py}
if [[ ,$RUNS, == *,peer,* ]] && [ "${PEER:-1}" = 1 ] && [ ! -f "$PEER_SCRIPT" ]; then
  echo "bench: peer script $PEER_SCRIPT not found (set PEER_SCRIPT, or PEER=0 to skip the peer)" >&2
  exit 2
fi
OUT=${OUT:-$(mktemp -d /tmp/dcproxy-bench.XXXXXX)}
mkdir -p "$OUT"
BIN=$OUT/dcproxy

ulimit -n "$(ulimit -Hn)"
echo "== machine: $(nproc) cpus, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM," \
  "$(go version | cut -d' ' -f3), linux $(uname -r), open files $(ulimit -n)"
echo "== load: $(uptime)"
echo "== build"
(cd "$ROOT" && go build -o "$BIN" ./cmd/dcproxy)
CLIENT=${CLIENT_BIN:-$BIN}
[ "$CLIENT" != "$BIN" ] && echo "== client binary: $CLIENT"

LAB_PID=
cleanup() { if [ -n "$LAB_PID" ]; then kill "$LAB_PID" 2>/dev/null || true; wait "$LAB_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

lab_env=()
[ "${PROFILE:-0}" = 1 ] && lab_env=(env DCPROXY_CPUPROFILE="$OUT/lab.cpu.pprof")
echo "== lab: $N hosts, mix $MIX, latency $LATENCY, exec time $EXEC_TIME, probe time $PROBE_TIME (dir $OUT/lab)"
rm -rf "$OUT/lab"
"${lab_env[@]}" "$BIN" lab --hosts "$N" --mix "$MIX" --latency "$LATENCY" --exec-time "$EXEC_TIME" \
  --probe-time "$PROBE_TIME" --http-port "$HTTP_PORT" --https-port "$HTTPS_PORT" --out "$OUT/lab" >"$OUT/lab.log" 2>&1 &
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

# timewait: loopback sockets in TIME_WAIT, all of them and split by side for the lab's ports:
# client side (the peer port is a lab port) and lab side (the local port is a lab port).
timewait() {
  ss -tan state time-wait 2>/dev/null | awk -v h=":$HTTP_PORT" -v s=":$HTTPS_PORT" '
    NR > 1 { all++; l = substr($3, length($3) - length(h) + 1); p = substr($4, length($4) - length(h) + 1)
             if (p == h || p == s) cli++; else if (l == h || l == s) srv++ }
    END { printf "time_wait=%d client_side=%d lab_side=%d", all, cli, srv }'
}

# run NAME CMD...: time a client run under /usr/bin/time -v and print its figures.
run() {
  local name=$1; shift
  local before after tw0
  tw0=$(timewait)
  before=$(lab_cpu)
  /usr/bin/time -v -o "$OUT/$name.time" "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" || true
  after=$(lab_cpu)
  python3 - "$OUT" "$name" "$N" "$C" "$before" "$after" "$(lab_rss)" "$tw0" "$(timewait)" <<'PY'
import json, os, re, sys
out, name, n, c, lab0, lab1, labrss, tw0, tw1 = sys.argv[1:]
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
with open(os.path.join(out, "rates"), "a") as f:
    f.write("%s %.3f\n" % (name, n / wall))
print("RESULT %-9s hosts=%d conc=%s wall=%.2fs hosts/s=%.1f cpu=%.2fs peak_rss=%.0fMB lab_cpu=%.2fs lab_rss=%sMB%s" % (
    name, n, c, wall, n / wall, cpu, rss, float(lab1) - float(lab0), labrss, extra))
print("   TIME_WAIT before: %s; after: %s" % (tw0, tw1))
PY
}

rm -f "$OUT/rates"
audit_env=()
if [ "$MODE" = one ]; then
  echo "== one-host latency: $REPEAT audits of one compliant host"
  for i in $(seq "$REPEAT"); do
    run "one$i" "$CLIENT" audit -i "$OUT/lab/inventory.yaml" --timeout "$TIMEOUT" -q --probe-url "$PROBE_URL" \
      --format json -o "$OUT/one$i.json"
  done
fi
if [[ ,$RUNS, == *,full,* ]]; then
  # FULL_REPEAT=2: the full audit twice back to back against the same lab (full, full2), e.g. to
  # see whether the first run's TIME_WAIT sockets slow the second.
  for i in $(seq "${FULL_REPEAT:-1}"); do
    name=full; [ "$i" -gt 1 ] && name=full$i
    echo "== dcproxy audit (full: registry + endpoint probe) $name"
    [ "${PROFILE:-0}" = 1 ] && audit_env=(env DCPROXY_CPUPROFILE="$OUT/$name.cpu.pprof")
    run "$name" "${audit_env[@]}" "$CLIENT" audit -i "$OUT/lab/inventory.yaml" --concurrency "$C" --timeout "$TIMEOUT" -q \
      --probe-url "$PROBE_URL" --format json -o "$OUT/$name.json"
  done
fi
if [[ ,$RUNS, == *,registry,* ]]; then
  echo "== dcproxy audit --no-probe (registry only, like the peer)"
  [ "${PROFILE:-0}" = 1 ] && audit_env=(env DCPROXY_CPUPROFILE="$OUT/registry.cpu.pprof")
  run registry "${audit_env[@]}" "$CLIENT" audit -i "$OUT/lab/inventory.yaml" --concurrency "$C" --timeout "$TIMEOUT" -q \
    --no-probe --format json -o "$OUT/registry.json"
fi
if [[ ,$RUNS, == *,peer,* ]] && [ "${PEER:-1}" = 1 ]; then
  echo "== peer: pywinrm thread pool ($PEER_SCRIPT), registry part only"
  run peer /usr/bin/python3 "$PEER_SCRIPT" "$OUT/lab/inventory.txt" --user "$DCPROXY_USER" --transport ntlm \
    --concurrency "$C" --timeout "${TIMEOUT%s}" --quiet
fi
if [ -s "$OUT/rates" ] && grep -q '^peer ' "$OUT/rates"; then
  awk '{r[$1] = $2} END { for (k in r) if (k != "peer" && r["peer"] > 0)
    printf "RATIO %s/peer hosts/s = %.1fx\n", k, r[k] / r["peer"] }' "$OUT/rates"
fi
echo "== load: $(uptime)"
echo "== files in $OUT"
