// Removal of a process's in-progress temporary files when it is stopped by
// SIGINT (Ctrl-C), SIGTERM or SIGHUP: the `brine` CLI installs the handlers;
// AtomicFile registers each temporary while it exists. The handler may run
// while another thread registers or unregisters a slot, so each slot is a
// seqlock (an odd sequence number while it is being written) and the handler
// unlinks only a path it read whole; it uses only unlink, sigaction, raise.
#include "CBrineKernels.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 64
#define PATH_BYTES 4096

static struct {
    atomic_uint sequence;  // odd: being written
    atomic_int used;       // 1: holds a registered path
    char path[PATH_BYTES];
} slots[SLOTS];

int brine_temporary_register(const char *path) {
    size_t n = strlen(path);
    if (n >= PATH_BYTES) return ENAMETOOLONG;
    for (int i = 0; i < SLOTS; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&slots[i].used, &expected, 2)) continue;  // 2: claimed
        atomic_fetch_add(&slots[i].sequence, 1);
        memcpy(slots[i].path, path, n + 1);
        atomic_fetch_add(&slots[i].sequence, 1);
        atomic_store(&slots[i].used, 1);
        return 0;
    }
    return ENOSPC;
}

void brine_temporary_unregister(const char *path) {
    for (int i = 0; i < SLOTS; i++) {
        if (atomic_load(&slots[i].used) == 1 && strcmp(slots[i].path, path) == 0) {
            int expected = 1;
            if (atomic_compare_exchange_strong(&slots[i].used, &expected, 0)) return;
        }
    }
}

static void remove_temporaries(int sig) {
    char path[PATH_BYTES];
    // Files first, then (second pass) folders, once the files in them are gone.
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < SLOTS; i++) {
            unsigned before = atomic_load(&slots[i].sequence);
            if (before & 1 || atomic_load(&slots[i].used) != 1) continue;
            memcpy(path, slots[i].path, PATH_BYTES);
            path[PATH_BYTES - 1] = 0;
            if (atomic_load(&slots[i].sequence) != before) continue;  // rewritten meanwhile
            if (pass == 0) unlink(path); else rmdir(path);
        }
    }
    // Die by the same signal (the shell sees the usual status).
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    sigaction(sig, &action, NULL);
    raise(sig);
}

int brine_remove_temporaries_on_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = remove_temporaries;
    sigemptyset(&action.sa_mask);
    int signals[] = {SIGINT, SIGTERM, SIGHUP};
    sigset_t set;
    sigemptyset(&set);
    for (int k = 0; k < 3; k++) {
        if (sigaction(signals[k], &action, NULL) != 0) return errno;
        sigaddset(&set, signals[k]);
    }
    // A process spawned from a thread that blocks them (Foundation's Process
    // run from a Dispatch worker) inherits the blocked mask: unblock them, so
    // that they stop the CLI as they would when it is started from a shell.
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
