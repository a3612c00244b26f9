/* Fuzz target: a webhook as POST /api/v3/tbs/stripe receives it. The input's first line is
 * the Stripe-Signature header, the rest the body. Both are parsed as billing/webhook.c does
 * (signature verified against a fixed secret at the header's own timestamp, the event
 * decoded, the limits of every item read, the decision taken); nothing may crash, and a
 * signature made here for the body must verify. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "billing/billing_private.h"

#define FUZZ_SECRET "whsec_fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl != NULL ? (size_t)(nl - data) : size;
    const char *header = (const char *)data;
    const uint8_t *body = nl != NULL ? nl + 1 : data + size;
    size_t blen = size - (size_t)(body - data);

    lw_err_t err;
    billing_sig_t sig;
    int64_t now = 1700000000;
    if (billing_sig_parse(header, hlen, &sig, &err) == 0)
        now = sig.t;
    (void)billing_sig_verify(header, hlen, body, blen, FUZZ_SECRET, now, 300, &err);

    char made[128];
    if (billing_sig_header(FUZZ_SECRET, now, body, blen, made, sizeof made) == 0 &&
        billing_sig_verify(made, strlen(made), body, blen, FUZZ_SECRET, now, 300, &err) != 0)
        __builtin_trap();

    billing_event_t ev;
    if (billing_event_decode(body, blen, &ev, &err) != 0)
        return 0;
    int64_t limits[TN_LIMIT_COUNT];
    for (size_t i = 0; i < ev.nitems; i++)
        (void)billing_item_limits(&ev.items[i], NULL, limits, &err);
    (void)billing_event_meta(&ev, "tenant-id");
    if (ev.kind == BILLING_EV_SUBSCRIPTION) {
        billing_decide_in_t in = {.status = ev.status,
                                  .customer = ev.customer,
                                  .subscription = ev.sub_id,
                                  .tenant_exists = ev.nitems % 2 == 1,
                                  .account_exists = true,
                                  .account_customer = ev.customer,
                                  .billing_state_known = true,
                                  .billing_state = TN_STATE_APPROVED,
                                  .tenant_state = TN_STATE_SUSPENDED};
        (void)billing_decide(&in);
    }
    billing_event_destroy(&ev);
    return 0;
}
