#!/usr/bin/env bash
# Build the deployable SAM template and Lambda bundle for one stage:
#
#   scripts/package.sh STAGE OUTDIR
#
# Writes OUTDIR/sam.json and OUTDIR/deployment.zip: `chalice package` output
# merged with .chalice/merge_template.json (SQS dial queue + DLQ, partial batch
# responses, queue send permission, secrets from Secrets Manager). Needs only
# PyPI (Linux wheels for requirements.txt) and a region; no AWS credentials.
#
# Deploy, e.g.:
#   aws cloudformation package --template-file OUTDIR/sam.json \
#       --s3-bucket BUCKET --output-template-file OUTDIR/packaged.yaml
#   aws cloudformation deploy --template-file OUTDIR/packaged.yaml \
#       --stack-name outdial-STAGE --capabilities CAPABILITY_IAM \
#       --parameter-overrides SecretName=outdial/STAGE
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 STAGE OUTDIR" >&2
    exit 2
fi
stage=$1
outdir=$2

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${CHALICE:-}" ]; then
    if [ -x "$root/.venv/bin/chalice" ]; then
        CHALICE="$root/.venv/bin/chalice"
    else
        CHALICE=chalice
    fi
fi
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

# OUTDIR is relative to the caller; chalice must run from the project root.
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

cd "$root"
"$CHALICE" package --stage "$stage" \
    --merge-template .chalice/merge_template.json "$outdir" 2>&1 | tee "$log"

# chalice only warns (exit 0) when it cannot get a Linux build of a dependency;
# such a bundle would fail at import time on Lambda.
if grep -q "Could not install dependencies" "$log"; then
    echo "package.sh: chalice could not bundle every dependency for Lambda (see above)" >&2
    exit 1
fi
echo "package.sh: wrote $outdir/sam.json and $outdir/deployment.zip (stage $stage)"
