/* The Identity Server component: configuration, lifecycle, routes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "is/server_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/ratelimit.h"

static const lw_cfg_opt_t is_config[] = {
    /* The Things Stack's keys and defaults (min-length 8, max-length 1000, min-uppercase 1,
     * min-digits 1), applied at registration, initial_user and password change. Rejecting
     * the user ID and common passwords is on by default here (off in The Things Stack). */
    {.key = "is.user-registration.password-requirements.min-length",
     .type = LW_CFG_INT,
     .def = "8",
     .min = 1,
     .max = 1000,
     .help = "Minimum length of user passwords (bytes)."},
    {.key = "is.user-registration.password-requirements.max-length",
     .type = LW_CFG_INT,
     .def = "1000",
     .min = 1,
     .max = 1000,
     .help = "Maximum length of user passwords (bytes)."},
    {.key = "is.user-registration.password-requirements.min-uppercase",
     .type = LW_CFG_INT,
     .def = "1",
     .min = 0,
     .max = 100,
     .help = "Minimum number of uppercase letters in user passwords."},
    {.key = "is.user-registration.password-requirements.min-digits",
     .type = LW_CFG_INT,
     .def = "1",
     .min = 0,
     .max = 100,
     .help = "Minimum number of digits in user passwords."},
    {.key = "is.user-registration.password-requirements.min-special",
     .type = LW_CFG_INT,
     .def = "0",
     .min = 0,
     .max = 100,
     .help = "Minimum number of special characters (neither letters nor digits) in user "
             "passwords."},
    {.key = "is.user-registration.password-requirements.reject-user-id",
     .type = LW_CFG_BOOL,
     .def = "true",
     .help = "Reject passwords that contain the user ID (in any case)."},
    {.key = "is.user-registration.password-requirements.reject-common",
     .type = LW_CFG_BOOL,
     .def = "true",
     .help = "Reject well-known passwords (password1, Passw0rd, Welcome1, ...)."},
    {.key = "is.password.iterations",
     .type = LW_CFG_INT,
     .def = "100000",
     .min = 100000,
     .max = 10000000,
     .help = "PBKDF2-HMAC-SHA256 iterations for user passwords (hashed off the loop)."},
    {.key = "is.api-key.iterations",
     .type = LW_CFG_INT,
     .def = "10000",
     .min = 1000,
     .max = 10000000,
     .help = "PBKDF2-HMAC-SHA256 iterations for API key and access token secrets."},
    {.key = "is.token-ttl",
     .type = LW_CFG_DURATION,
     .def = "1h",
     .min = 1000,
     .max = 2592000000LL,
     .help = "Lifetime of access tokens issued by login."},
    {.key = "is.auth-cache-ttl",
     .type = LW_CFG_DURATION,
     .def = "10s",
     .min = 0,
     .max = 3600000,
     .help = "How long a verified API key or token stays cached in memory (0: no cache). "
             "Revocations reach every process at once over lw.is.revocations; the TTL bounds "
             "what a process holds while the bus is down."},
    /* Self-registration (POST /api/v3/users without admin rights), as The Things Stack's
     * is.user-registration.*; a tenant overrides each in its configuration
     * (configuration.default_cluster.is.user_registration, tenant/api.c). Off by default:
     * a tenant of a paid service is a customer's closed organisation, whose admins create
     * its users; strangers must not take its user IDs and quota. A tenant that opens it
     * still approves each new user unless it turns approval off too. */
    {.key = "is.user-registration.enabled",
     .type = LW_CFG_BOOL,
     .def = "false",
     .help = "Allow anyone to register a user (POST /api/v3/users) without admin rights."},
    {.key = "is.user-registration.admin-approval.required",
     .type = LW_CFG_BOOL,
     .def = "true",
     .help = "Self-registered users start in STATE_REQUESTED and cannot log in until an admin "
             "approves them."},
    {.key = "is.user-registration.invitation.required",
     .type = LW_CFG_BOOL,
     .def = "false",
     .help = "Self-registration needs an invitation token (invitation_token_required)."},
    /* Rates are "N/PERIOD[ burst B]" (cluster/ratelimit.h): N per PERIOD on average, B at
     * once (default N); "0" or "off": no limit. Every login attempt counts, right or wrong. */
    {.key = "is.rate-limit.login.per-user",
     .type = LW_CFG_STRING,
     .def = "10/1m burst 5",
     .check = lw_rate_check,
     .help = "Login attempts per user of a tenant (POST /api/v3/auth/login), e.g. \"10/1m "
             "burst 5\"; over it: 429 rate_limit_exceeded with Retry-After. 0: no limit."},
    {.key = "is.rate-limit.login.per-address",
     .type = LW_CFG_STRING,
     .def = "30/1m burst 30",
     .check = lw_rate_check,
     .help = "Login attempts per client address, across tenants (IPv6: per /64). 0: no limit."},
    {.key = "is.rate-limit.login.per-tenant",
     .type = LW_CFG_STRING,
     .def = "300/1m burst 60",
     .check = lw_rate_check,
     .help = "Login attempts per tenant, all users and addresses together. 0: no limit."},
    {.key = "is.rate-limit.login.hashing-per-tenant",
     .type = LW_CFG_INT,
     .def = "2",
     .min = 0,
     .max = 256,
     .help = "Password hashes of one tenant's logins in the worker pool at once; a login "
             "beyond them gets 429 instead of queueing in front of other tenants. 0: no cap."},
    {.key = "is.rate-limit.per-api-key",
     .type = LW_CFG_STRING,
     .def = "50/1s burst 100",
     .check = lw_rate_check,
     .help = "Requests per API key or access token, counted once the caller is authenticated. "
             "0: no limit."},
    {.key = "is.rate-limit.trusted-proxies",
     .type = LW_CFG_LIST,
     .check = is_limit_check_ip,
     .help = "Addresses of reverse proxies in front of the API (at most 16): a login through "
             "one is counted per address on the rightmost X-Forwarded-For entry that is not a "
             "trusted proxy. Empty (the default): X-Forwarded-For is ignored."},
    {.key = "is.gateway-location-debounce-time",
     .type = LW_CFG_DURATION,
     .def = "1h",
     .min = 0,
     .max = 86400000,
     .help = "After a gateway's reported location was looked at (gs.status.receive, with "
             "update_location_from_status), how long its next reports are skipped (The Things "
             "Stack's gs.update-gateway-location-debounce-time). A change of the gateway ends "
             "the wait. 0: every report."},
};

static int is_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "is", is_config, sizeof is_config / sizeof is_config[0]);
}

static void is_free(void *state)
{
    is_t *is = state;
    if (is == NULL)
        return;
    is_limits_free(is->limits);
    is_location_free(is);
    free(is->cache);
    free(is->routes);
    free(is);
}

static int is_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = tn_from_runtime(rt);
    if (tn == NULL)
        return lw_err_set(err, &lw_err_internal, "the identity server needs the tenant module");
    is_t *is = lw_calloc(1, sizeof *is);
    is->cache = lw_calloc(IS_CACHE_SLOTS, sizeof *is->cache);
    is->routes = lw_calloc(IS_MAX_ROUTES, sizeof *is->routes);
    lw_config_t *cfg = lw_rt_config(rt);
    is->rt = rt;
    is->loop = lw_rt_loop(rt);
    is->db = lw_rt_db(rt);
    is->bus = lw_rt_bus(rt);
    is->tn = tn;
    is->env = (lw_api_env_t){.db = is->db, .work = lw_rt_work(rt), .module = "is"};
#define IS_PW_REQ "is.user-registration.password-requirements."
    is->pw.min_length = (int)lw_config_int(cfg, IS_PW_REQ "min-length");
    is->pw.max_length = (int)lw_config_int(cfg, IS_PW_REQ "max-length");
    is->pw.min_digits = (int)lw_config_int(cfg, IS_PW_REQ "min-digits");
    is->pw.min_special = (int)lw_config_int(cfg, IS_PW_REQ "min-special");
    is->pw.min_uppercase = (int)lw_config_int(cfg, IS_PW_REQ "min-uppercase");
    is->pw.reject_user_id = lw_config_bool(cfg, IS_PW_REQ "reject-user-id");
    is->pw.reject_common = lw_config_bool(cfg, IS_PW_REQ "reject-common");
    is->pw_iterations = (int)lw_config_int(cfg, "is.password.iterations");
    is->key_iterations = (int)lw_config_int(cfg, "is.api-key.iterations");
    is->token_ttl_ms = lw_config_duration_ms(cfg, "is.token-ttl");
    is->cache_ttl_ms = lw_config_duration_ms(cfg, "is.auth-cache-ttl");
    is->registration_enabled = lw_config_bool(cfg, "is.user-registration.enabled");
    is->admin_approval = lw_config_bool(cfg, "is.user-registration.admin-approval.required");
    is->invitation_required = lw_config_bool(cfg, "is.user-registration.invitation.required");
    is->limits = is_limits_new(rt, cfg);
    is_location_init(is, cfg);

    if (is_entity_routes(is) != 0 || is_device_routes(is) != 0 || is_access_routes(is) != 0) {
        is_free(is);
        return lw_err_set(err, &lw_err_internal, "cannot register the identity server's routes");
    }
    static const char *const body_keys[] = {"initial_user", NULL};
    is->hook.validate = is_initial_user_validate;
    is->hook.run = is_initial_user_run;
    is->hook.body_keys = body_keys;
    is->hook.arg = is;
    tn_set_create_hook(tn, &is->hook);
    if (is_revoke_init(is, err) != 0) {
        is_free(is);
        return -1;
    }
    *state = is;
    return 0;
}

static int is_start(void *state, lw_err_t *err)
{
    is_t *is = state;
    if (is_revoke_start(is, err) != 0 || is_location_start(is, err) != 0)
        return -1;
    char n[24];
    snprintf(n, sizeof n, "%zu", is->nroutes);
    lw_log(LW_LOG_INFO, "is", "identity server started", "routes", n, NULL);
    return 0;
}

static void is_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    is_t *is = state;
    is->stopping = true;
    if (is->inflight == 0) {
        done(done_arg);
        return;
    }
    /* Requests still running (queries, password hashes in the worker pool): done runs when
     * the last one has answered. */
    is->stop_done = done;
    is->stop_arg = done_arg;
}

const lw_component_t is_component = {
    .name = "is",
    .help = "Identity Server: users, organizations, applications, gateways, devices, keys",
    .config_register = is_config_register,
    .init = is_init,
    .start = is_start,
    .stop = is_stop,
    .free = is_free,
};
