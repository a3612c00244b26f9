/* Stripe webhook events (pure): the event JSON decoded into what billing acts on, plan
 * metadata limits, and the subscription → tenant state decision (tts-features.md §17.3,
 * stripe-billing.md §2.7). No I/O, no clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing_private.h"

static int ev_invalid(lw_err_t *err, const char *reason)
{
    lw_err_set(err, &lw_err_invalid_event, "invalid event: %s", reason);
    lw_err_attr(err, "reason", reason);
    return -1;
}

/* A Stripe ID: a string of 1..BILLING_STRIPE_ID_MAX bytes. */
static const char *ev_id(json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL || s[0] == '\0' || strlen(s) > BILLING_STRIPE_ID_MAX)
        return NULL;
    return s;
}

/* An ID field that Stripe may expand into an object: "cus_1" or {"id":"cus_1",...}. */
static const char *ev_ref(json_t *v)
{
    return json_is_object(v) ? ev_id(json_object_get(v, "id")) : ev_id(v);
}

static json_t *ev_object_or_null(json_t *v)
{
    return json_is_object(v) ? v : NULL;
}

static int ev_decode_items(billing_event_t *ev, json_t *sub, lw_err_t *err)
{
    json_t *data = json_object_get(json_object_get(sub, "items"), "data");
    if (data == NULL)
        return 0;
    if (!json_is_array(data))
        return ev_invalid(err, "items.data is not a list");
    size_t i;
    json_t *it;
    json_array_foreach(data, i, it)
    {
        if (ev->nitems == BILLING_MAX_ITEMS)
            return ev_invalid(err, "more than 20 subscription items");
        billing_item_t *o = &ev->items[ev->nitems];
        json_t *price = ev_object_or_null(json_object_get(it, "price"));
        json_t *plan = ev_object_or_null(json_object_get(it, "plan"));
        o->item_id = ev_id(json_object_get(it, "id"));
        o->price_id = price != NULL ? ev_id(json_object_get(price, "id")) : NULL;
        o->plan_id = plan != NULL ? ev_id(json_object_get(plan, "id")) : NULL;
        if (o->item_id == NULL)
            return ev_invalid(err, "a subscription item without an id");
        if (o->price_id == NULL && o->plan_id == NULL)
            return ev_invalid(err, "a subscription item without a price or plan");
        o->price_metadata =
            price != NULL ? ev_object_or_null(json_object_get(price, "metadata")) : NULL;
        o->plan_metadata =
            plan != NULL ? ev_object_or_null(json_object_get(plan, "metadata")) : NULL;
        ev->nitems++;
    }
    return 0;
}

static int64_t ev_int(json_t *v)
{
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

int billing_event_decode(const void *body, size_t len, billing_event_t *out, lw_err_t *err)
{
    memset(out, 0, sizeof *out);
    if (len > BILLING_EVENT_MAX_BYTES)
        return ev_invalid(err, "body too large");
    json_error_t je;
    out->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (out->root == NULL || !json_is_object(out->root)) {
        billing_event_destroy(out);
        return ev_invalid(err, "not a JSON object");
    }
    json_t *root = out->root;
    out->id = ev_id(json_object_get(root, "id"));
    out->type = json_string_value(json_object_get(root, "type"));
    out->created = ev_int(json_object_get(root, "created"));
    json_t *obj = json_object_get(json_object_get(root, "data"), "object");
    const char *why = NULL;
    if (out->id == NULL)
        why = "no event id";
    else if (out->type == NULL || out->type[0] == '\0' || strlen(out->type) > 128)
        why = "no event type";
    else if (!json_is_object(obj))
        why = "no data.object";
    if (why != NULL) {
        billing_event_destroy(out);
        return ev_invalid(err, why);
    }
    if (strncmp(out->type, "customer.subscription.", 22) == 0) {
        const char *t = out->type + 22;
        if (strcmp(t, "created") != 0 && strcmp(t, "updated") != 0 && strcmp(t, "deleted") != 0)
            return 0; /* trial_will_end, paused, ...: not handled */
        out->kind = BILLING_EV_SUBSCRIPTION;
        out->sub_id = ev_id(json_object_get(obj, "id"));
        out->customer = ev_ref(json_object_get(obj, "customer"));
        out->status = json_string_value(json_object_get(obj, "status"));
        out->metadata = ev_object_or_null(json_object_get(obj, "metadata"));
        json_t *cus = ev_object_or_null(json_object_get(obj, "customer"));
        if (cus != NULL) {
            out->customer_name = json_string_value(json_object_get(cus, "name"));
            out->customer_email = json_string_value(json_object_get(cus, "email"));
        }
        if (out->sub_id == NULL)
            why = "subscription without an id";
        else if (out->customer == NULL)
            why = "subscription without a customer";
        else if (out->status == NULL)
            why = "subscription without a status";
        if (why != NULL || ev_decode_items(out, obj, err) != 0) {
            billing_event_destroy(out);
            return why != NULL ? ev_invalid(err, why) : -1;
        }
        return 0;
    }
    if (strcmp(out->type, "invoice.paid") == 0 ||
        strcmp(out->type, "invoice.payment_failed") == 0) {
        out->kind = BILLING_EV_INVOICE;
        out->invoice_id = ev_id(json_object_get(obj, "id"));
        out->customer = ev_ref(json_object_get(obj, "customer"));
        out->sub_id = ev_ref(json_object_get(obj, "subscription"));
        out->invoice_status = json_string_value(json_object_get(obj, "status"));
        out->currency = json_string_value(json_object_get(obj, "currency"));
        out->amount_due = ev_int(json_object_get(obj, "amount_due"));
        out->amount_paid = ev_int(json_object_get(obj, "amount_paid"));
        out->attempt_count = ev_int(json_object_get(obj, "attempt_count"));
        if (out->invoice_id == NULL)
            why = "invoice without an id";
        else if (out->customer == NULL)
            why = "invoice without a customer";
        if (why != NULL) {
            billing_event_destroy(out);
            return ev_invalid(err, why);
        }
    }
    return 0;
}

void billing_event_destroy(billing_event_t *ev)
{
    json_decref(ev->root);
    memset(ev, 0, sizeof *ev);
}

const char *billing_event_meta(const billing_event_t *ev, const char *key)
{
    const char *s = json_string_value(json_object_get(ev->metadata, key));
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* "max_end_devices" → "max-end-devices". */
static void ev_meta_key(tn_limit_kind_t k, char out[32])
{
    snprintf(out, 32, "%s", tn_limit_field(k));
    for (char *c = out; *c != '\0'; c++)
        if (*c == '_')
            *c = '-';
}

/* A limit's text: decimal digits (at most 18), or "unlimited"/"". */
static int ev_limit_parse(const char *s, int64_t *out)
{
    if (s == NULL || s[0] == '\0' || strcmp(s, "unlimited") == 0) {
        *out = TN_UNLIMITED;
        return 0;
    }
    size_t n = strlen(s);
    if (n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int billing_item_limits(const billing_item_t *it, json_t *overrides, int64_t limits[TN_LIMIT_COUNT],
                        lw_err_t *err)
{
    for (int k = 0; k < TN_LIMIT_COUNT; k++) {
        limits[k] = TN_UNLIMITED;
        char key[32];
        ev_meta_key((tn_limit_kind_t)k, key);
        json_t *v = json_object_get(it != NULL ? it->price_metadata : NULL, key);
        if (v == NULL && it != NULL)
            v = json_object_get(it->plan_metadata, key);
        if (v != NULL &&
            (!json_is_string(v) || ev_limit_parse(json_string_value(v), &limits[k]) != 0)) {
            lw_err_set(err, &lw_err_invalid_event,
                       "invalid event: plan metadata %s is not a number", key);
            lw_err_attr(err, "reason", "plan metadata max-* is not a number");
            lw_err_attr(err, "field", key);
            return -1;
        }
        json_t *o = json_object_get(overrides, tn_limit_field((tn_limit_kind_t)k));
        if (o == NULL)
            continue;
        if (json_is_null(o))
            limits[k] = TN_UNLIMITED;
        else if (json_is_integer(o) && json_integer_value(o) >= 0)
            limits[k] = (int64_t)json_integer_value(o);
        else if (!json_is_string(o) || ev_limit_parse(json_string_value(o), &limits[k]) != 0)
            return lw_err_set(err, &lw_err_invalid_billing_config,
                              "invalid billing configuration: plan limit %s is not a number",
                              tn_limit_field((tn_limit_kind_t)k));
    }
    return 0;
}

/* ---- the decision ----------------------------------------------------------------------- */

static billing_decision_t ev_ignore(billing_decision_t d, const char *reason)
{
    d.action = BILLING_ACT_IGNORE;
    d.reason = reason;
    return d;
}

billing_decision_t billing_decide(const billing_decide_in_t *in)
{
    billing_decision_t d = {.action = BILLING_ACT_NONE, .state = TN_STATE_APPROVED};
    const char *s = in->status;
    bool approve = !in->deleted && (strcmp(s, "active") == 0 || strcmp(s, "trialing") == 0);
    bool flag = !in->deleted && strcmp(s, "past_due") == 0;
    bool suspend = strcmp(s, "unpaid") == 0 || strcmp(s, "canceled") == 0 || in->deleted;
    if (!approve && !flag && !suspend) {
        if (strcmp(s, "incomplete") == 0 || strcmp(s, "incomplete_expired") == 0)
            return ev_ignore(d, "subscription incomplete");
        return ev_ignore(d, "unhandled subscription status");
    }
    d.state = approve ? TN_STATE_APPROVED : flag ? TN_STATE_FLAGGED : TN_STATE_SUSPENDED;
    if (!in->tenant_exists) {
        if (!approve)
            return ev_ignore(d, "no tenant to change");
        d.action = BILLING_ACT_CREATE;
        return d;
    }
    /* An existing tenant must be billing's, for the same customer (The Things Stack's
     * tenant_not_managed / customer_id_mismatch). */
    if (!in->account_exists)
        return ev_ignore(d, "tenant_not_managed");
    if (in->account_customer == NULL || strcmp(in->account_customer, in->customer) != 0)
        return ev_ignore(d, "customer_id_mismatch");
    /* Only the tenant's current subscription may take service away: a late event of an
     * ended subscription does not suspend the one that replaced it. A new subscription of
     * the same customer that is active takes over (reactivation). */
    bool current =
        in->account_subscription == NULL || strcmp(in->account_subscription, in->subscription) == 0;
    if (!approve && !current)
        return ev_ignore(d, "not the tenant's current subscription");
    /* A state set by hand (it differs from the one billing last set) that takes service away
     * is the operator's: billing never lifts it. */
    bool by_hand = in->billing_state_known ? in->tenant_state != in->billing_state
                                           : in->tenant_state != TN_STATE_APPROVED;
    if (by_hand &&
        (in->tenant_state == TN_STATE_SUSPENDED || in->tenant_state == TN_STATE_REJECTED ||
         in->tenant_state == TN_STATE_REQUESTED)) {
        d.action = BILLING_ACT_UPDATE;
        d.keep_state = true;
        d.reason = "tenant state set by an operator";
        return d;
    }
    d.action = BILLING_ACT_UPDATE;
    return d;
}
