/* HTTP for etcd's JSON gateway, over libcurl (never hand-written HTTP). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include "chutchetcd.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_NOTHING); }

struct buf {
    char *data;
    size_t len, cap;
    int oom;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg) {
    struct buf *b = arg;
    size_t add = size * n;
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + add + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) { b->oom = 1; return 0; }
        b->data = d; b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* TLS: the CA, client certificate and key files (each NULL: none). Peer and host name are always
 * verified (libcurl's defaults, set explicitly so that nothing can turn them off). */
static void setup_tls(CURL *curl, const he_tls *tls) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!tls) return;
    if (tls->cafile) {
        /* Only this CA (as etcdctl's --cacert and flannel's -etcd-cafile): not also the system's
         * CA directory that libcurl would search by default. */
        curl_easy_setopt(curl, CURLOPT_CAINFO, tls->cafile);
        curl_easy_setopt(curl, CURLOPT_CAPATH, (char *)NULL);
    }
    if (tls->certfile) {
        curl_easy_setopt(curl, CURLOPT_SSLCERT, tls->certfile);
        curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (tls->keyfile) {
        curl_easy_setopt(curl, CURLOPT_SSLKEY, tls->keyfile);
        curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
    }
}

/* What failed, for the caller to name the cause: curl's code and the TLS verification result. */
static void fill_fail(CURL *curl, CURLcode r, he_fail *f) {
    if (!f) return;
    f->curl_code = (int)r;
    f->verify_result = 0;
    long v = 0;
    if (curl && curl_easy_getinfo(curl, CURLINFO_SSL_VERIFYRESULT, &v) == CURLE_OK) f->verify_result = v;
}

struct he_client {
    CURL *curl;
    char *base;
    struct curl_slist *headers;
};

he_client *he_open(const char *base_url, const he_tls *tls) {
    pthread_once(&once, global_init);
    he_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->curl = curl_easy_init();
    c->base = strdup(base_url);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!c->curl || !c->base || !c->headers) { he_close(c); return NULL; }
    setup_tls(c->curl, tls);  /* curl copies the strings */
    return c;
}

void he_close(he_client *c) {
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->base);
    free(c);
}

static void setup(CURL *curl, const char *url, const char *body, struct curl_slist *headers, struct buf *b,
                  char *errbuf) {
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");  /* etcd is reached directly, whatever http_proxy says */
    /* HTTP/1.1 over TLS too (libcurl would offer HTTP/2): one protocol, whatever the scheme. */
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
}

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la); memcpy(s + la, b, lb + 1);
    return s;
}

int he_post(he_client *c, const char *path, const char *body, long timeout_ms, long *status, char **resp,
            char *errbuf, he_fail *fail) {
    errbuf[0] = '\0';
    fill_fail(NULL, CURLE_OK, fail);
    char *url = join(c->base, path);
    if (!url) { snprintf(errbuf, HE_ERRLEN, "out of memory"); return -1; }
    struct buf b = { NULL, 0, 0, 0 };
    setup(c->curl, url, body, c->headers, &b, errbuf);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    CURLcode r = curl_easy_perform(c->curl);
    free(url);
    if (r != CURLE_OK || b.oom) {
        if (!errbuf[0]) snprintf(errbuf, HE_ERRLEN, "%s", b.oom ? "out of memory" : curl_easy_strerror(r));
        fill_fail(c->curl, r, fail);
        free(b.data);
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    *resp = b.data ? b.data : strdup("");
    return 0;
}

struct he_stream {
    CURLM *multi;
    CURL *curl;
    struct curl_slist *headers;
    char *body;
    struct buf b;
    char errbuf[CURL_ERROR_SIZE];
};

he_stream *he_stream_open(const char *base_url, const he_tls *tls, const char *path, const char *body,
                          long connect_timeout_ms, char *errbuf) {
    pthread_once(&once, global_init);
    he_stream *s = calloc(1, sizeof *s);
    if (!s) { snprintf(errbuf, HE_ERRLEN, "out of memory"); return NULL; }
    char *url = join(base_url, path);
    s->body = strdup(body);
    s->multi = curl_multi_init();
    s->curl = curl_easy_init();
    s->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!url || !s->body || !s->multi || !s->curl || !s->headers) {
        free(url); he_stream_close(s);
        snprintf(errbuf, HE_ERRLEN, "cannot set up a curl transfer");
        return NULL;
    }
    setup(s->curl, url, s->body, s->headers, &s->b, s->errbuf);
    setup_tls(s->curl, tls);
    free(url);  /* curl copies the URL */
    curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_multi_add_handle(s->multi, s->curl);
    return s;
}

int he_stream_poll(he_stream *s, int timeout_ms, int wake_fd, int *woken, char **data, size_t *len, char *errbuf,
                   he_fail *fail) {
    errbuf[0] = '\0';
    fill_fail(NULL, CURLE_OK, fail);
    *data = NULL; *len = 0; *woken = 0;
    int running = 0;
    CURLMcode m = curl_multi_perform(s->multi, &running);
    if (m == CURLM_OK && running && s->b.len == 0) {
        struct curl_waitfd w = { .fd = wake_fd, .events = CURL_WAIT_POLLIN, .revents = 0 };
        curl_multi_poll(s->multi, wake_fd >= 0 ? &w : NULL, wake_fd >= 0 ? 1 : 0, timeout_ms, NULL);
        if (wake_fd >= 0 && (w.revents & CURL_WAIT_POLLIN)) {
            char junk[64];
            while (read(wake_fd, junk, sizeof junk) > 0) {}
            *woken = 1;
        }
        m = curl_multi_perform(s->multi, &running);
    }
    if (s->b.len > 0) {
        *data = s->b.data; *len = s->b.len;
        s->b.data = NULL; s->b.len = 0; s->b.cap = 0;
    }
    if (m != CURLM_OK) { snprintf(errbuf, HE_ERRLEN, "%s", curl_multi_strerror(m)); return -1; }
    if (s->b.oom) { snprintf(errbuf, HE_ERRLEN, "out of memory"); return -1; }
    if (running) return 0;
    int left = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(s->multi, &left))) {
        if (msg->msg == CURLMSG_DONE && msg->data.result != CURLE_OK) {
            snprintf(errbuf, HE_ERRLEN, "%s", s->errbuf[0] ? s->errbuf : curl_easy_strerror(msg->data.result));
            fill_fail(s->curl, msg->data.result, fail);
            return -1;
        }
    }
    return 1;
}

void he_stream_close(he_stream *s) {
    if (!s) return;
    if (s->multi && s->curl) curl_multi_remove_handle(s->multi, s->curl);
    if (s->curl) curl_easy_cleanup(s->curl);
    if (s->multi) curl_multi_cleanup(s->multi);
    curl_slist_free_all(s->headers);
    free(s->body);
    free(s->b.data);
    free(s);
}

void he_free(void *p) { free(p); }
