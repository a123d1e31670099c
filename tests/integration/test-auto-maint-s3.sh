#!/bin/bash
# Shared maintenance on S3 (issue 12): test-auto-maint.sh's three daemons,
# with their one repository in a bucket of a radosgw started by the test.
SK_MAINT_S3=1 exec bash "$(dirname "$0")/test-auto-maint.sh"
