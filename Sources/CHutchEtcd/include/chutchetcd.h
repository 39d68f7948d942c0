/*
 * CHutchEtcd: plain-function glue over libcurl for etcd's v3 JSON gateway (POST + JSON bodies,
 * one kept-alive connection per client, and one streaming request for /v3/watch).
 * Linked only by hutch-node: plain `hutch run` never loads libcurl.
 * Conventions: 0 (or a count) on success, a negative value on failure with a message in errbuf
 * (HE_ERRLEN bytes). No macros are part of the interface.
 */
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { HE_ERRLEN = 256 };

/* TLS for https:// endpoints: PEM files (NULL: none). A CA file is the only CA trusted; without
 * one, the system's CAs. The peer's certificate and host name are always verified. */
typedef struct he_tls {
    const char *cafile;
    const char *certfile;
    const char *keyfile;
} he_tls;

/* Why a request failed: libcurl's CURLcode (0: not a curl failure) and, for TLS, the
 * certificate verification result (an X509_V_ERR_* code; 0: verified or not checked). */
typedef struct he_fail {
    int curl_code;
    long verify_result;
} he_fail;

/* One HTTP client: a curl easy handle reused for every request (keep-alive). */
typedef struct he_client he_client;

/* A client for base_url (e.g. "http://192.0.2.254:2379"), with tls (NULL: none; the strings are
 * copied); NULL if curl cannot be set up. */
he_client *he_open(const char *base_url, const he_tls *tls);
void he_close(he_client *c);

/* POST base_url+path with a JSON body, waiting at most timeout_ms (connect included).
 * 0 with *status (the HTTP status) and *resp (the body, NUL-terminated, malloc'ed: free with
 * he_free); or -1 with errbuf and *fail (may be NULL) set (no answer: refused, timed out, TLS ...). */
int he_post(he_client *c, const char *path, const char *body, long timeout_ms, long *status, char **resp,
            char *errbuf, he_fail *fail);

/* One streaming request (the watch): POSTed, then read piece by piece without blocking others. */
typedef struct he_stream he_stream;

/* Starts POST base_url+path with body; connects within connect_timeout_ms. NULL with errbuf set. */
he_stream *he_stream_open(const char *base_url, const he_tls *tls, const char *path, const char *body,
                          long connect_timeout_ms, char *errbuf);
/* Waits up to timeout_ms for data, or for `wake_fd` (-1: none) to become readable (then drained
 * and *woken set to 1). Returns the bytes received since the last call in *data (malloc'ed,
 * NUL-terminated, NULL when none; free with he_free) and: 0 while the stream is open, 1 when the
 * server ended it, -1 on an error (errbuf and *fail, which may be NULL, set). */
int he_stream_poll(he_stream *s, int timeout_ms, int wake_fd, int *woken, char **data, size_t *len, char *errbuf,
                   he_fail *fail);
void he_stream_close(he_stream *s);

void he_free(void *p);

#ifdef __cplusplus
}
#endif
