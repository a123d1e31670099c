#!/usr/bin/env bash
# Stalled writers (hardening defect 1) on S3 (radosgw on 127.0.0.1): the cases
# of tests/lib/stalled.sh against a bucket.
set -u
. "$(dirname "$0")/../lib/repo.sh"
. "$(dirname "$0")/../lib/ceph.sh"
. "$(dirname "$0")/../lib/stalled.sh"
s3_test_setup
stalled_writers_cases
sk_finish
