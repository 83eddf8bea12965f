// The calling thread's CPU affinity count (sched_getaffinity(2), CPU_COUNT),
// which needs _GNU_SOURCE and so cannot be reached from Swift's Glibc module.
#define _GNU_SOURCE
#include "CBrineKernels.h"

#if defined(__linux__)
#include <sched.h>

int brine_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return -1;
    }
    return CPU_COUNT(&set);
}

int brine_pin_thread_to_cpu0(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}
#else
int brine_affinity_cpu_count(void) { return -1; }
int brine_pin_thread_to_cpu0(void) { return -1; }
#endif
