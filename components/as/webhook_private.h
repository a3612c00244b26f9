/* Webhooks (issue 10 item 5): The Things Stack's ApplicationWebhookRegistry and webhook
 * delivery, made durable. For components/as/webhook*.c and their unit tests only.
 *
 *   webhook_req.c   pure: a webhook's JSON checked and normalised, the delivered message's
 *                   field_mask, the request URL (base_url + path, userinfo taken out as
 *                   Authorization: Basic), backoff; no I/O, clock or allocation beyond jansson
 *   webhook_api.c   the registry, dead letters and downlink routes (WEBHOOKS.md)
 *   webhook.c       delivery: consumer of lw.as.up (group "as.webhooks"), the registry cache,
 *                   the PostgreSQL outbox, per-webhook queues, health, dead letters
 *
 * Tables (migrations/tenant/as/0003_webhooks.sql): as_webhooks, as_webhook_outbox,
 * as_webhook_dead_letters. Topic lw.as.webhooks: AsWebhookChanged, a broadcast that a
 * webhook changed (every process drops its cached copy) or that dead letters were put back
 * in the outbox (the owner of their partition claims them). */
#ifndef AS_WEBHOOK_PRIVATE_H
#define AS_WEBHOOK_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "as/as_private.h"

#define WH_TYPES        12u   /* AsUpType values 0..11 */
#define WH_HEADERS_MAX  32u   /* headers of one webhook */
#define WH_HEADER_MAX   1024u /* bytes of one header value */
#define WH_URL_MAX      2048u /* base_url, and base_url + path */
#define WH_PATH_MAX     256u  /* one message type's path */
#define WH_MASK_MAX     32u   /* field_mask paths */
#define WH_ID_MAX       TN_ID_MAX
#define WH_KEY_MAX      512u /* downlink_api_key */
#define WH_PER_APP_MAX  64u  /* webhooks of one application */
#define WH_ROUTE_PREFIX "/api/v3/as/webhooks"

/* ---- webhook_req.c (pure) ---------------------------------------------------------------- */

/* The message type field names in the order of AsUpType ("uplink_message" = 1, ...); index
 * 0 is NULL. */
extern const char *const wh_type_fields[WH_TYPES];

/* Checks the body of a Set (TTS ApplicationWebhook) for the paths of mask (all of them when
 * mask->n is 0 and create is set) and copies what they select into stored (the webhook as
 * kept in as_webhooks.webhook, without ids, times, health and the downlink API key). key_out
 * receives the downlink_api_key when the mask names it (key_set true; "" removes it).
 * create: base_url is required. Errors: invalid_field naming "webhook.<path>", unknown_field
 * "webhook.<key>"; stored is then half changed (the caller drops it). */
int wh_apply(const json_t *body, const lw_api_mask_t *mask, bool create, json_t *stored,
             char key_out[WH_KEY_MAX + 1], bool *key_set, lw_err_t *err);

/* The field mask paths a Set or Get may name (lw_api_fields_t.known). */
bool wh_path_known(const void *arg, const char *path);

/* The ApplicationUp JSON as the webhook's field_mask (its paths, n of them) selects it:
 * TTS's rule, paths under "up.<type>" select within the message's own type, other paths
 * ("end_device_ids", "received_at", ...) the envelope. n 0: up unchanged (a new reference).
 * Returns a new reference. */
json_t *wh_mask_up(const json_t *up, const char *const *paths, size_t n);

/* base_url joined with path as TTS joins them (a path starting with '/' is relative to
 * base_url's path, never to the host's root; a path that is only a query is added as is).
 * Userinfo in base_url ("https://user:pass@host/...") is taken out: url_out has none and
 * auth_out the "Basic <base64(user:pass)>" value (percent-decoded), "" without userinfo.
 * Returns 0 or -1 (not an http(s) URL, too long). */
int wh_url(const char *base_url, const char *path, char *url_out, size_t url_len, char *auth_out,
           size_t auth_len);

/* Delay before the next try after `failures` consecutive failures: base * 2^(failures-1),
 * capped at max, times a jitter factor in [0.5, 1.0) taken from rnd (any 32 bits). */
uint64_t wh_backoff_ms(uint64_t base_ms, uint64_t max_ms, uint32_t failures, uint32_t rnd);

/* "https://lns.example.com/api/v3" → "lns.example.com" (TTS's X-Tts-Domain: the public
 * address's host, port included). "" when none. */
void wh_domain(const char *public_address, char *out, size_t len);

/* The downlink API key at rest: sealed with the at-rest KEK (as.key-encryption-key, AES-GCM,
 * "gcm:<label>:<base64 of nonce, ciphertext, tag>"), or copied as it is without one.
 * wh_key_open reverses either (a value without the prefix is a key in clear). Return 0, or
 * -1 (too long; an unknown label, altered bytes: out is then ""). */
int wh_key_seal(const as_kek_t *kek, const char *key, char *out, size_t len);
int wh_key_open(const as_t *as, const char *stored, char *out, size_t len);
#define WH_KEY_SEALED_MAX (4u + AS_LABEL_MAX + 1u + 4u * ((12u + WH_KEY_MAX + 16u + 2u) / 3u) + 1u)

/* ---- webhook.c: what the API needs from delivery ----------------------------------------- */

typedef struct as_webhooks as_webhooks_t;

/* Lifecycle (component.c). init registers the tenant listener; start subscribes. */
int as_webhooks_init(as_t *as, lw_err_t *err);
int as_webhooks_start(as_t *as, lw_err_t *err);
void as_webhooks_stop(as_t *as);
bool as_webhooks_stopped(const as_t *as);
void as_webhooks_free(as_t *as);

/* Announces on lw.as.webhooks that a webhook of (tenant, app) changed (replay false) or
 * that its dead letters were put back in the outbox (replay true). */
void as_webhooks_changed(as_t *as, const char *tenant, const char *app, const char *webhook_id,
                         bool replay);

/* Routes (webhook_api.c). */
int as_webhook_routes(as_t *as);

/* The configuration (webhook.c's table; component.c registers it). */
extern const lw_cfg_opt_t as_webhook_config[];
extern const size_t as_webhook_config_len;

#endif
