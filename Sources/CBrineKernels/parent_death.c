// Cleanup of a helper child process's private output when its parent dies:
// prctl(2) is variadic (Swift cannot call it) and the cleanup runs in a
// signal handler, where only async-signal-safe calls (unlink, rmdir, _exit)
// are allowed.
#define _GNU_SOURCE
#include "CBrineKernels.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static int cleanup_dir_fd = -1;
static char cleanup_dir[4096];

// Removes every entry of the private folder (the output and any staging
// file its atomic writer made) with raw getdents64/unlinkat system calls,
// which are safe in a signal handler, then the folder itself.
static void remove_and_exit(int sig) {
    char buffer[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, cleanup_dir_fd, buffer, sizeof buffer);
        if (n <= 0) break;
        for (long at = 0; at < n;) {
            struct dirent64 *entry = (struct dirent64 *)(buffer + at);
            const char *name = entry->d_name;
            if (!(name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))) unlinkat(cleanup_dir_fd, name, 0);
            at += entry->d_reclen;
        }
    }
    rmdir(cleanup_dir);
    _exit(128 + sig);
}

int brine_remove_on_parent_death(const char *dir, int parent) {
    if (strlen(dir) >= sizeof cleanup_dir) return ENAMETOOLONG;
    strcpy(cleanup_dir, dir);
    cleanup_dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cleanup_dir_fd < 0) return errno;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = remove_and_exit;
    sigemptyset(&action.sa_mask);
    // SIGTERM from prctl or the parent; SIGINT and SIGHUP reach the child
    // too when Ctrl-C or a closed terminal hits the foreground process group.
    if (sigaction(SIGTERM, &action, NULL) != 0 || sigaction(SIGINT, &action, NULL) != 0 ||
        sigaction(SIGHUP, &action, NULL) != 0) return errno;
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return errno;
    // The parent may have died before prctl: then no signal will come.
    if (getppid() != parent) remove_and_exit(SIGTERM);
    return 0;
}
#else
int brine_remove_on_parent_death(const char *dir, int parent) {
    (void)dir; (void)parent;
    return EOPNOTSUPP;
}
#endif
