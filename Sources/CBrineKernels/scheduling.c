// The calling thread's scheduling policy and name: SCHED_BATCH (sched(7))
// and pthread_setname_np need _GNU_SOURCE and so cannot be reached from
// Swift's Glibc module.
#define _GNU_SOURCE
#include "CBrineKernels.h"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>

int brine_use_batch_scheduling(void) {
    if (sched_getscheduler(0) != SCHED_OTHER) {
        return -1;
    }
    struct sched_param param = { .sched_priority = 0 };
    return sched_setscheduler(0, SCHED_BATCH, &param);
}

int brine_name_thread(const char *name) {
    return pthread_setname_np(pthread_self(), name) == 0 ? 0 : -1;
}
#else
int brine_use_batch_scheduling(void) { return -1; }
int brine_name_thread(const char *name) { (void)name; return -1; }
#endif
