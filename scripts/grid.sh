#!/usr/bin/env bash
# The local grid every module runs on: three XRootD storage elements (KEK-DISK, DESY-DISK,
# PNNL-DISK) with Adler-32 checksums and third-party copy, and a single-node Slurm with one
# partition per site (KEK, DESY, PNNL), each started under one folder on free loopback ports.
#
#   scripts/grid.sh start DIR   start (or keep) the grid, write DIR/grid.env (ports, SLURM_CONF)
#   scripts/grid.sh stop DIR    stop every process it started there
#
# The node declares GRID_CPUS CPUs (default 24) although the machine has fewer: the jobs are
# light (a file written, uploaded and registered), and Slurm would otherwise run two at a time.
set -euo pipefail
source "$(dirname "$0")/services.sh"

SITES=(KEK DESY PNNL)

ensure_grid_packages() {
  local missing=()
  command -v xrootd >/dev/null 2>&1 || missing+=(xrootd-server)
  command -v xrdcp >/dev/null 2>&1 || missing+=(xrootd-client)
  command -v slurmctld >/dev/null 2>&1 || missing+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 || missing+=(munge)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian"
    apt_install "${missing[@]}"
  fi
  id xrootd >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin xrootd
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# grid_dir_for DIR: the xrootd user must reach the storage elements' folders; a checkout in a
# private folder (root's 0700 home) keeps them under /var/lib/catalog instead, as for PostgreSQL.
se_root_for() {
  local dir=$1
  if [ -f "$dir/se.location" ]; then cat "$dir/se.location"; return; fi
  if runuser -u xrootd -- test -x "$dir" 2>/dev/null; then echo "$dir/se"; return; fi
  local se="/var/lib/catalog/$(printf '%s' "$dir" | sha1sum | cut -c1-12)/se"
  mkdir -p "$se"; echo "$se" > "$dir/se.location"; echo "$se"
}

start_munge() {
  local dir=$1/munge
  mkdir -p "$dir"; chmod 700 "$dir"
  pid_alive "$dir/munged.pid" && return 0
  [ -f "$dir/munge.key" ] || { dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none; chmod 400 "$dir/munge.key"; }
  munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" --pid-file="$dir/munged.pid" \
    --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
}

write_slurm_conf() {
  local dir=$1 ctl=$2 node=$3 cpus=${GRID_CPUS:-24} s
  mkdir -p "$dir/slurm/state" "$dir/slurm/spool"
  {
    echo "ClusterName=catalog$(printf '%s' "$dir" | sha1sum | cut -c1-6)"
    echo "SlurmctldHost=localhost(127.0.0.1)"
    echo "SlurmctldPort=$ctl"
    echo "SlurmdPort=$node"
    echo "AuthType=auth/munge"
    echo "AuthInfo=socket=$dir/munge/munge.socket"
    echo "CredType=cred/munge"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "StateSaveLocation=$dir/slurm/state"
    echo "SlurmdSpoolDir=$dir/slurm/spool"
    echo "SlurmctldPidFile=$dir/slurm/slurmctld.pid"
    echo "SlurmdPidFile=$dir/slurm/slurmd.pid"
    echo "SlurmctldLogFile=$dir/slurm/slurmctld.log"
    echo "SlurmdLogFile=$dir/slurm/slurmd.log"
    echo "ProctrackType=proctrack/pgid"
    echo "TaskPlugin=task/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "SchedulerType=sched/backfill"
    echo "SchedulerParameters=defer"
    # Finished jobs are written here with their names: the production service reconciles
    # against it after Slurm has forgotten them (MinJobAge, 300 s).
    echo "JobCompType=jobcomp/filetxt"
    echo "JobCompLoc=$dir/slurm/jobcomp.log"
    echo "SlurmdParameters=config_overrides"
    echo "ReturnToService=2"
    echo "MpiDefault=none"
    echo "KillWait=5"
    echo "NodeName=gridnode NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=4096 State=UNKNOWN"
    for s in "${SITES[@]}"; do
      echo "PartitionName=$s Nodes=gridnode MaxTime=INFINITE State=UP$( [ "$s" = KEK ] && echo ' Default=YES')"
    done
  } > "$dir/slurm/slurm.conf"
}

start_slurm() {
  local dir=$1
  export SLURM_CONF=$dir/slurm/slurm.conf
  pid_alive "$dir/slurm/slurmctld.pid" || slurmctld -f "$SLURM_CONF"
  pid_alive "$dir/slurm/slurmd.pid" || slurmd -f "$SLURM_CONF" -N gridnode
  local i
  for i in $(seq 1 100); do
    sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && return 0
    sleep 0.2
  done
  log "Slurm did not come up: see $dir/slurm/slurmctld.log and slurmd.log"; return 1
}

# start_se DIR NAME PORT: one XRootD server, exporting its own folder, dropping to the xrootd user.
start_se() {
  local dir=$1 name=$2 port=$3 root; root=$(se_root_for "$dir")
  local se="$root/$name"
  mkdir -p "$se/data" "$se/run" "$se/log"
  chown -R xrootd: "$root"
  if pid_alive "$se/run/xrootd.pid"; then return 0; fi
  cat > "$se/xrootd.cfg" <<CFG
xrd.port $port
xrd.network nodnr
all.export /
oss.localroot $se/data
all.adminpath $se/run
all.pidpath $se/run
xrootd.chksum adler32
ofs.tpc pgm /usr/bin/xrdcp --server
CFG
  xrootd -c "$se/xrootd.cfg" -l "$se/log/xrootd.log" -R xrootd -n "$name" -b -s "$se/run/xrootd.pid" >/dev/null 2>&1 || true
  local i
  for i in $(seq 1 50); do port_open "$port" && return 0; sleep 0.1; done
  # With -b and a log it cannot write, xrootd dies silently: say where to look.
  log "XRootD $name did not start on port $port: see $se/log/"; return 1
}

case "${1:-}" in
  start)
    dir=$2; mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
    ensure_grid_packages
    if [ ! -f "$dir/grid.env" ]; then
      {
        echo "SLURM_CONF=$dir/slurm/slurm.conf"
        echo "SLURMCTLD_PORT=$(free_port)"
        echo "SLURMD_PORT=$(free_port)"
        for s in "${SITES[@]}"; do echo "SE_${s}_PORT=$(free_port)"; done
      } > "$dir/grid.env"
    fi
    source "$dir/grid.env"
    start_munge "$dir"
    write_slurm_conf "$dir" "$SLURMCTLD_PORT" "$SLURMD_PORT"
    start_slurm "$dir"
    for s in "${SITES[@]}"; do
      port_var="SE_${s}_PORT"; start_se "$dir" "$s-DISK" "${!port_var}"
    done
    log "grid up: Slurm partitions ${SITES[*]} (SLURM_CONF=$SLURM_CONF), SEs $(for s in "${SITES[@]}"; do v="SE_${s}_PORT"; printf '%s-DISK=root://127.0.0.1:%s ' "$s" "${!v}"; done)"
    ;;
  stop)
    dir=$2
    [ -d "$dir" ] || exit 0
    dir=$(cd "$dir" && pwd)
    # scancel waits a long time for a controller that is gone: only ask a live one.
    if [ -f "$dir/slurm/slurm.conf" ] && pid_alive "$dir/slurm/slurmctld.pid"; then
      export SLURM_CONF=$dir/slurm/slurm.conf
      scancel --quiet --user=root 2>/dev/null || true
    fi
    for p in "$dir/slurm/slurmd.pid" "$dir/slurm/slurmctld.pid" "$(se_root_for "$dir")"/*/run/xrootd.pid "$dir/munge/munged.pid"; do
      [ -f "$p" ] || continue
      pid=$(cat "$p"); kill "$pid" 2>/dev/null || continue
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
