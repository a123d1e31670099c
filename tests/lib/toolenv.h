/* Test tools (tests/tools/) reach a repository's storage as the CLI does
 * without flags: every storage setting (SNAPKEEP_S3_*, AWS_*, cache) comes
 * from the environment. The library never reads the environment itself. */
#pragma once

#include <stdlib.h>

#include "store/backend.h"

static inline const char *sk_tool_env_setting(const char *name, void *userdata) {
        (void) userdata;
        return getenv(name);
}

static const sk_store_options sk_tool_store = { .setting = sk_tool_env_setting };
