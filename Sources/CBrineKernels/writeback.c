// sync_file_range(2), which needs _GNU_SOURCE and so cannot be reached from
// Swift's Glibc module.
#define _GNU_SOURCE
#include "CBrineKernels.h"

#include <errno.h>

#if defined(__linux__)
#include <fcntl.h>

int brine_start_writeback(int fd, int64_t offset, int64_t length) {
    int r;
    do {
        r = sync_file_range(fd, (off64_t)offset, (off64_t)length, SYNC_FILE_RANGE_WRITE);
    } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : errno;
}
#else
int brine_start_writeback(int fd, int64_t offset, int64_t length) {
    (void)fd; (void)offset; (void)length;
    return EOPNOTSUPP;
}
#endif
