#!/usr/bin/env bash
# Throwaway single-node Ceph RADOS Gateway (real S3 with Object Lock) for tests.
#
#   scripts/rgw.sh start  [DIR]   fresh cluster in DIR (default /tmp/amber-rgw); prints env lines
#   scripts/rgw.sh stop   [DIR]   kill the daemons started from DIR and remove DIR
#   scripts/rgw.sh status [DIR]   show daemons and whether S3 answers (exit 0 = up)
#
# One ceph-mon + one memstore ceph-osd (data lives in RAM, allocated only as
# written) + radosgw on 127.0.0.1, cephx disabled. Nothing outside DIR is
# read or written: every tool gets `-c DIR/ceph.conf`, /etc/ceph is ignored.
#
# Environment:
#   RGW_PORT         S3 port (default 7480; "0" or "auto" = pick a free one)
#   RGW_MEM_BYTES    memstore capacity in bytes (default 8 GiB, RAM used only as written)
#   RGW_TIMEOUT      seconds before start gives up (default 90)
#   RGW_VERBOSE=1    log the time of each start-up stage
#
# `start` prints shell-sourceable lines on stdout (progress goes to stderr) and
# writes the same lines to DIR/env:
#   eval "$(scripts/rgw.sh start)"   or   . /tmp/amber-rgw/env
set -euo pipefail

ACCESS_KEY=amber-test
SECRET_KEY=amber-test-secret
REGION=us-east-1
MARKER=.amber-rgw          # file that proves DIR was created by this script
DAEMONS=(radosgw osd mon)  # stop order

unset CEPH_ARGS CEPH_CONF # nothing from the caller environment leaks into our cluster
cmd=${1:-}
DIR=${2:-/tmp/amber-rgw}

log() { printf '[rgw.sh] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

abspath() {
  case $1 in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
}

# pid recorded for daemon $1 if that process is still alive and is ours.
daemon_pid() {
  local f="$DIR/run/$1.pid" pid
  [[ -f $f ]] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [[ -n $pid ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  # Guard against pid reuse: the process must have been started with our conf.
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/ceph.conf" || return 1
  printf '%s' "$pid"
}

any_running() {
  local d
  for d in "${DAEMONS[@]}"; do daemon_pid "$d" >/dev/null && return 0; done
  return 1
}

is_alive() { # running and not a zombie waiting for its parent to reap it
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

stop_daemons() {
  local d pid pids=() i
  for d in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$d"); then
      # all data is thrown away, so there is nothing to shut down cleanly
      # (SIGTERM takes seconds, and memstore would first dump itself to disk)
      kill -KILL "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  ((${#pids[@]})) || return 0
  local alive
  for ((i = 0; i < 100; i++)); do # up to 10 s for them to die
    alive=0
    for pid in "${pids[@]}"; do is_alive "$pid" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  ((alive == 0)) || log "WARNING: could not kill pids ${pids[*]}"
  for ((i = 0; i < 30; i++)); do # and up to 3 s for init to reap the zombies
    alive=0
    for pid in "${pids[@]}"; do [[ -e /proc/$pid ]] && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
}

do_stop() {
  [[ -e $DIR ]] || { log "nothing at $DIR"; return 0; }
  [[ -f $DIR/$MARKER ]] || die "$DIR was not created by rgw.sh (no $MARKER); refusing to touch it"
  stop_daemons
  rm -rf -- "$DIR"
  log "stopped, removed $DIR"
}

s3_answers() { # s3_answers http://HOST:PORT : anonymous ListBuckets answers 200
  local hostport=${1#http://} status
  if command -v curl >/dev/null; then
    status=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1/" 2>/dev/null) || true
  else
    status=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
      printf "GET / HTTP/1.0\r\nHost: %s\r\n\r\n" "$1" >&3; read -r _ code _ <&3; printf %s "$code"' _ "$hostport" 2>/dev/null) || true
  fi
  [[ $status == 200 ]]
}

do_status() {
  local d pid rc=0
  if [[ ! -f $DIR/$MARKER ]]; then
    echo "not running (no cluster at $DIR)"
    return 1
  fi
  for d in mon osd radosgw; do
    if pid=$(daemon_pid "$d"); then echo "$d: running (pid $pid)"; else echo "$d: NOT running"; rc=1; fi
  done
  if [[ -f $DIR/env ]]; then
    local ep
    ep=$(sed -n 's/^AMBER_S3_ENDPOINT=//p' "$DIR/env")
    if s3_answers "$ep"; then echo "s3: answering at $ep"; else echo "s3: NOT answering at $ep"; rc=1; fi
    cat "$DIR/env"
  else
    echo "s3: not started (no $DIR/env)"
    rc=1
  fi
  return $rc
}

new_uuid() { cat /proc/sys/kernel/random/uuid; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() { # first port >= $1 nobody listens on
  local p=$1
  while port_in_use "$p"; do p=$((p + 1)); done
  printf '%s' "$p"
}

# ---------------------------------------------------------------- start --

START_TS=0
DEADLINE=0

dump_logs() { # dump_logs [EXTRA_FILE] : tails of the daemon logs on stderr
  local f
  for f in "$@" "$DIR"/log/{mon.a,osd.0,client.rgw.amber}.log "$DIR"/log/{mon,osd,radosgw}.out; do
    [[ -s $f ]] || continue
    printf '\n----- tail of %s -----\n' "$f" >&2
    grep -v '^[[:space:]]*$' "$f" | tail -n 20 | cut -c1-400 >&2 || true
  done
  printf '\n' >&2
}

fail_start() { # fail_start MESSAGE [EXTRA_LOG]
  log "ERROR: $1"
  dump_logs "${@:2}"
  log "stopping what was started; logs kept in $DIR/log"
  stop_daemons
  exit 1
}

remaining() { # seconds left before the deadline (at least 1)
  local r=$((DEADLINE - SECONDS))
  ((r > 0)) || r=1
  printf '%s' "$r"
}

# run a bounded ceph CLI command
cephc() {
  local t
  t=$(remaining)
  ((t > 15)) && t=15
  timeout -k 2 "$t" ceph -c "$DIR/ceph.conf" --connect-timeout "$t" "$@"
}

spawn() { # spawn NAME CMD... : run a daemon in its own session, in the foreground mode
  local name=$1
  shift
  setsid "$@" -f </dev/null >>"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/run/$name.pid"
  disown $!
}

require_alive() {
  daemon_pid "$1" >/dev/null || fail_start "$1 exited during start-up"
}

wait_for() { # wait_for DESC DAEMON CMD... : poll CMD until it succeeds
  local desc=$1 daemon=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    require_alive "$daemon"
    ((SECONDS < DEADLINE)) || fail_start "timed out after ${RGW_TIMEOUT:-90} s waiting for $desc"
    sleep 0.2
  done
}

elapsed_ms() { printf '%s' $((($(date +%s%N) - START_TS) / 1000000)); }
stage() { [[ -z ${RGW_VERBOSE:-} ]] || log "$(elapsed_ms)ms $*"; }

do_start() {
  local t
  for t in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool timeout setsid; do
    command -v "$t" >/dev/null || die "$t not found (apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd)"
  done
  ((EUID == 0)) || log "WARNING: not root; ceph daemons may fail to start"

  if [[ -e $DIR ]]; then
    if [[ -f $DIR/$MARKER ]]; then
      if any_running; then log "a cluster is already running in $DIR: stopping it first"; fi
      do_stop
    elif [[ -n $(ls -A "$DIR" 2>/dev/null) ]]; then
      die "$DIR exists, is not empty and was not created by rgw.sh; refusing to use it"
    fi
  fi

  RGW_TIMEOUT=${RGW_TIMEOUT:-90}
  DEADLINE=$((SECONDS + RGW_TIMEOUT))
  START_TS=$(date +%s%N)

  local port=${RGW_PORT:-7480}
  [[ $port =~ ^([0-9]+|auto)$ ]] || die "RGW_PORT must be a port number or 'auto', got '$port'"
  if [[ $port == 0 || $port == auto ]]; then
    port=$(free_port 7480)
  elif port_in_use "$port"; then
    die "port $port is already in use (set RGW_PORT=<port> or RGW_PORT=auto)"
  fi
  local mon_port
  mon_port=$(free_port 16789)
  local mem=${RGW_MEM_BYTES:-$((8 << 30))}
  [[ $mem =~ ^[0-9]+$ ]] || die "RGW_MEM_BYTES must be a number of bytes, got '$mem'"
  local fsid
  fsid=$(new_uuid)

  mkdir -p "$DIR"/{mon,osd,run,log}
  : >"$DIR/$MARKER"

  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true

auth cluster required = none
auth service required = none
auth client required = none
# with auth none every connection mode must be crc or clients retry -13 forever
ms mon client mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
ms mon cluster mode = crc
ms mon service mode = crc

run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.daemon.pid
log file = $DIR/log/\$name.log
log to stderr = false
err to stderr = true
log to syslog = false
keyring = /dev/null
crash dir = $DIR/crash

osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
# commit map changes right away instead of batching them for 1 s: radosgw
# creates its pools one by one, and every pool costs two osdmap epochs
paxos propose interval = 0.01
paxos min wait = 0.001
mon warn on insecure global id reclaim allowed = false

[mon]
mon data = $DIR/mon/\$cluster-\$id
mon data avail crit = 0
mon data avail warn = 0
mon cluster log file = $DIR/log/cluster.log
mon allow pool delete = true

[osd]
osd data = $DIR/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $mem
osd max object size = 134217728
osd crush update on start = true
osd class update on start = false
osd class load list = *
osd class default list = *

[client]
# radosgw starts while the osd is still booting; ops it sends before the osd
# is up are only re-checked on an objecter tick (default every 5 s), which
# showed up as random 4-6 s stalls of the start
objecter tick interval = 0.5

[client.admin]
# the ceph CLI and radosgw-admin: no admin socket, so parallel runs do not clash
admin socket =

[client.rgw.amber]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw enable usage log = false
rgw thread pool size = 64
EOF

  log "cluster dir $DIR, mon 127.0.0.1:$mon_port, s3 127.0.0.1:$port, memstore $((mem >> 20)) MiB"

  # --- monitor
  timeout 20 monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" \
    "$DIR/run/monmap" >"$DIR/log/monmaptool.out" 2>&1 || fail_start "monmaptool failed" "$DIR/log/monmaptool.out"
  timeout 30 ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/run/monmap" \
    >"$DIR/log/mon-mkfs.out" 2>&1 || fail_start "ceph-mon --mkfs failed" "$DIR/log/mon-mkfs.out"
  spawn mon ceph-mon -c "$DIR/ceph.conf" -i a
  stage "mon started"

  # --- osd (memstore)
  local osd_uuid osd_id
  osd_uuid=$(new_uuid)
  # waits for the monitor to answer
  osd_id=$(cephc osd new "$osd_uuid" 2>"$DIR/log/osd-new.out") || fail_start "ceph osd new failed (is the monitor up?)" "$DIR/log/osd-new.out"
  stage "osd created"
  [[ $osd_id == 0 ]] || fail_start "unexpected osd id '$osd_id'"
  mkdir -p "$DIR/osd/ceph-0"
  timeout 30 ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" \
    >"$DIR/log/osd-mkfs.out" 2>&1 || fail_start "ceph-osd --mkfs failed" "$DIR/log/osd-mkfs.out"
  spawn osd ceph-osd -c "$DIR/ceph.conf" -i 0
  stage "osd started"

  # --- radosgw (does not need to wait for the osd: its first writes block
  # until the pools it creates are active)
  spawn radosgw radosgw -c "$DIR/ceph.conf" -n client.rgw.amber
  wait_for "S3 on 127.0.0.1:$port" radosgw s3_answers "http://127.0.0.1:$port"
  stage "s3 answering"
  require_alive osd

  t=$(remaining)
  timeout -k 2 "$t" radosgw-admin -c "$DIR/ceph.conf" user create \
    --uid amber-test --display-name "amber test" \
    --access-key "$ACCESS_KEY" --secret "$SECRET_KEY" \
    >"$DIR/log/user.out" 2>&1 || fail_start "radosgw-admin user create failed" "$DIR/log/user.out"
  stage "user created"

  cat >"$DIR/env" <<EOF
AMBER_S3_ENDPOINT=http://127.0.0.1:$port
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
AWS_REGION=$REGION
EOF
  cat "$DIR/env"
  log "up in $(elapsed_ms)ms; env in $DIR/env; stop with: $0 stop $DIR"
}

case $cmd in
  start | stop | status) ;;
  *) usage ;;
esac
DIR=$(abspath "$DIR")
DIR=${DIR%/}
[[ -n $DIR && $DIR != / ]] || die "refusing DIR '/'"

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
esac
