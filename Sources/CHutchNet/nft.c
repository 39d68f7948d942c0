/* libnftables: run a batch of nft commands, the equivalent of `nft -f -`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <nftables/libnftables.h>
#include "chutchnet.h"

static char *dup_or_null(const char *s) { return (s && *s) ? strdup(s) : NULL; }

int hn_nft_run(const char *cmds, char **output, char **error) {
    if (output) *output = NULL;
    if (error) *error = NULL;
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) return -ENOMEM;
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    int r = nft_run_cmd_from_buffer(ctx, cmds);
    if (output) *output = dup_or_null(nft_ctx_get_output_buffer(ctx));
    if (error) *error = dup_or_null(nft_ctx_get_error_buffer(ctx));
    nft_ctx_free(ctx);
    return r == 0 ? 0 : (r < 0 ? r : -EINVAL);
}
