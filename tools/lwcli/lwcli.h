/* lwcli: the command-line client for operators and tenants over lwstack's HTTP API, which
 * follows The Things Stack's v3 API (paths, JSON, field masks, pagination, errors).
 *
 * Private header of tools/lwcli. The pure parts (argument parsing, string building, JSON
 * paths, table and key/value rendering) live in args.c and output.c and are unit-tested;
 * client.c talks HTTP with libcurl and keeps the login token; commands.c maps each command
 * onto its API call. Every external symbol carries the prefix `lc_`. */
#ifndef LC_LWCLI_H
#define LC_LWCLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes: 0 success, 1 the request failed (server error, connection), 2 usage. */
#define LC_EXIT_OK    0
#define LC_EXIT_FAIL  1
#define LC_EXIT_USAGE 2

#ifndef LC_VERSION
#define LC_VERSION "0.1.0"
#endif

/* ---- memory (args.c) ------------------------------------------------------------------- */

/* Allocation failure is fatal here as in lwstack (cluster/mem.h, which lwcli does not link):
 * these never return NULL; on failure they print `lwcli: out of memory allocating N bytes`
 * and exit with LC_EXIT_FAIL. Never check their result for NULL. */
void *lc_xmalloc(size_t n);
void *lc_xcalloc(size_t n, size_t size);
void *lc_xrealloc(void *p, size_t n);
char *lc_xstrdup(const char *s);
char *lc_xstrndup(const char *s, size_t n);

/* ---- growable strings (args.c) --------------------------------------------------------- */

typedef struct lc_str {
    char *buf; /* always NUL-terminated once anything was appended; NULL before */
    size_t len;
    size_t cap;
} lc_str_t;

void lc_str_append(lc_str_t *s, const char *text);
void lc_str_appendn(lc_str_t *s, const char *text, size_t n);
void lc_str_appendf(lc_str_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text percent-encoded as one URL path segment or query value: RFC 3986
 * unreserved characters and ',' (a sub-delimiter, the field mask separator) are kept. */
void lc_str_append_escaped(lc_str_t *s, const char *text);
const char *lc_str_cstr(const lc_str_t *s); /* "" when empty */
void lc_str_free(lc_str_t *s);

/* ---- argument parsing (args.c) ---------------------------------------------------------- */

typedef enum lc_flag_kind {
    LC_FLAG_BOOL,   /* --x, --x=true, --x=false */
    LC_FLAG_STRING, /* --x VALUE or --x=VALUE */
    LC_FLAG_UINT,   /* like STRING, checked to be a decimal unsigned integer */
    LC_FLAG_LIST,   /* like STRING, may be repeated; each occurrence may hold a,b,c */
    LC_FLAG_PREFIX, /* boolean flags whose names start with `name` (e.g. "right-") */
} lc_flag_kind_t;

typedef struct lc_flag_spec {
    const char *name; /* without the leading dashes, e.g. "application-id" */
    lc_flag_kind_t kind;
    const char *help; /* NULL hides the flag from usage text */
} lc_flag_spec_t;

#define LC_ARGS_MAX 128

typedef struct lc_arg {
    const char *name;  /* the flag's name as given (points into argv or the spec) */
    const char *value; /* "true"/"false" for booleans */
    const lc_flag_spec_t *spec;
} lc_arg_t;

typedef struct lc_args {
    lc_arg_t flags[LC_ARGS_MAX];
    size_t nflags;
    const char *pos[LC_ARGS_MAX];
    size_t npos;
    bool help; /* -h or --help was given */
} lc_args_t;

/* Parses argv[*idx..argc) against the NULL-name-terminated flag tables in `specs` (nspecs
 * tables), appending flags and positionals to out. With stop_at_word, stops at the first
 * positional (leaving *idx on it) so a caller can parse global flags before a command.
 * "--" ends flag parsing. Keeps pointers into argv and the specs. Returns 0, or -1 with a
 * message in errbuf (unknown flag, missing value, bad integer or boolean, too many). */
int lc_args_parse(int argc, char **argv, int *idx, const lc_flag_spec_t *const *specs,
                  size_t nspecs, bool stop_at_word, lc_args_t *out, char *errbuf, size_t errlen);

/* The last value given for a flag, or NULL. */
const char *lc_args_get(const lc_args_t *a, const char *name);
/* True when a boolean flag was given and not set to false. */
bool lc_args_bool(const lc_args_t *a, const char *name);
/* True when the flag was given at all (any value). */
bool lc_args_has(const lc_args_t *a, const char *name);

/* Normalises a right as given on the command line ("RIGHT_APPLICATION_ALL",
 * "application-all", "right-application-all", "application_all") to The Things Stack's
 * enum name "RIGHT_APPLICATION_ALL". Returns -1 when the text holds anything but letters,
 * digits, dashes and underscores or the result would not fit. */
int lc_right_normalize(const char *in, char *out, size_t outlen);

/* Normalises a state ("approved", "STATE_APPROVED") to "STATE_APPROVED"; -1 if unknown. */
int lc_state_normalize(const char *in, char *out, size_t outlen);

/* Normalises a LoRaWAN version as people write it to The Things Stack's enum name, with
 * prefix "MAC" (lorawan_version: "1.0.3" → "MAC_V1_0_3") or "PHY" (lorawan_phy_version:
 * "1.0.3-a" → "PHY_V1_0_3_REV_A", "rp002-1.0.3" → "RP002_V1_0_3"). Enum names pass
 * through upper-cased. Returns -1 when the text is not a version. */
int lc_version_normalize(const char *prefix, const char *in, char *out, size_t outlen);

/* ---- JSON paths and rendering (output.c) ------------------------------------------------ */

/* Looks up a dot-separated path ("ids.application_ids.application_id") in nested objects.
 * Returns a borrowed reference or NULL. */
json_t *lc_json_path(json_t *root, const char *path);
/* Sets a value at a dot-separated path, creating intermediate objects; steals `value`.
 * Returns 0, or -1 when an intermediate exists and is not an object. */
int lc_json_set_path(json_t *root, const char *path, json_t *value);

/* Formats a scalar or an array of scalars as text for people: strings as they are,
 * numbers in decimal, booleans true/false, arrays joined with ",". Timestamps are not
 * touched here. Returns a malloc'd string ("" for NULL/null). */
char *lc_json_text(const json_t *v);

/* Shortens an RFC 3339 timestamp for tables: drops fractional seconds
 * ("2026-11-24T05:10:38.123456Z" → "2026-11-24T05:10:38Z"). Writes into out. */
void lc_time_short(const char *in, char *out, size_t outlen);

/* Parses an RFC 3339 timestamp ("2026-11-24T05:10:38.123Z", "...+01:00") to seconds since
 * the epoch (fractions dropped). Returns 0, or -1 when the text is not one. */
int lc_time_parse(const char *in, long long *out);

typedef enum lc_col_fmt {
    LC_COL_TEXT,   /* lc_json_text of the value at path */
    LC_COL_TIME,   /* lc_time_short of the string at path */
    LC_COL_COLLAB, /* a collaborator's kind: "user" or "organization" */
} lc_col_fmt_t;

typedef struct lc_column {
    const char *header;
    const char *path; /* may list alternatives separated by '|': the first present wins */
    lc_col_fmt_t fmt;
} lc_column_t;

/* A table of text cells: headers, then rows. */
typedef struct lc_table {
    size_t ncols;
    const char **headers;
    char **cells; /* nrows * ncols, malloc'd strings */
    size_t nrows;
    size_t caprows;
} lc_table_t;

void lc_table_init(lc_table_t *t, const char **headers, size_t ncols);
/* Adds a row of ncols cells (copied). */
void lc_table_add(lc_table_t *t, const char *const *cells);
/* Adds one row per object of `items`, each cell taken by the column's path. */
void lc_table_add_json(lc_table_t *t, const lc_column_t *cols, json_t *items);
/* Writes the table: columns separated by two spaces and padded to the widest cell (in
 * characters, UTF-8 aware), no trailing blanks, every line ending in "\n". */
void lc_table_write(const lc_table_t *t, FILE *f);
void lc_table_destroy(lc_table_t *t);

/* Writes an object as "key: value" lines, nested objects flattened to dot paths
 * ("ids.application_id"), arrays of scalars joined with ",", keys aligned. Fields whose
 * last path component is a known secret ("password", "secret", ...) are written as
 * "(hidden)", except `key` which the caller controls with show_key. */
void lc_kv_write(json_t *obj, bool show_key, FILE *f);

/* Pretty JSON (two-space indent, order kept) followed by a newline. */
void lc_json_write(const json_t *v, FILE *f);

/* Extracts the error name and message from a body in The Things Stack's error shape
 * (`{"code","message","details":[{"name","message_format",...}]}`): name from
 * details[0].name, message from "message" with a leading "error:<ns>:<name> (...)"
 * wrapper removed, else details[0].message_format. Returns 0 with malloc'd *name and
 * *message, or -1 when the body is not in that shape. */
int lc_error_decode(const char *body, size_t len, char **name, char **message);

/* ---- HTTP client (client.c) ------------------------------------------------------------- */

typedef enum lc_auth {
    LC_AUTH_USER,  /* --api-key, else the stored login token, else the tenant admin key */
    LC_AUTH_ADMIN, /* Authorization: TenantAdminKey <hex> (required) */
    LC_AUTH_NONE,
} lc_auth_t;

typedef struct lc_ctx {
    const char *url; /* base URL without trailing slash */
    const char *tenant;
    const char *api_key;
    const char *admin_key;
    char *token;         /* the stored login token when it applies to url/tenant, else NULL */
    char *token_user_id; /* the user it was issued to */
    bool json;
    bool insecure;
    bool verbose;
    void *curl; /* CURL *, created on first use */
} lc_ctx_t;

typedef struct lc_resp {
    long status;
    lc_str_t body;
    long long total; /* X-Total-Count, -1 when absent */
    json_t *json;    /* the parsed body (NULL when empty or not JSON) */
    FILE *sink;      /* lc_request_stream: where a 2xx body goes instead of `body` */
} lc_resp_t;

/* Sends one request. `path` starts with "/api/v3" and includes any query. `body` (may be
 * NULL) is sent as JSON. On a 2xx answer returns 0 with *out filled (free it with
 * lc_resp_free). Otherwise prints `error: <name>: <message>` (or the connection failure
 * naming the URL) on stderr and returns LC_EXIT_FAIL. */
int lc_request(lc_ctx_t *ctx, const char *method, const char *path, json_t *body, lc_auth_t auth,
               lc_resp_t *out);
/* lc_request for a large answer (an export): a 2xx body is written to sink as it arrives
 * (never kept), an error body is kept in out as lc_request keeps it. No timeout. */
int lc_request_stream(lc_ctx_t *ctx, const char *method, const char *path, lc_auth_t auth,
                      FILE *sink, lc_resp_t *out);
void lc_resp_free(lc_resp_t *r);
void lc_ctx_destroy(lc_ctx_t *ctx);

/* The Identity Server's session endpoints, in one place (components/is/is.h): login takes
 * {"user_id","password"} and answers {"access_token":"MFRWG...","expires_at",...}; logout
 * revokes the access token it is called with. */
#define LC_LOGIN_PATH  "/api/v3/auth/login"
#define LC_LOGOUT_PATH "/api/v3/auth/logout"

/* The token file: $XDG_CONFIG_HOME/lwcli/token-<tenant> (else ~/.config/...), where
 * <tenant> is "default" when no tenant is given. Returns 0 or -1 (no home folder). */
int lc_token_path(const char *tenant, lc_str_t *out);
/* Stores the token (mode 0600, folder 0700). Returns 0, or -1 with errno-based message
 * printed on stderr. */
int lc_token_store(const char *tenant, const char *url, const char *user_id, const char *token,
                   const char *expires_at);
/* Loads the stored token into ctx when one exists for ctx->tenant and ctx->url and has not
 * expired (an expired one is reported on stderr and not used). */
void lc_token_load(lc_ctx_t *ctx);
/* Removes the stored token. Returns 0 when removed, 1 when there was none, -1 on error. */
int lc_token_remove(const char *tenant);

/* Reads one line (without its newline) from stdin into out; on a terminal prompts on
 * stderr with echo off. Returns 0, or -1 when stdin is empty. */
int lc_read_secret(const char *prompt, lc_str_t *out);

/* ---- device import and export (transfer.c) ---------------------------------------------- */

/* base64 (standard, padded) of n bytes into out (room for 4 * ((n + 2) / 3) + 1). */
void lc_base64_encode(const unsigned char *in, size_t n, char *out);
/* A progress line for a terminal: "[#####.....]  42%  1234 devices" (width cells of bar)
 * into out. total 0: no percentage. */
void lc_progress_format(unsigned long long done, unsigned long long total,
                        unsigned long long devices, int width, char *out, size_t outlen);

typedef struct lc_import_opts {
    const char *application_id;
    const char *file;
    const char *format_id;
    bool dry_run;
    size_t part_bytes; /* file bytes per request (0: 700,000, under 1 MiB once in base64) */
    json_t *fallbacks; /* borrowed; NULL: none */
} lc_import_opts_t;

/* lwcli devices import: sends the file in parts, follows the job (a progress bar on a
 * terminal), prints the summary table and the failed rows. Returns LC_EXIT_OK when the job
 * finished with every row imported, LC_EXIT_FAIL otherwise. */
int lc_devices_import(lc_ctx_t *ctx, const lc_import_opts_t *o);
/* lwcli devices export: the application's devices as The Things Stack JSON, one per line, to
 * out_path (NULL or "-": stdout). */
int lc_devices_export(lc_ctx_t *ctx, const char *application_id, bool include_keys,
                      const char *out_path);

/* ---- commands (commands.c) -------------------------------------------------------------- */

/* Runs lwcli with its arguments; returns the exit code. */
int lc_main(int argc, char **argv);

#endif
