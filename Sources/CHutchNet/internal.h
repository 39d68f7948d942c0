/* Private to CHutchNet: the socket wrapper and the request/acknowledge helper. */
#pragma once
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include "chutchnet.h"

struct hn_nl {
    struct nl_sock *sk;
};

/* Callback for each reply message of a request (dumps and gets). Return NL_OK or NL_STOP. */
typedef int (*hn_reply_fn)(struct nl_msg *msg, void *arg);

/* Sends msg (consumed) and waits for the kernel's answer: 0 on ACK/end of dump, -errno from the
 * kernel's NLMSG_ERROR, or -EIO/-ENOMEM for local failures. `dump` strips NLM_F_ACK. */
int hn_talk(hn_nl *nl, struct nl_msg *msg, int dump, hn_reply_fn on_reply, void *arg);

/* libnl NLE_* code (negative) to a negative errno, for the few libnl helpers that only return NLE. */
int hn_nle_to_errno(int nle);
