// hutch-shim: the container log's framing (docs/shim-protocol.md, "The log"), CRI's format as
// Kubernetes' kubelet and Podman's k8s-file driver write it: one entry per line,
//   TIMESTAMP STREAM TAG TEXT\n
// TIMESTAMP is RFC 3339 UTC with nanoseconds (2026-12-07T16:11:13.123456789Z), STREAM `stdout` or
// `stderr`, TAG `F` for a line that ended with a newline (the newline is not stored) or `P` for a
// piece of a line that continues in the stream's next entry. Uses proc.c only through libc.
#pragma once

#include <stddef.h>

// Appends what one read() of `stream` ("stdout"/"stderr") returned: one entry per line, all with
// the time of the read, the last piece `P` if it did not end with a newline. One writev per 64
// entries (O_APPEND: whole entries, never interleaved with another writer's). No heap. Returns -1
// if the log cannot take more (errno set), else 0.
int log_chunk(int fd, const char *stream, const char *buf, size_t n);
