#!/bin/sh
# The dsdt run benchmarks of docs/benchmarks.md:
#  1. Local: a transform copying a 1 KB bundle's file, dsdt-run's whole process (push check,
#     container, runtime pull/run/commit/push, output pulled back; a file:// remote) against
#     `docker run --rm` of the same image copying the same file.
#  2. AWSBatch: submitting that run to moto's Batch (job definition reused), whole process.
# Needs hyperfine and the Docker engine; installs moto (bin/ensure-disdat.sh). Everything it makes
# is under target/bench/dsdt-run, and the image disdat-bench-copy:latest.
# usage: bin/bench-dsdt-run.sh BIN_DIR      (BIN_DIR holds the release dsdt, dsdt-run, dsdt-dockerize)
set -eu
bindir=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null 2>&1 || { echo "bench-dsdt-run.sh: hyperfine is needed (apt-get install hyperfine)" >&2; exit 2; }
sh "$top/bin/ensure-docker.sh" >/dev/null
venv=$(sh "$top/bin/ensure-disdat.sh")
work=$top/target/bench/dsdt-run
rm -rf "$work"; mkdir -p "$work/pipe" "$work/remote"
dsdt=$bindir/dsdt
sh "$top/fixtures/images/make-busybox-image.sh" paasta-test/dsdt-base:latest
printf '#!/bin/sh\ncp "$DSDT_INPUT_DIR/in.bin" "$DSDT_OUTPUT_DIR/out.bin"\n' >"$work/pipe/bench_copy.sh"
chmod +x "$work/pipe/bench_copy.sh"
head -c 1024 /dev/urandom >"$work/in.bin"

# home DIR URL: a Disdat home with context c bound to remote r at URL, holding bundle `in`.
home() {
    mkdir -p "$1"
    HOME=$1 "$dsdt" init >/dev/null; HOME=$1 "$dsdt" context r/c >/dev/null
    HOME=$1 "$dsdt" switch c >/dev/null; HOME=$1 "$dsdt" remote r "$2" >/dev/null
    HOME=$1 "$dsdt" add in "$work/in.bin"; HOME=$1 "$dsdt" commit in
}
home "$work/local" "file://$work/remote"
HOME=$work/local "$dsdt" dockerize "$work/pipe" bench_copy.sh --base-image paasta-test/dsdt-base:latest
HOME=$work/local hyperfine --warmup 2 --runs 20 \
    -n "dsdt run (Local, file:// remote)" "$bindir/dsdt-run in out bench_copy.sh" \
    -n "docker run --rm (same image, same copy)" \
    "docker run --rm --network host --entrypoint /bin/cp -v $work:$work disdat-bench-copy $work/in.bin $work/out.bin"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_DOCKER_NETWORK_MODE=host "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
# moto's Batch runs each job's container; what a job leaves when moto stops is removed.
trap 'kill $moto 2>/dev/null || true; docker ps -aq --filter name=^/disdat-bench-copy- | xargs -r docker rm -f >/dev/null' EXIT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null; do sleep 0.2; done
"$venv/bin/python" -c "
import boto3
boto3.client('s3').create_bucket(Bucket='bench')
role = boto3.client('iam').create_role(RoleName='bench', AssumeRolePolicyDocument='{}')['Role']['Arn']
b = boto3.client('batch')
ce = b.create_compute_environment(computeEnvironmentName='bench', type='UNMANAGED', state='ENABLED', serviceRole=role)
b.create_job_queue(jobQueueName='bench', state='ENABLED', priority=1, computeEnvironmentOrder=[{'order': 1, 'computeEnvironment': ce['computeEnvironmentArn']}])"
home "$work/batch" s3://bench/p
printf '\n[run]\naws_batch_queue = bench\n' >>"$work/batch/.config/disdat/disdat.cfg"
HOME=$work/batch "$dsdt" push in >/dev/null
HOME=$work/batch hyperfine --warmup 1 --runs 10 \
    -n "dsdt run --backend AWSBatch (submit to moto)" \
    "$bindir/dsdt-run --backend AWSBatch --no-push-input --image disdat-bench-copy:latest in out bench_copy.sh"
# Let the jobs finish before moto stops.
"$venv/bin/python" -c "
import boto3, time
b = boto3.client('batch')
for _ in range(300):
    if not any(b.list_jobs(jobQueue='bench', jobStatus=s)['jobSummaryList'] for s in ('SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING')): break
    time.sleep(1)"
