// The calling thread's CPU affinity count (sched_getaffinity(2), CPU_COUNT)
// and thread creation away from the caller's CPU, which need _GNU_SOURCE
// and so cannot be reached from Swift's Glibc module.
#define _GNU_SOURCE
#include "CBrineKernels.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#if defined(__linux__)
#include <sched.h>

// pthread_attr_setaffinity_np is a glibc extension (musl and Bionic lack it).
#if defined(__GLIBC__)
#define BRINE_HAS_ATTR_AFFINITY 1
#else
#define BRINE_HAS_ATTR_AFFINITY 0
#endif

struct brine_spawn {
    void *(*start)(void *);
    void *argument;
    cpu_set_t mask;
    int narrowed;
};

static void *brine_spawn_trampoline(void *raw) {
    struct brine_spawn spawn = *(struct brine_spawn *)raw;
    free(raw);
    if (spawn.narrowed) {
        // Best effort: on failure the thread keeps the narrower mask.
        (void)sched_setaffinity(0, sizeof(spawn.mask), &spawn.mask);
    }
    return spawn.start(spawn.argument);
}

int brine_spawn_thread_elsewhere(void *(*start)(void *), void *argument) {
    struct brine_spawn *spawn = malloc(sizeof(*spawn));
    if (spawn == NULL) {
        return ENOMEM;
    }
    spawn->start = start;
    spawn->argument = argument;
    spawn->narrowed = 0;
    pthread_attr_t attributes;
    int rc = pthread_attr_init(&attributes);
    if (rc != 0) {
        free(spawn);
        return rc;
    }
    (void)pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    CPU_ZERO(&spawn->mask);
#if BRINE_HAS_ATTR_AFFINITY
    if (sched_getaffinity(0, sizeof(spawn->mask), &spawn->mask) == 0) {
        int cpu = sched_getcpu();
        if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &spawn->mask) && CPU_COUNT(&spawn->mask) > 1) {
            cpu_set_t others = spawn->mask;
            CPU_CLR(cpu, &others);
            spawn->narrowed = pthread_attr_setaffinity_np(&attributes, sizeof(others), &others) == 0;
        }
    }
#endif
    pthread_t thread;
    rc = pthread_create(&thread, &attributes, brine_spawn_trampoline, spawn);
    (void)pthread_attr_destroy(&attributes);
    if (rc != 0 && spawn->narrowed) {
        // The mask was refused at creation (the CPU set changed since it was
        // read, or a sandbox forbids sched_setaffinity): start it anywhere.
        spawn->narrowed = 0;
        rc = pthread_attr_init(&attributes);
        if (rc == 0) {
            (void)pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
            rc = pthread_create(&thread, &attributes, brine_spawn_trampoline, spawn);
            (void)pthread_attr_destroy(&attributes);
        }
    }
    if (rc != 0) {
        free(spawn);
    }
    return rc;
}

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
int brine_spawn_thread_elsewhere(void *(*start)(void *), void *argument) {
    pthread_attr_t attributes;
    int rc = pthread_attr_init(&attributes);
    if (rc != 0) {
        return rc;
    }
    (void)pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    rc = pthread_create(&thread, &attributes, start, argument);
    (void)pthread_attr_destroy(&attributes);
    return rc;
}

int brine_affinity_cpu_count(void) { return -1; }
int brine_pin_thread_to_cpu0(void) { return -1; }
#endif
