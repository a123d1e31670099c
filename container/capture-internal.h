/* What capture.c, capture-backup.c and rehydrate.c share: the capture
 * handle's struct and the few helpers each of them needs (the repository
 * handle under its mutex, parent chains, the layers/ and containers/ records,
 * progress and problem callbacks, logging through the options' callback).
 * Private to container/: plugin/ and cli/ use capture.h. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backup/engine.h"
#include "container/capture.h"
#include "container/events.h"
#include "container/record.h"
#include "container/repopool.h"
#include "repo/repo.h"

/* How long a backup or restore waits for the repository lock. */
#define SK_CAPTURE_LOCK_WAIT_SECONDS 60

struct sk_capture {
        sk_snapshotter *snap;
        char *url, *password_file, *key_file;
        bool remote_layers;
        sk_store_options store;     /* storage settings, borrowed from the options */
        sk_capture_log_fn log;
        void *log_userdata;
        sk_identify_fn identify;
        sk_image_fn image;
        void *containerd_userdata;

        pthread_mutex_t repo_mutex; /* serialises every operation on repo */
        sk_repo *repo;
        char repo_error[256];
        sk_lease_watch lease_watch; /* maint/lease as last seen (under repo_mutex) */

        /* Restores in Prepare run on handles of their own, not on repo under
         * repo_mutex: neither a backup nor another restore may hold them up
         * (see repopool.h). */
        sk_repo_pool *restores;

        sk_event_ring *events;
        atomic_uint_fast64_t backups_done, restores_done, layers_rehydrated;
        atomic_bool cancelled; /* sk_capture_cancel: every progress point fails */

        /* Metrics (NULL without a registry: recording is then a no-op). */
        sk_metric *m_read, *m_added, *m_stored, *m_backups, *m_restores, *m_restore_seconds, *m_repo_size;
        bool repo_size_listed;      /* the size gauge was set from a listing (under repo_mutex) */
};

/* Record a finished restore (result "succeeded" or "failed"). */
void sk_cap_metric_restore(sk_capture *c, bool ok, double seconds);

/* The repository's pack bytes into the size gauge (caller holds repo_mutex;
 * lists storage, so only after operations that list it anyway). */
void sk_cap_metric_repo_size(sk_capture *c);

/* Hand one line to the log callback, if any; err != 0 appends ": strerror(err)",
 * as common/log.h's *_errno() macros do. */
void sk_cap_log(sk_capture *c, int level, int err, const char *fmt, ...) _printf_(4, 5);

/* Set *ret_error (if ret_error is not NULL and *ret_error is still NULL) to
 * an owned message: the first cause named wins. Returns 0. */
int sk_cap_errorf(char **ret_error, const char *fmt, ...) _printf_(2, 3);

/* Seconds on the monotonic clock, for durations. */
double sk_cap_mono_s(void);

/* Open c->repo if it is not open yet. Caller holds repo_mutex. */
int sk_cap_open_repo(sk_capture *c, char **ret_error);

/* The chain id of a committed snapshot's info, or NULL (borrowed from info). */
const char *sk_cap_chain_id(const sk_info *info);

/* Committed snapshots below one, bottom first: their chain ids and keys. */
typedef struct sk_cap_chain {
        char **ids;
        char **keys;
        size_t n;
} sk_cap_chain;

void sk_cap_chain_clear(sk_cap_chain *ch);
/* The committed ancestors from `parent` down, returned bottom first. Each
 * must carry a chain id (-EMEDIUMTYPE otherwise, naming it in *ret_error). */
int sk_cap_parent_chain(sk_capture *c, const char *parent, sk_cap_chain *ret, char **ret_error);

/* layers/<algo>-<hex> = "<backup-id>\n" through repo (caller holds repo_mutex
 * if repo is c->repo). 1 found (ret_id set), 0 missing, or -errno. */
int sk_cap_layer_lookup(sk_capture *c, sk_repo *repo, const char *chain_id, char ret_id[65]);

/* The record containers/<id> of backup id (docs/FORMAT.md 7a), through repo
 * (caller holds repo_mutex if repo is c->repo). On failure why (if not NULL)
 * says what is wrong; a malformed record is also logged, naming the rule it
 * breaks. */
int sk_cap_record_load(sk_capture *c, sk_repo *repo, const char *id, sk_container_record *ret, char why[256]);

/* One backup or restore run: what its progress and problem callbacks need
 * and what they collect. */
typedef struct sk_cap_op {
        sk_capture *c;
        const char *snapshot;
        double last_progress;
        char first_error[512];
        uint64_t errors, warnings;
} sk_cap_op;

/* sk_progress_fn and sk_problem_fn for an sk_cap_op: progress becomes an
 * event at most every 0.25 s, every problem a warning line. */
int sk_cap_progress_cb(const sk_progress *p, void *userdata);
void sk_cap_problem_cb(const sk_problem *p, void *userdata);

/* Remove snapshot key left half-restored, logging a failure. */
int sk_cap_remove_half_restored(sk_capture *c, const char *key);
