#ifndef IOLOG_CLIBPQ_SHIM_H
#define IOLOG_CLIBPQ_SHIM_H

#include <libpq-fe.h>

// libpq's default notice processor prints every server NOTICE and WARNING to stderr,
// outside iolog's logging. Installed with PQsetNoticeProcessor, this one drops them.
static inline void iolog_pq_ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

// The PG_DIAG_* field codes are character-literal macros, which Swift cannot import.
static const int IOLOG_PG_DIAG_SQLSTATE = PG_DIAG_SQLSTATE;
static const int IOLOG_PG_DIAG_MESSAGE_PRIMARY = PG_DIAG_MESSAGE_PRIMARY;

#endif
