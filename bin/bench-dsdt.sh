#!/bin/sh
# The dsdt benchmarks of docs/benchmarks.md, side by side with Python Disdat 1.2.0 and the AWS
# CLI on one moto S3 server. Needs hyperfine; installs Python Disdat and moto (bin/ensure-disdat.sh)
# and the AWS CLI (a virtualenv under target/bench). Everything it makes is under target/bench/dsdt.
# usage: bin/bench-dsdt.sh BIN_DIR      (BIN_DIR holds the release dsdt, e.g. target/release)
set -eu
bindir=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null 2>&1 || { echo "bench-dsdt.sh: hyperfine is needed (apt-get install hyperfine)" >&2; exit 2; }
venv=$(sh "$top/bin/ensure-disdat.sh")
work=$top/target/bench/dsdt
awsv=$top/target/bench/aws-venv
[ -x "$awsv/bin/aws" ] || { python3 -m venv "$awsv" && "$awsv/bin/pip" install -q awscli; }
rm -rf "$work"; mkdir -p "$work/files"
ours=$bindir/dsdt py=$venv/bin/dsdt aws=$awsv/bin/aws

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null; do sleep 0.2; done
for b in ours py pullours pullpy big floor; do
    "$venv/bin/python" -c "import boto3; boto3.client('s3').create_bucket(Bucket='$b')"
done

# home TOOL DIR CONTEXT URL: a home with a context bound to the remote.
home() {
    rm -rf "$2"; mkdir -p "$2"
    HOME=$2 "$1" init >/dev/null; HOME=$2 "$1" context "r/$3" >/dev/null
    HOME=$2 "$1" switch "$3" >/dev/null; HOME=$2 "$1" remote r "$4" >/dev/null
}
i=0
while [ $i -lt 1000 ]; do head -c 1024 /dev/urandom >"$work/files/f$i.bin"; i=$((i + 1)); done
cat >"$work/addpush.sh" <<'S'
export HOME=$2; $1 add many "$3" >/dev/null; $1 commit many >/dev/null; $1 push >/dev/null 2>&1
S
cat >"$work/addcommit.sh" <<'S'
export HOME=$2; $1 add many "$3" >/dev/null; $1 commit many >/dev/null
S
cat >"$work/pull.sh" <<'S'
export HOME=$2; rm -rf "$2/.disdat/context/$3/objects" "$2/.disdat/context/$3/ctxt.db"
mkdir -p "$2/.disdat/context/$3/objects"; $1 pull -l >/dev/null 2>&1
S

home "$ours" "$work/h-ours" c s3://ours/p
home "$py" "$work/h-py" c s3://py/p
hyperfine --runs 5 -n "dsdt add+commit, 1,000 files of 1 KB" "sh $work/addcommit.sh $ours $work/h-ours $work/files" \
    -n "Python Disdat add+commit" "sh $work/addcommit.sh $py $work/h-py $work/files"
hyperfine --runs 5 -n "dsdt add+commit+push, 1,000 files of 1 KB" "sh $work/addpush.sh $ours $work/h-ours $work/files" \
    -n "Python Disdat add+commit+push" "sh $work/addpush.sh $py $work/h-py $work/files"

# The server's own floor: 1,000 bare PUTs of 1 KB, one after another on one kept-alive connection,
# unsigned (moto does not check signatures), from the smallest client there is.
cat >"$work/floor.py" <<'S'
import http.client, os, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
body = os.urandom(1024)
for i in range(1000):
    c.request("PUT", "/floor/%d/%d" % (os.getpid(), i), body=body)
    c.getresponse().read()
S
hyperfine --runs 5 -n "1,000 bare PUTs of 1 KB (the server's floor)" "python3 $work/floor.py $port"

home "$ours" "$work/s-ours" s s3://pullours/p; sh "$work/addpush.sh" "$ours" "$work/s-ours" "$work/files"
home "$py" "$work/s-py" s s3://pullpy/p; sh "$work/addpush.sh" "$py" "$work/s-py" "$work/files"
home "$ours" "$work/d-ours" d s3://pullours/p
home "$py" "$work/d-py" d s3://pullpy/p
hyperfine --runs 5 -n "dsdt pull -l, 1,000 files of 1 KB" "sh $work/pull.sh $ours $work/d-ours d" \
    -n "Python Disdat pull -l" "sh $work/pull.sh $py $work/d-py d"

head -c 1073741824 /dev/urandom >"$work/big.bin"
home "$ours" "$work/b-ours" b s3://big/ours
HOME=$work/b-ours "$ours" add big "$work/big.bin"; HOME=$work/b-ours "$ours" commit big
uuid=$(HOME=$work/b-ours "$ours" ls --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["uuid"])')
hyperfine --runs 3 -n "dsdt push, one 1 GiB file" "env HOME=$work/b-ours $ours push -u $uuid" \
    -n "aws s3 cp, one 1 GiB file up" "$aws s3 cp $work/big.bin s3://big/aws/big.bin --only-show-errors"
home "$ours" "$work/p-ours" b s3://big/ours
hyperfine --runs 3 -n "dsdt pull -l, one 1 GiB file" "sh $work/pull.sh $ours $work/p-ours b" \
    -n "aws s3 cp, one 1 GiB file down" "$aws s3 cp s3://big/aws/big.bin $work/down.bin --only-show-errors"

# ls over a context of 10,000 bundles (500 names, 20 versions each).
export HOME=$work/h10k
mkdir -p "$HOME"; "$ours" init; "$ours" context big >/dev/null; "$ours" switch big >/dev/null
echo x >"$work/x.txt"
i=0
while [ $i -lt 10000 ]; do "$ours" add "b$((i % 500))" "$work/x.txt" -t "i:$i"; i=$((i + 1)); done
hyperfine -N --warmup 2 --runs 20 -n "dsdt ls, 10,000 bundles" "$ours ls" -n "dsdt ls -v" "$ours ls -v"
hyperfine --runs 3 -n "Python Disdat ls, 10,000 bundles" "$py ls"
