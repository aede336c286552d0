#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the Slurm executor's tests and for trying
# `overdrive compute add NAME --type slurm` without a cluster.
#   scripts/slurm.sh start    install slurm-wlm and munge if missing (scripts/deps.sh slurm), write
#                             /etc/slurm/slurm.conf and gres.conf, start munged, slurmctld and
#                             slurmd, wait until the node `localhost` is idle (idempotent)
#   scripts/slurm.sh stop     cancel every job, stop the daemons, remove their pidfiles
#   scripts/slurm.sh status   the daemons' pids and `sinfo`
# The node offers 2 CPUs and 2 fake GPUs (/dev/fakegpu0-1, character devices that Slurm hands
# out as `--gres=gpu:N`; jobs see CUDA_VISIBLE_DEVICES). Partitions: `debug` (the default) and
# `low`, whose jobs are preempted (canceled, state PREEMPTED) when a `debug` job needs their CPUs.
# There is no accounting database: job states come from squeue/scontrol, which keep finished
# jobs for an hour (MinJobAge). Must run as root (the daemons do). Logs: /var/log/slurm/.
# OVERDRIVE_SLURM_START_TIMEOUT (seconds, default 60) bounds the wait for an idle node.
set -euo pipefail
cd "$(dirname "$0")/.."

conf_dir=/etc/slurm
log_dir=/var/log/slurm
state_dir=/var/lib/slurm
ctld_pid=/run/slurmctld.pid
slurmd_pid=/run/slurmd.pid
timeout=${OVERDRIVE_SLURM_START_TIMEOUT:-60}

die() {
  echo "slurm.sh: $*" >&2
  exit 1
}

# The daemons' log tails: what a failed start shows.
show_logs() {
  local f
  for f in "$log_dir/slurmctld.log" "$log_dir/slurmd.log" /var/log/munge/munged.log; do
    [[ -s $f ]] || continue
    echo "---- last lines of $f" >&2
    tail -n 15 "$f" >&2
  done
}

# The pid in a pidfile when that process is alive and runs `name`; nothing otherwise.
live_pid() {
  local file=$1 name=$2 pid
  [[ -r $file ]] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [[ -n $pid && -r /proc/$pid/comm ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name"* ]] || return 1
  echo "$pid"
}

write_conf() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp" <<'EOF'
# Written by overdrive's scripts/slurm.sh: a one-node test cluster on localhost.
ClusterName=overdrive
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
# Finished jobs stay visible to squeue/scontrol for an hour: there is no accounting database.
MinJobAge=3600
# SIGTERM to SIGKILL on scancel and at the time limit.
KillWait=10
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
# Jobs of a lower PriorityTier partition are canceled (state PREEMPTED) for higher ones.
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=4000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
PartitionName=low Nodes=localhost MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=CANCEL
EOF
  local changed=0
  if ! cmp -s "$tmp" "$conf_dir/slurm.conf"; then
    install -m 0644 "$tmp" "$conf_dir/slurm.conf"
    changed=1
  fi
  cat >"$tmp" <<'EOF'
# Written by overdrive's scripts/slurm.sh: two fake GPUs (character devices made by mknod).
AutoDetect=off
NodeName=localhost Name=gpu File=/dev/fakegpu[0-1]
EOF
  if ! cmp -s "$tmp" "$conf_dir/gres.conf"; then
    install -m 0644 "$tmp" "$conf_dir/gres.conf"
    changed=1
  fi
  rm -f "$tmp"
  return $((1 - changed))  # 0 = changed
}

stop_daemons() {
  local pid name file
  for name in slurmd slurmctld; do
    file=$([[ $name == slurmd ]] && echo "$slurmd_pid" || echo "$ctld_pid")
    if pid=$(live_pid "$file" "$name"); then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do
        [[ -d /proc/$pid ]] || break
        sleep 0.1
      done
      [[ -d /proc/$pid ]] && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"  # a stale pidfile confuses the next start and package removal
  done
}

node_state() {
  sinfo -h -n localhost -o %T 2>/dev/null | head -n 1
}

start() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (slurmd and munged run as system daemons)"
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null ||
    ! command -v sbatch >/dev/null; then
    scripts/deps.sh slurm >&2
  fi
  install -d -o slurm -g slurm "$state_dir/slurmctld" "$state_dir/slurmd" "$log_dir"
  mkdir -p "$conf_dir"
  local restart=0
  if write_conf; then restart=1; fi
  local i
  for i in 0 1; do
    if [[ ! -c /dev/fakegpu$i ]]; then
      rm -f "/dev/fakegpu$i"
      mknod -m 0666 "/dev/fakegpu$i" c 195 "$i"
      restart=1
    fi
  done

  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- munged 2>&1 | tail -n 5 >&2 || true
    local ok=0
    for _ in $(seq 50); do
      if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then ok=1; break; fi
      sleep 0.1
    done
    [[ $ok -eq 1 ]] || { show_logs; die "munged did not start (munge -n | unmunge fails)"; }
  fi

  [[ $restart -eq 1 ]] && stop_daemons
  if ! live_pid "$ctld_pid" slurmctld >/dev/null; then
    rm -f "$ctld_pid"
    # -c: a clean state; a node drained by an earlier bad configuration would otherwise stay so.
    slurmctld -c || { show_logs; die "slurmctld did not start"; }
  fi
  if ! live_pid "$slurmd_pid" slurmd >/dev/null; then
    rm -f "$slurmd_pid"
    # -N: the node is `localhost` whatever this machine's hostname is.
    slurmd -N localhost || { show_logs; die "slurmd did not start"; }
  fi

  local deadline=$((SECONDS + timeout)) state="" resumed=0
  while ((SECONDS < deadline)); do
    state=$(node_state)
    case $state in
      idle | mixed | allocated | completing) echo "slurm.sh: node localhost is $state" >&2; return 0 ;;
      drain* | down*)
        if [[ $resumed -eq 0 ]]; then
          scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
          resumed=1
        fi
        ;;
    esac
    sleep 0.5
  done
  echo "slurm.sh: node localhost did not become idle within ${timeout}s (state: '${state:-unknown}')" >&2
  sinfo -N -l >&2 2>&1 || true
  scontrol show node localhost 2>/dev/null | grep -E 'State=|Reason=' >&2 || true
  show_logs
  exit 1
}

stop() {
  if live_pid "$ctld_pid" slurmctld >/dev/null; then
    local jobs
    jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    if [[ -n ${jobs// /} ]]; then
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
    fi
  fi
  stop_daemons
}

status() {
  local pid name file rc=0
  for name in slurmctld slurmd; do
    file=$([[ $name == slurmd ]] && echo "$slurmd_pid" || echo "$ctld_pid")
    if pid=$(live_pid "$file" "$name"); then
      echo "$name: running (pid $pid)"
    else
      echo "$name: not running"
      rc=1
    fi
  done
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then echo "munged: running"; else echo "munged: not running"; rc=1; fi
  if [[ $rc -eq 0 ]]; then
    sinfo || rc=1
  fi
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: scripts/slurm.sh start|stop|status" >&2; exit 2 ;;
esac
