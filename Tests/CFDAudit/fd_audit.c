// Descriptor audit for the test executable; see include/fd_audit.h.
#define _GNU_SOURCE
#include "fd_audit.h"

#if defined(__linux__)

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { quarantine_size = 256, max_fd = 1 << 20 };

static int (*real_close)(int);
static int enabled;
static int devnull = -1;
static unsigned char *held;          // held[fd] != 0: fd is in quarantine
static int ring[quarantine_size];    // quarantined descriptors, oldest first at `next`
static long closes;
static long doubles;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int forward(int fd) {
    return real_close ? real_close(fd) : (int)syscall(SYS_close, fd);
}

static void report_at_exit(void) {
    if (doubles == 0) return;
    dprintf(2, "fd audit: %ld descriptor(s) closed twice in this test run (backtraces above); failing the run\n", doubles);
    _exit(70);
}

__attribute__((constructor)) static void fd_audit_start(void) {
    real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    const char *env = getenv("BRINE_FD_AUDIT");
    if (env && strcmp(env, "0") == 0) return;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    held = calloc(max_fd, 1);
    if (devnull < 0 || !held || !real_close) return;
    atexit(report_at_exit);
    enabled = 1;
}

int close(int fd) {
    if (!enabled || fd < 0 || fd >= max_fd || fd == devnull) return forward(fd);
    pthread_mutex_lock(&lock);
    if (held[fd]) {
        doubles += 1;
        dprintf(2, "fd audit: descriptor %d closed a second time (thread %d); it would have closed whatever file reused the number:\n", fd, (int)gettid());
        void *frames[48];
        backtrace_symbols_fd(frames, backtrace(frames, 48), 2);
        pthread_mutex_unlock(&lock);
        errno = EBADF;
        return -1;
    }
    if (fcntl(fd, F_GETFD) == -1) {
        // Not open: the ordinary EBADF.
        pthread_mutex_unlock(&lock);
        return forward(fd);
    }
    // Replacing the descriptor closes the open file description's reference
    // as close would (record locks, pipe ends and sockets are released) while
    // the number stays taken.
    if (dup3(devnull, fd, O_CLOEXEC) != fd) {
        pthread_mutex_unlock(&lock);
        return forward(fd);
    }
    held[fd] = 1;
    long slot = closes % quarantine_size;
    if (closes >= quarantine_size) {
        int oldest = ring[slot];
        held[oldest] = 0;
        forward(oldest);
    }
    ring[slot] = fd;
    closes += 1;
    pthread_mutex_unlock(&lock);
    return 0;
}

long brine_fd_audit_double_closes(void) {
    pthread_mutex_lock(&lock);
    long n = doubles;
    pthread_mutex_unlock(&lock);
    return n;
}

int brine_fd_audit_enabled(void) { return enabled; }

#else

// Elsewhere the system close(2) is left alone.
long brine_fd_audit_double_closes(void) { return 0; }
int brine_fd_audit_enabled(void) { return 0; }

#endif
