#!/usr/bin/env bash
# The Slurm test (.ci/run runs it after the README's test command): a real single-node Slurm on
# this machine runs deploy/slurm/run-all.sbatch as a 4-task job array, and the merged result must
# be the one local process's, run for run: trials, violations, reports by kind, verdicts, exit
# status. Then merge must refuse the results with a shard taken away (exit 2, naming it).
#
# Needs root (apt-get, daemons). Installs Debian's slurm-wlm and munge when missing; starts
# munged, slurmctld and slurmd in the foreground (-D, -F) in the background, with a slurm.conf
# naming this host as controller and node (CPUs=2) and every state, spool, socket and log file in
# a temp folder; stops the three by the process ids it started, whatever happens.
#
# Environment: SLURM_TEST_TRIALS (trials a run, default 8), SLURM_TEST_SHARDS (default 4).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
trials=${SLURM_TEST_TRIALS:-8}
shards=${SLURM_TEST_SHARDS:-4}
seed=11
run_all_args="--trials $trials --schedule random"

say() { echo "slurm test: $*"; }
fail() { echo "slurm test: FAILED: $*" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

tmp=$(mktemp -d /tmp/shootdown-slurm.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    for log in "$tmp"/*.log "$tmp"/work/*.out "$tmp"/results/*.out; do
      [ -f "$log" ] && { echo "--- $log"; tail -n 30 "$log"; }
    done
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT

host=$(hostname -s)
mkdir -p "$tmp/munge" "$tmp/ctld" "$tmp/spool" "$tmp/work" "$tmp/results"
chmod 700 "$tmp/munge"

# munge: a key of our own and a socket in the temp folder (a system munged, if any, is left alone)
mungekey --create --keyfile="$tmp/munge/munge.key" --force
chmod 600 "$tmp/munge/munge.key"
munged -F --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" \
  --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munged.log" --seed-file="$tmp/munge/munged.seed" >"$tmp/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$tmp/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$tmp/munge/munge.socket" ] || fail "munged did not start (see $tmp/munged.log)"

# ports of our own, so that a Slurm already on the host is not in the way
cat > "$tmp/slurm.conf" <<EOF
ClusterName=shootdown-test
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/ctld
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$host CPUs=2 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$tmp/slurm.conf

slurmctld -D -i -f "$SLURM_CONF" >"$tmp/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$tmp/slurmd.out" 2>&1 &
pids+=($!)

state=""
for _ in $(seq 60); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] || fail "node $host is '$state', not idle, after 60 s"
say "slurmctld and slurmd up, sinfo: node $host idle"

# one local process: the campaign's reference
cd "$tmp/work"
say "one process: run-all $run_all_args --seed $seed"
t0=$(date +%s.%N)
set +e
node "$repo/bin/shootdown.mjs" run-all $run_all_args --seed "$seed" --quiet --json > "$tmp/local.json"
local_code=$?
set -e
t1=$(date +%s.%N)
[ "$local_code" -le 1 ] || fail "the local run-all exited $local_code"

# the job array: one shard a task, then the merge job it submits
say "sbatch --array=0-$((shards - 1)) deploy/slurm/run-all.sbatch"
export RESULTS=$tmp/results SEED=$seed RUN_ALL_ARGS="$run_all_args" SHOOTDOWN="node $repo/bin/shootdown.mjs"
t2=$(date +%s.%N)
array=$(sbatch --parsable --array=0-$((shards - 1)) --cpus-per-task=1 --chdir="$tmp/work" --output="$tmp/work/task-%a.out" "$repo/deploy/slurm/run-all.sbatch")
for _ in $(seq 900); do
  [ -z "$(squeue -h -o %i)" ] && [ -s "$tmp/results/merge.jobid" ] && break
  sleep 1
done
t3=$(date +%s.%N)
[ -z "$(squeue -h -o %i)" ] || fail "jobs still queued or running after 15 min: $(squeue -h)"
merge_job=$(cat "$tmp/results/merge.jobid")
merge_exit=$(scontrol show job "$merge_job" | sed -n 's/.*ExitCode=\([0-9]*\):.*/\1/p')
array_states=$(scontrol show job "$array" | sed -n 's/.*JobState=\([A-Z]*\).*/\1/p' | sort | uniq -c | tr -s ' \n' ' ')
say "array job $array: tasks $array_states; merge job $merge_job exited $merge_exit"
[ "$merge_exit" = "$local_code" ] || fail "merge exited $merge_exit, the local run $local_code"

# the merged verdict and counts against the local run's
node --input-type=module - "$tmp/local.json" "$tmp/results/merged.json" "$shards" <<'JS'
import { readFileSync } from 'node:fs';
const [local, merged] = process.argv.slice(2, 4).map((f) => JSON.parse(readFileSync(f, 'utf8')));
const shards = Number(process.argv[4]);
const row = (r) => JSON.stringify([r.scenario, r.preset, r.trials, r.violations, r.reports, r.reportsByKind, r.ok, r.error ?? null]);
const problems = [];
if (merged.merged?.shards !== shards) problems.push(`merged ${merged.merged?.shards} shards, not ${shards}`);
if (merged.ok !== local.ok) problems.push(`merged ok ${merged.ok}, local ${local.ok}`);
if (merged.rows.length !== local.rows.length || local.rows.length === 0) problems.push(`merged ${merged.rows.length} rows, local ${local.rows.length}`);
local.rows.forEach((r, i) => { if (row(r) !== row(merged.rows[i] ?? {})) problems.push(`row ${i}: local ${row(r)}, merged ${row(merged.rows[i] ?? {})}`); });
if (problems.length > 0) { console.error(problems.join('\n')); process.exit(1); }
const sum = (rows, k) => rows.reduce((a, r) => a + r[k], 0);
const failed = local.rows.filter((r) => !r.ok).map((r) => `${r.scenario} [${r.preset}]`);
console.log(`slurm test: merged = local, run for run: ${local.rows.length} runs, ${sum(local.rows, 'trials')} trials, ${sum(local.rows, 'violations')} violations, verdict ${local.ok ? 'every run as expected' : `${failed.length} runs short of their expectation in both (${failed.join(', ')}: too few trials to show the race)`}`);
JS
head -n 1 "$tmp/results/merged.txt" | grep -q '^merge: '"$shards"' shards of one run-all campaign' || fail "merged.txt does not start with the merge line: $(head -n 1 "$tmp/results/merged.txt")"

# a missing shard: exit 2, one line naming its file
mkdir "$tmp/partial"
cp "$tmp/results"/shard-*-of-"$shards".json "$tmp/partial/"
rm "$tmp/partial/shard-1-of-$shards.json"
set +e
out=$(node "$repo/bin/shootdown.mjs" merge "$tmp/partial" 2>&1)
code=$?
set -e
[ "$code" = 2 ] || fail "merge of a partial campaign exited $code, not 2: $out"
[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && printf '%s' "$out" | grep -q "shard-1-of-$shards.json" || fail "merge did not name the missing shard in one line: $out"
say "a missing shard: exit 2, '$out'"

state=$(sinfo -h -n "$host" -o %t)
[ "$state" = idle ] || fail "node $host is '$state' after the jobs, not idle"
total=$(node -e "const r=require('$tmp/local.json'); console.log(r.rows.reduce((a, x) => a + x.trials, 0))")
printf 'slurm test: figures: %d shards (tasks on a 2-CPU node), %d trials (%s a run), one process %.1f s, the job array with its merge %.1f s from sbatch to merged\n' \
  "$shards" "$total" "$trials" "$(awk "BEGIN { print $t1 - $t0 }")" "$(awk "BEGIN { print $t3 - $t2 }")"
say "passed"
