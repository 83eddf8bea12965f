// fallocate(2) with FALLOC_FL_KEEP_SIZE, which needs _GNU_SOURCE and so
// cannot be reached from Swift's Glibc module.
#define _GNU_SOURCE
#include "CBrineKernels.h"

#include <errno.h>

#if defined(__linux__)
#include <fcntl.h>

int brine_preallocate_keep_size(int fd, int64_t offset, int64_t length) {
    int r;
    do {
        r = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
    } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
}

int brine_release_blocks_past(int fd, int64_t offset, int64_t length) {
    int r;
    do {
        r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
    } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
}
#else
int brine_preallocate_keep_size(int fd, int64_t offset, int64_t length) {
    (void)fd; (void)offset; (void)length;
    return EOPNOTSUPP;
}

int brine_release_blocks_past(int fd, int64_t offset, int64_t length) {
    (void)fd; (void)offset; (void)length;
    return EOPNOTSUPP;
}
#endif
