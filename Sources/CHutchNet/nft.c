/* libnftables: run a batch of nft commands, the equivalent of `nft -f -`.
 *
 * libnftables is loaded on first use (dlopen), not linked: it brings libxtables, libjansson and
 * libgmp along, and loading and relocating those costs every hutch process its start-up time (bench/README.md),
 * while only network set-up, removal and reload need it (per-container ports go through
 * libnftnl, nftel.c). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <nftables/libnftables.h>
#include "chutchnet.h"

static struct {
    __typeof__(&nft_ctx_new) ctx_new;
    __typeof__(&nft_ctx_free) ctx_free;
    __typeof__(&nft_ctx_buffer_output) buffer_output;
    __typeof__(&nft_ctx_buffer_error) buffer_error;
    __typeof__(&nft_ctx_get_output_buffer) get_output;
    __typeof__(&nft_ctx_get_error_buffer) get_error;
    __typeof__(&nft_run_cmd_from_buffer) run;
} lib;
static const char *load_error; /* set once, by load() */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void) {
    void *h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror(); /* dlerror's buffer is reused by the next dl* call: copy it */
        load_error = strdup(e ? e : "cannot load libnftables.so.1");
        return;
    }
#define SYM(field, name) if (!(lib.field = (__typeof__(lib.field))dlsym(h, name))) { load_error = "libnftables.so.1 lacks " name; return; }
    SYM(ctx_new, "nft_ctx_new")
    SYM(ctx_free, "nft_ctx_free")
    SYM(buffer_output, "nft_ctx_buffer_output")
    SYM(buffer_error, "nft_ctx_buffer_error")
    SYM(get_output, "nft_ctx_get_output_buffer")
    SYM(get_error, "nft_ctx_get_error_buffer")
    SYM(run, "nft_run_cmd_from_buffer")
#undef SYM
}

static char *dup_or_null(const char *s) { return (s && *s) ? strdup(s) : NULL; }

int hn_nft_run(const char *cmds, char **output, char **error) {
    if (output) *output = NULL;
    if (error) *error = NULL;
    pthread_once(&load_once, load);
    if (load_error || !lib.run) {
        if (error) *error = strdup(load_error ? load_error : "libnftables.so.1 not loaded");
        return -ENOSYS;
    }
    struct nft_ctx *ctx = lib.ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) return -ENOMEM;
    lib.buffer_output(ctx);
    lib.buffer_error(ctx);
    int r = lib.run(ctx, cmds);
    if (output) *output = dup_or_null(lib.get_output(ctx));
    if (error) *error = dup_or_null(lib.get_error(ctx));
    lib.ctx_free(ctx);
    return r == 0 ? 0 : (r < 0 ? r : -EINVAL);
}
