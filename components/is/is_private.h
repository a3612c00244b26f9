/* Identity Server internals shared by its files. The pure parts (rights, tokens, codecs)
 * take values and return values: no I/O, no clock, no globals; they are unit tested. */
#ifndef IS_PRIVATE_H
#define IS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cluster/api_codec.h"
#include "cluster/err.h"
#include "is/is.h"
#include "tenant/ids.h"

/* ---- rights (rights.c) ------------------------------------------------------------------- */

/* A set of rights: bit n is The Things Stack's Right enum value n (rights.proto, 1..63). */
typedef uint64_t is_rights_t;

typedef enum is_ent {
    IS_ENT_USER = 0,
    IS_ENT_ORG,
    IS_ENT_APP,
    IS_ENT_GW,
    IS_ENT_CLIENT,
    IS_ENT_COUNT
} is_ent_t;

#define IS_BIT(v) ((is_rights_t)1 << (v))

enum {
    IS_R_USER_INFO = 1,
    IS_R_USER_SETTINGS_BASIC = 2,
    IS_R_USER_SETTINGS_API_KEYS = 3,
    IS_R_USER_DELETE = 4,
    IS_R_USER_APPLICATIONS_LIST = 6,
    IS_R_USER_APPLICATIONS_CREATE = 7,
    IS_R_USER_GATEWAYS_LIST = 8,
    IS_R_USER_GATEWAYS_CREATE = 9,
    IS_R_USER_ORGANIZATIONS_LIST = 12,
    IS_R_USER_ORGANIZATIONS_CREATE = 13,
    IS_R_USER_ALL = 14,
    IS_R_APPLICATION_INFO = 15,
    IS_R_APPLICATION_SETTINGS_BASIC = 16,
    IS_R_APPLICATION_SETTINGS_API_KEYS = 17,
    IS_R_APPLICATION_SETTINGS_COLLABORATORS = 18,
    IS_R_APPLICATION_DELETE = 19,
    IS_R_APPLICATION_DEVICES_READ = 20,
    IS_R_APPLICATION_DEVICES_WRITE = 21,
    IS_R_APPLICATION_TRAFFIC_READ = 24,
    IS_R_APPLICATION_TRAFFIC_DOWN_WRITE = 26,
    IS_R_APPLICATION_LINK = 27,
    IS_R_APPLICATION_ALL = 28,
    IS_R_CLIENT_ALL = 29,
    IS_R_GATEWAY_INFO = 30,
    IS_R_GATEWAY_SETTINGS_BASIC = 31,
    IS_R_GATEWAY_SETTINGS_API_KEYS = 32,
    IS_R_GATEWAY_SETTINGS_COLLABORATORS = 33,
    IS_R_GATEWAY_DELETE = 34,
    IS_R_GATEWAY_LINK = 37,
    IS_R_GATEWAY_ALL = 40,
    IS_R_ORGANIZATION_INFO = 41,
    IS_R_ORGANIZATION_SETTINGS_BASIC = 42,
    IS_R_ORGANIZATION_SETTINGS_API_KEYS = 43,
    IS_R_ORGANIZATION_SETTINGS_MEMBERS = 44,
    IS_R_ORGANIZATION_DELETE = 45,
    IS_R_ORGANIZATION_APPLICATIONS_LIST = 46,
    IS_R_ORGANIZATION_APPLICATIONS_CREATE = 47,
    IS_R_ORGANIZATION_GATEWAYS_LIST = 48,
    IS_R_ORGANIZATION_GATEWAYS_CREATE = 49,
    IS_R_ORGANIZATION_ALL = 53,
    IS_R_ALL = 55,
};

#define IS_RIGHTS_EVERYTHING (~(is_rights_t)1) /* every right, bit 0 is "invalid" */

/* Enum value of a right name ("RIGHT_APPLICATION_INFO"), or -1. */
int is_right_parse(const char *name);
/* Name of a right value, or NULL when undefined. */
const char *is_right_name(int value);
/* Expands pseudo-rights (_ALL) and implications (_LINK) into the rights they stand for. */
is_rights_t is_rights_expand(is_rights_t r);
/* The intersection of two sets, each expanded first. */
is_rights_t is_rights_intersect(is_rights_t a, is_rights_t b);
/* Does `have` (expanded) hold every right of `need` (as given)? */
bool is_rights_include(is_rights_t have, is_rights_t need);
/* Every right of an entity kind, its _ALL pseudo-right included. */
is_rights_t is_rights_of(is_ent_t kind);
/* Parses a JSON array of right names; errors name `field` (invalid_field). */
int is_rights_from_json(const json_t *arr, const char *field, is_rights_t *out, lw_err_t *err);
/* JSON array of names in enum order (new reference). */
json_t *is_rights_to_json(is_rights_t r);
/* PostgreSQL text[] literal "{RIGHT_A,RIGHT_B}" ↔ set. Unknown names are skipped. */
is_rights_t is_rights_from_pg(const char *literal);
int is_rights_to_pg(is_rights_t r, char *buf, size_t len);

/* Managing holders of rights (API keys, collaborators), as The Things Stack rules it: a
 * caller may create, change or delete a key or a collaborator only if it holds every right
 * that key or collaborator holds before and after the change, and an entity never loses its
 * last collaborator with full rights. */

/* The rights a caller must hold to turn a holder of `before` into a holder of `after`: both
 * sets, expanded (a create has before 0, a delete after 0). */
is_rights_t is_rights_to_manage(is_rights_t before, is_rights_t after);
/* Does `caller` (expanded or not) hold is_rights_to_manage(before, after)? */
bool is_rights_may_manage(is_rights_t caller, is_rights_t before, is_rights_t after);
/* The rights any one of which makes a collaborator of a `kind` entity a full-rights one:
 * the kind's _ALL pseudo-right and RIGHT_ALL (0 for users and clients, which have no
 * collaborators here). */
is_rights_t is_rights_full_of(is_ent_t kind);
/* Does a collaborator holding `r` hold full rights on a `kind` entity? */
bool is_rights_full(is_ent_t kind, is_rights_t r);
/* Would changing a collaborator from `before` to `after` (0: removed) leave the entity with
 * no collaborator with full rights? `others_full`: another collaborator (a user or an
 * organization) holds them. */
bool is_rights_drops_last_full(is_ent_t kind, is_rights_t before, is_rights_t after,
                               bool others_full);

/* ---- tokens, hashes, passwords (token.c) ------------------------------------------------ */

/* pkg/auth: type tag base32("key") / base32("acc"), ID of 24 random bytes and secret of 32,
 * both unpadded base32 (39 and 52 characters). */
#define IS_TOKEN_API_KEY    "NNSXS"
#define IS_TOKEN_ACCESS     "MFRWG"
#define IS_TOKEN_ID_LEN     39
#define IS_TOKEN_SECRET_LEN 52
#define IS_TOKEN_MAX        128

typedef struct is_token {
    char type[8];
    char id[IS_TOKEN_ID_LEN + 1];
    char secret[IS_TOKEN_SECRET_LEN + 1];
} is_token_t;

/* Unpadded RFC 4648 base32, uppercase; out needs ceil(len*8/5)+1 bytes. */
void is_base32_encode(const uint8_t *in, size_t len, char *out);
/* A fresh token of `type` with random ID and secret. Returns 0 or -1 (no randomness). */
int is_token_generate(const char *type, is_token_t *out);
/* "<type>.<id>.<secret>" into buf (IS_TOKEN_MAX). */
void is_token_format(const is_token_t *t, char *buf, size_t len);
/* Splits and checks a token (known type, base32 alphabet, exact lengths). Returns 0 or -1. */
int is_token_parse(const char *s, is_token_t *out);

/* Salted PBKDF2-HMAC-SHA256: "PBKDF2$sha256$<iterations>$<salt b64>$<key b64>".
 * CPU-heavy: call off the loop (uv_queue_work). Returns 0 or -1. */
int is_hash_secret(const char *secret, int iterations, char *out, size_t len);
/* 1 when `secret` matches `stored` (constant-time compare), 0 when not, -1 when `stored`
 * is malformed. CPU-heavy like is_hash_secret. */
int is_hash_verify(const char *secret, const char *stored);
#define IS_HASH_MAX 160

/* The Things Stack's password requirements (is.user-registration.password-requirements.*).
 * Lengths count bytes, as The Things Stack does; uppercase letters and digits are ASCII,
 * special characters are the ASCII ones that are neither letters nor digits (blanks
 * included); other characters count as letters. */
typedef struct is_pw_policy {
    int min_length, max_length, min_digits, min_special, min_uppercase;
    bool reject_user_id; /* the user ID, in any case, anywhere in the password */
    bool reject_common;  /* one of the well-known passwords, in any case */
} is_pw_policy_t;

/* Checks a new password against the policy, in The Things Stack's order: length, uppercase,
 * digits, special characters, user ID, common. A password of blanks only is always refused
 * (password_strength_min_length), whatever the policy. Errors, each with attributes field
 * (`field`) and n: password_strength_min_length / _max_length / _uppercase / _digits /
 * _special, password_contains_user_id, common_password; a missing password is invalid_field.
 * The password is never in the error. */
int is_password_check(const is_pw_policy_t *p, const char *password, const char *user_id,
                      const char *field, lw_err_t *err);

/* ---- entities, codecs, field masks, pagination (codec.c) -------------------------------- */

typedef enum is_ftype {
    IS_FT_STRING = 0, /* max: length */
    IS_FT_BOOL,
    IS_FT_ATTRS,   /* map of ID-like keys to strings (max: entries) */
    IS_FT_STRLIST, /* array of strings (max: items) */
    IS_FT_ENUM,    /* choices[0] is the zero value */
    IS_FT_OBJECT,  /* sub-fields */
    IS_FT_OBJLIST, /* array of objects with sub-fields (max: items) */
    IS_FT_NUMBER,  /* min..max */
    IS_FT_UINT,    /* 0..max */
    IS_FT_EMAIL,
    IS_FT_ADDRESS,  /* host[:port] */
    IS_FT_DURATION, /* "1.5s" */
    IS_FT_TIME,     /* RFC 3339 */
} is_ftype_t;

#define IS_F_CREATE_ONLY 0x1u /* accepted on create only (user.password) */
#define IS_F_HIDDEN      0x2u /* never rendered (user.password) */
#define IS_F_ADMIN       0x4u /* only admins may set it (user.admin, user.state) */

typedef struct is_field {
    const char *name;
    is_ftype_t type;
    double min, max;
    const char *const *choices;
    const struct is_field *sub;
    size_t nsub;
    unsigned flags;
} is_field_t;

typedef struct is_kind {
    is_ent_t ent;       /* IS_ENT_* (devices: IS_ENT_APP, their rights are the app's) */
    bool device;        /* end devices */
    const char *name;   /* "application", "end device" for messages */
    const char *key;    /* body key: "application", "end_device" */
    const char *plural; /* "applications", "devices" */
    const char *table;  /* "applications", "end_devices" */
    const char *id_field;
    tn_limit_kind_t limit;
    const is_field_t *fields;
    size_t nfields;
} is_kind_t;

extern const is_kind_t is_kind_user, is_kind_org, is_kind_app, is_kind_gw, is_kind_dev;

/* Identifiers decoded from `ids`. */
typedef struct is_ids {
    char id[TN_ID_MAX + 1];     /* entity ID (device ID for devices) */
    char app_id[TN_ID_MAX + 1]; /* devices: application_ids.application_id */
    bool has_eui, has_dev_eui, has_join_eui;
    uint64_t eui, dev_eui, join_eui;
} is_ids_t;

/* EUI-64 as 16 hex digits (either case). Returns 0 or -1. */
int is_eui_parse(const char *s, uint64_t *out);
void is_eui_format(uint64_t eui, char out[17]);

/* Validates an entity object of a request (`obj` at `prefix`, e.g. "application"): every
 * key known, every value valid (errors: unknown_field / invalid_field naming
 * "<prefix>.<field>"). `ids` is decoded into *ids (IDs validated when present); with
 * `create`, the ID is required and create-only fields are accepted. *data receives a new
 * object with the non-zero values of the other fields (hidden ones included). */
int is_entity_decode(const is_kind_t *k, json_t *obj, const char *prefix, bool create,
                     is_ids_t *ids, json_t **data, lw_err_t *err);

/* A field mask: validated paths ("name", "version_ids.brand_id"), parsed by the shared
 * helpers of cluster/api_codec.h against the kind's fields. */
#define IS_MASK_MAX LW_API_MASK_MAX
typedef lw_api_mask_t is_mask_t;

/* From `?field_mask=a,b` (NULL or "": empty mask) or {"paths":[...]} (NULL: empty). Errors
 * name `field` (invalid_field). Paths must name fields of the kind; "ids" paths and
 * timestamps are accepted and ignored. */
int is_mask_parse_csv(const is_kind_t *k, const char *csv, const char *field, is_mask_t *m,
                      lw_err_t *err);
int is_mask_parse_json(const is_kind_t *k, const json_t *fm, const char *field, is_mask_t *m,
                       lw_err_t *err);
/* May a mask of kind k name `path` (a renderable field, or one sub-field of an object)? */
bool is_mask_path_known(const is_kind_t *k, const char *path);
/* Every renderable field of the kind (create answers show them all). */
void is_mask_all(const is_kind_t *k, is_mask_t *m);
/* Does the mask hold `path`? */
bool is_mask_has(const is_mask_t *m, const char *path);

/* Renders an entity: `ids` (stolen reference), created_at/updated_at/deleted_at (RFC 3339,
 * NULL or "" omitted) and, from `full` (borrowed), the masked fields that are non-zero. */
json_t *is_entity_render(const is_kind_t *k, json_t *ids, const char *created_at,
                         const char *updated_at, const char *deleted_at, const json_t *full,
                         const is_mask_t *mask);

/* Applies an update: for each path of the mask, the value in `src` replaces the one in
 * `dst`, or removes it when absent/zero (The Things Stack clears fields in the mask that the
 * message leaves empty). Returns -1 with invalid_field when a path is create-only. */
int is_entity_apply(const is_kind_t *k, json_t *dst, const json_t *src, const is_mask_t *mask,
                    lw_err_t *err);

/* List parameters (lw_api_page_parse, lw_api_order_parse). limit: 1..1000 (absent or 0:
 * 1000); page: 1-based (absent or 0: 1); order: "[-]field" among the kind's ID field,
 * created_at, updated_at and name. */
#define IS_PAGE_MAX 1000
typedef struct is_page {
    long limit;
    long page;
    char order_sql[96]; /* "application_id ASC", "data->>'name' DESC" */
} is_page_t;

int is_page_parse(const is_kind_t *k, const char *limit, const char *page, const char *order,
                  is_page_t *p, lw_err_t *err);

#endif
