/* What the engine tests (test-backup, test-engine) collect from the
 * problem callback of backup, check, prune and restore, so that a test can
 * assert how many errors and warnings it saw and what the last one named.
 * Header-only (static inline): only tests that link backup/ include it. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backup/engine.h"

typedef struct sk_test_problems {
        int n_err, n_warn;
        char last_path[8192];
        char last_blob[80];     /* these three keep the last problem that named one */
        char last_pack[80];
        char last_backup[80];
        char last_detail[1024];
        bool saw_path_with[4];  /* an error's path held want[i] */
        const char *want[4];
} sk_test_problems;

/* An sk_problem_fn; userdata is an sk_test_problems. */
static inline void sk_test_on_problem(const sk_problem *p, void *ud) {
        sk_test_problems *pr = ud;
        if (p->kind == SK_PROBLEM_ERROR)
                pr->n_err++;
        else
                pr->n_warn++;
        snprintf(pr->last_path, sizeof(pr->last_path), "%s", p->path ?: "");
        if (p->blob)
                snprintf(pr->last_blob, sizeof(pr->last_blob), "%s", p->blob);
        if (p->pack)
                snprintf(pr->last_pack, sizeof(pr->last_pack), "%s", p->pack);
        if (p->backup_id)
                snprintf(pr->last_backup, sizeof(pr->last_backup), "%s", p->backup_id);
        snprintf(pr->last_detail, sizeof(pr->last_detail), "%s", p->detail ?: "");
        for (int i = 0; i < 4; i++)
                if (pr->want[i] && p->path && strstr(p->path, pr->want[i]) && p->kind == SK_PROBLEM_ERROR)
                        pr->saw_path_with[i] = true;
}
