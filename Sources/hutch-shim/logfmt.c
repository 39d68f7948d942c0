// hutch-shim: the container log's framing (logfmt.h).
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include "logfmt.h"

// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm): no gmtime, no locale.
static void civil(long long days, int *y, int *m, int *d) {
    days += 719468;
    long long era = (days >= 0 ? days : days - 146096) / 146097;
    long long doe = days - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void digits(char *p, long long v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

// "2026-12-07T16:11:13.123456789Z" (30 characters) into p.
static void timestamp(char *p) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long secs = ts.tv_sec, days = secs / 86400, rem = secs % 86400;
    if (rem < 0) { rem += 86400; days--; }
    int y, m, d;
    civil(days, &y, &m, &d);
    digits(p, y, 4); p[4] = '-';
    digits(p + 5, m, 2); p[7] = '-';
    digits(p + 8, d, 2); p[10] = 'T';
    digits(p + 11, rem / 3600, 2); p[13] = ':';
    digits(p + 14, rem / 60 % 60, 2); p[16] = ':';
    digits(p + 17, rem % 60, 2); p[19] = '.';
    digits(p + 20, ts.tv_nsec, 9); p[29] = 'Z';
}

static int write_all(int fd, struct iovec *iov, int cnt) {
    while (cnt > 0) {
        ssize_t w = writev(fd, iov, cnt);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

// Entries per writev: 3 iovecs each, within the kernel's IOV_MAX (1024).
enum { BATCH = 64 };

int log_chunk(int fd, const char *stream, const char *buf, size_t n) {
    // One timestamp for what one read returned; two heads that differ only in their tag.
    char full[30 + 1 + 6 + 3], part[sizeof full];
    timestamp(full);
    full[30] = ' ';
    size_t sl = strlen(stream);
    memcpy(full + 31, stream, sl);
    size_t hl = 31 + sl;
    full[hl] = ' ';
    full[hl + 2] = ' ';
    memcpy(part, full, sizeof full);
    full[hl + 1] = 'F';
    part[hl + 1] = 'P';
    struct iovec iov[3 * BATCH];
    while (n > 0) {
        int cnt = 0;
        while (n > 0 && cnt < 3 * BATCH) {
            const char *nl = memchr(buf, '\n', n);
            size_t len = nl ? (size_t)(nl - buf) : n;
            iov[cnt++] = (struct iovec){ .iov_base = nl ? full : part, .iov_len = hl + 3 };
            iov[cnt++] = (struct iovec){ .iov_base = (void *)buf, .iov_len = len };
            iov[cnt++] = (struct iovec){ .iov_base = "\n", .iov_len = 1 };
            size_t used = nl ? len + 1 : len;
            buf += used;
            n -= used;
        }
        if (write_all(fd, iov, cnt) < 0) return -1;
    }
    return 0;
}
