#ifndef BRINE_FD_AUDIT_H
#define BRINE_FD_AUDIT_H

/// The test process's descriptor audit (Tests/CFDAudit/fd_audit.c): this
/// target defines `close(2)` for the test executable. A closed descriptor is
/// kept in quarantine (its number held by a duplicate of /dev/null) for the
/// next 256 closes, so that closing it a second time is caught, rather than
/// closing whatever file another thread has just opened under the same number
/// (which that thread then reads as EBADF, or, worse, reads from a different
/// file later). Each second close is counted and reported on stderr with a
/// backtrace, and the process exits non-zero at the end if any happened.
/// `BRINE_FD_AUDIT=0` in the environment turns it off.

/// The number of second closes caught so far in this process.
long brine_fd_audit_double_closes(void);

/// Whether the audit is on (a test that counts on it can say so).
int brine_fd_audit_enabled(void);

#endif
