/* lwcli's commands: each maps onto one call of The Things Stack's v3 HTTP API as lwstack
 * serves it (paths, request bodies, field masks, pagination), and prints the answer as a
 * table, as key/value lines, or (--json) as the server's JSON. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lwcli.h"

/* ---- entities --------------------------------------------------------------------------- */

typedef enum field_type {
    F_STR,
    F_UINT,
    F_BOOL,
    F_LIST,  /* string array; "a,b" or repeated flags */
    F_STATE, /* "approved" → "STATE_APPROVED" */
    F_MAC,   /* "1.0.3" → "MAC_V1_0_3" */
    F_PHY,   /* "1.0.3-a" → "PHY_V1_0_3_REV_A" */
    F_ATTR,  /* key=value, repeated → {"attributes": {...}} */
} field_type_t;

typedef struct field {
    const char *flag;
    const char *path; /* JSON path inside the entity, also its field mask path */
    field_type_t type;
    const char *help;
} field_t;

typedef struct entity {
    const char *name;      /* "applications": the command group */
    const char *singular;  /* "application": the request body key, for messages */
    const char *list_key;  /* "applications": the list answer's array */
    const char *id_flag;   /* "application-id" */
    const char *id_field;  /* "application_id", under "ids" */
    const char *base;      /* "/api/v3/applications" (devices: below an application) */
    const char *mask;      /* default field mask of get and list */
    const field_t *fields; /* settable fields, NULL-flag-terminated */
    const lc_column_t *cols;
    size_t ncols;
    bool admin; /* tenants: TenantAdminKey */
    bool device;
} entity_t;

static const field_t tenant_fields[] = {
    {"name", "name", F_STR, "name (at most 50 characters)"},
    {"description", "description", F_STR, "description"},
    {"attributes", "attributes", F_ATTR, "attribute key=value (repeatable)"},
    {"state", "state", F_STATE, "requested, approved, rejected, flagged or suspended"},
    {"state-description", "state_description", F_STR, "why the tenant is in its state"},
    {"max-applications", "max_applications", F_UINT, "limit of applications"},
    {"max-clients", "max_clients", F_UINT, "limit of OAuth clients"},
    {"max-end-devices", "max_end_devices", F_UINT, "limit of end devices"},
    {"max-gateways", "max_gateways", F_UINT, "limit of gateways"},
    {"max-organizations", "max_organizations", F_UINT, "limit of organizations"},
    {"max-users", "max_users", F_UINT, "limit of users"},
    {NULL, NULL, F_STR, NULL},
};

static const field_t application_fields[] = {
    {"name", "name", F_STR, "name"},
    {"description", "description", F_STR, "description"},
    {"attributes", "attributes", F_ATTR, "attribute key=value (repeatable)"},
    {NULL, NULL, F_STR, NULL},
};

static const field_t gateway_fields[] = {
    {"gateway-eui", "ids.eui", F_STR, "the gateway's EUI (16 hex digits)"},
    {"name", "name", F_STR, "name"},
    {"description", "description", F_STR, "description"},
    {"attributes", "attributes", F_ATTR, "attribute key=value (repeatable)"},
    {"frequency-plan-id", "frequency_plan_ids", F_LIST,
     "frequency plan, e.g. EU_863_870_TTN (repeatable)"},
    {"status-public", "status_public", F_BOOL, "show the gateway's status publicly"},
    {"location-public", "location_public", F_BOOL, "show the gateway's location publicly"},
    {"gateway-server-address", "gateway_server_address", F_STR, "Gateway Server address"},
    {NULL, NULL, F_STR, NULL},
};

static const field_t device_fields[] = {
    {"dev-eui", "ids.dev_eui", F_STR, "DevEUI (16 hex digits)"},
    {"join-eui", "ids.join_eui", F_STR, "JoinEUI (16 hex digits)"},
    {"name", "name", F_STR, "name"},
    {"description", "description", F_STR, "description"},
    {"attributes", "attributes", F_ATTR, "attribute key=value (repeatable)"},
    {"frequency-plan-id", "frequency_plan_id", F_STR, "frequency plan, e.g. EU_863_870_TTN"},
    {"lorawan-version", "lorawan_version", F_MAC, "MAC version: 1.0.3, 1.1 or MAC_V1_0_3"},
    {"lorawan-phy-version", "lorawan_phy_version", F_PHY,
     "regional parameters: 1.0.3-a, rp002-1.0.3 or PHY_V1_0_3_REV_A"},
    {"supports-join", "supports_join", F_BOOL, "OTAA device"},
    {"supports-class-b", "supports_class_b", F_BOOL, "supports class B"},
    {"supports-class-c", "supports_class_c", F_BOOL, "supports class C"},
    {"network-server-address", "network_server_address", F_STR, "Network Server address"},
    {"application-server-address", "application_server_address", F_STR,
     "Application Server address"},
    {"join-server-address", "join_server_address", F_STR, "Join Server address"},
    {NULL, NULL, F_STR, NULL},
};

static const field_t organization_fields[] = {
    {"name", "name", F_STR, "name"},
    {"description", "description", F_STR, "description"},
    {"attributes", "attributes", F_ATTR, "attribute key=value (repeatable)"},
    {NULL, NULL, F_STR, NULL},
};

static const field_t user_fields[] = {
    {"name", "name", F_STR, "name"},
    {"description", "description", F_STR, "description"},
    {"primary-email-address", "primary_email_address", F_STR, "email address"},
    {"admin", "admin", F_BOOL, "tenant admin"},
    {"state", "state", F_STATE, "requested, approved, rejected, flagged or suspended"},
    {NULL, NULL, F_STR, NULL},
};

static const lc_column_t tenant_cols[] = {{"ID", "ids.tenant_id", LC_COL_TEXT},
                                          {"NAME", "name", LC_COL_TEXT},
                                          {"STATE", "state", LC_COL_TEXT},
                                          {"CREATED", "created_at", LC_COL_TIME}};
static const lc_column_t application_cols[] = {{"ID", "ids.application_id", LC_COL_TEXT},
                                               {"NAME", "name", LC_COL_TEXT},
                                               {"CREATED", "created_at", LC_COL_TIME}};
static const lc_column_t gateway_cols[] = {{"ID", "ids.gateway_id", LC_COL_TEXT},
                                           {"EUI", "ids.eui", LC_COL_TEXT},
                                           {"NAME", "name", LC_COL_TEXT},
                                           {"FREQUENCY PLAN", "frequency_plan_ids", LC_COL_TEXT},
                                           {"CREATED", "created_at", LC_COL_TIME}};
static const lc_column_t device_cols[] = {{"ID", "ids.device_id", LC_COL_TEXT},
                                          {"DEV EUI", "ids.dev_eui", LC_COL_TEXT},
                                          {"JOIN EUI", "ids.join_eui", LC_COL_TEXT},
                                          {"NAME", "name", LC_COL_TEXT},
                                          {"CREATED", "created_at", LC_COL_TIME}};
static const lc_column_t organization_cols[] = {{"ID", "ids.organization_id", LC_COL_TEXT},
                                                {"NAME", "name", LC_COL_TEXT},
                                                {"CREATED", "created_at", LC_COL_TIME}};
static const lc_column_t user_cols[] = {{"ID", "ids.user_id", LC_COL_TEXT},
                                        {"NAME", "name", LC_COL_TEXT},
                                        {"EMAIL", "primary_email_address", LC_COL_TEXT},
                                        {"ADMIN", "admin", LC_COL_TEXT},
                                        {"STATE", "state", LC_COL_TEXT},
                                        {"CREATED", "created_at", LC_COL_TIME}};
static const lc_column_t api_key_cols[] = {{"ID", "id", LC_COL_TEXT},
                                           {"NAME", "name", LC_COL_TEXT},
                                           {"RIGHTS", "rights", LC_COL_TEXT},
                                           {"CREATED", "created_at", LC_COL_TIME},
                                           {"EXPIRES", "expires_at", LC_COL_TIME}};
static const lc_column_t collaborator_cols[] = {
    {"ID", "ids.user_ids.user_id|ids.organization_ids.organization_id", LC_COL_TEXT},
    {"TYPE", "ids.user_ids.user_id|ids.organization_ids.organization_id", LC_COL_COLLAB},
    {"RIGHTS", "rights", LC_COL_TEXT}};

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static const entity_t ent_tenants = {
    "tenants",
    "tenant",
    "tenants",
    "tenant-id",
    "tenant_id",
    "/api/v3/tenants",
    "name,description,state,max_applications,max_end_devices,max_gateways,max_users",
    tenant_fields,
    tenant_cols,
    NCOLS(tenant_cols),
    true,
    false};
static const entity_t ent_applications = {"applications",
                                          "application",
                                          "applications",
                                          "application-id",
                                          "application_id",
                                          "/api/v3/applications",
                                          "name,description",
                                          application_fields,
                                          application_cols,
                                          NCOLS(application_cols),
                                          false,
                                          false};
static const entity_t ent_gateways = {
    "gateways",
    "gateway",
    "gateways",
    "gateway-id",
    "gateway_id",
    "/api/v3/gateways",
    "name,description,frequency_plan_ids,status_public,location_public",
    gateway_fields,
    gateway_cols,
    NCOLS(gateway_cols),
    false,
    false};
static const entity_t ent_end_devices = {
    "end-devices",
    "end_device",
    "end_devices",
    "device-id",
    "device_id",
    "/api/v3/applications",
    "name,description,frequency_plan_id,lorawan_version,lorawan_phy_version",
    device_fields,
    device_cols,
    NCOLS(device_cols),
    false,
    true};
static const entity_t ent_organizations = {"organizations",
                                           "organization",
                                           "organizations",
                                           "organization-id",
                                           "organization_id",
                                           "/api/v3/organizations",
                                           "name,description",
                                           organization_fields,
                                           organization_cols,
                                           NCOLS(organization_cols),
                                           false,
                                           false};
static const entity_t ent_users = {"users",
                                   "user",
                                   "users",
                                   "user-id",
                                   "user_id",
                                   "/api/v3/users",
                                   "name,primary_email_address,admin,state",
                                   user_fields,
                                   user_cols,
                                   NCOLS(user_cols),
                                   false,
                                   false};

/* ---- commands --------------------------------------------------------------------------- */

typedef enum verb {
    V_CREATE,
    V_LIST,
    V_GET,
    V_UPDATE,
    V_DELETE,
    V_RESTORE,
    V_PURGE,
    V_RIGHTS,
    K_CREATE,
    K_LIST,
    K_GET,
    K_UPDATE,
    K_DELETE,
    C_LIST,
    C_SET,
    C_GET,
    C_DELETE,
    X_LOGIN,
    X_LOGOUT,
    X_AUTH_INFO,
    X_VERSION,
    D_IMPORT,
    D_EXPORT,
} verb_t;

typedef struct command {
    const char *words; /* "applications api-keys create" */
    verb_t verb;
    const entity_t *ent;
    const char *summary;
} command_t;

/* clang-format off */
#define ENTITY_COMMANDS(e, n, what, plural)                                                    \
    {n " create", V_CREATE, &ent_##e, "Create " what},                                         \
    {n " list", V_LIST, &ent_##e, "List " plural},                                             \
    {n " get", V_GET, &ent_##e, "Get " what},                                                  \
    {n " update", V_UPDATE, &ent_##e, "Update " what " (only the fields given)"},              \
    {n " delete", V_DELETE, &ent_##e, "Delete " what}
#define RESTORE_COMMANDS(e, n, what)                                                           \
    {n " restore", V_RESTORE, &ent_##e, "Restore a deleted " what},                            \
    {n " purge", V_PURGE, &ent_##e, "Purge " what " for good (releases its ID)"}
#define RIGHTS_COMMAND(e, n, what)                                                             \
    {n " rights", V_RIGHTS, &ent_##e, "List the caller's rights on " what}
#define KEY_COMMANDS(e, n, what)                                                               \
    {n " api-keys create", K_CREATE, &ent_##e, "Create an API key of " what " (shown once)"},  \
    {n " api-keys list", K_LIST, &ent_##e, "List the API keys of " what},                      \
    {n " api-keys get", K_GET, &ent_##e, "Get an API key of " what},                           \
    {n " api-keys update", K_UPDATE, &ent_##e, "Update an API key of " what},                  \
    {n " api-keys delete", K_DELETE, &ent_##e, "Revoke an API key of " what}
#define COLLABORATOR_COMMANDS(e, n, what)                                                      \
    {n " collaborators list", C_LIST, &ent_##e, "List the collaborators of " what},            \
    {n " collaborators set", C_SET, &ent_##e, "Set a collaborator's rights on " what},         \
    {n " collaborators get", C_GET, &ent_##e, "Get a collaborator's rights on " what},         \
    {n " collaborators delete", C_DELETE, &ent_##e, "Remove a collaborator from " what}
/* clang-format on */

static const command_t commands[] = {
    {"login", X_LOGIN, NULL, "Log in with a user's password (read from stdin)"},
    {"logout", X_LOGOUT, NULL, "Forget the stored login token"},
    {"auth-info", X_AUTH_INFO, NULL, "Show who the credentials belong to"},
    {"version", X_VERSION, NULL, "Print lwcli's version"},
    ENTITY_COMMANDS(tenants, "tenants", "a tenant", "tenants"),
    ENTITY_COMMANDS(applications, "applications", "an application", "applications"),
    RESTORE_COMMANDS(applications, "applications", "application"),
    RIGHTS_COMMAND(applications, "applications", "an application"),
    KEY_COMMANDS(applications, "applications", "an application"),
    COLLABORATOR_COMMANDS(applications, "applications", "an application"),
    ENTITY_COMMANDS(end_devices, "end-devices", "an end device", "end devices"),
    {"end-devices import", D_IMPORT, &ent_end_devices,
     "Import end devices from a file, server-side, with every part and session"},
    {"end-devices export", D_EXPORT, &ent_end_devices,
     "Export an application's end devices as The Things Stack JSON, one per line"},
    ENTITY_COMMANDS(gateways, "gateways", "a gateway", "gateways"),
    RESTORE_COMMANDS(gateways, "gateways", "gateway"),
    RIGHTS_COMMAND(gateways, "gateways", "a gateway"),
    KEY_COMMANDS(gateways, "gateways", "a gateway"),
    COLLABORATOR_COMMANDS(gateways, "gateways", "a gateway"),
    ENTITY_COMMANDS(organizations, "organizations", "an organization", "organizations"),
    RESTORE_COMMANDS(organizations, "organizations", "organization"),
    RIGHTS_COMMAND(organizations, "organizations", "an organization"),
    KEY_COMMANDS(organizations, "organizations", "an organization"),
    COLLABORATOR_COMMANDS(organizations, "organizations", "an organization"),
    ENTITY_COMMANDS(users, "users", "a user", "users"),
    RESTORE_COMMANDS(users, "users", "user"),
    RIGHTS_COMMAND(users, "users", "a user"),
    KEY_COMMANDS(users, "users", "a user"),
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* Short names The Things Stack's CLI accepts too. */
static const char *alias(const char *w)
{
    static const char *const map[][2] = {
        {"tenant", "tenants"},
        {"application", "applications"},
        {"app", "applications"},
        {"apps", "applications"},
        {"end-device", "end-devices"},
        {"device", "end-devices"},
        {"devices", "end-devices"},
        {"dev", "end-devices"},
        {"devs", "end-devices"},
        {"gateway", "gateways"},
        {"gtw", "gateways"},
        {"gtws", "gateways"},
        {"organization", "organizations"},
        {"org", "organizations"},
        {"orgs", "organizations"},
        {"user", "users"},
        {"api-key", "api-keys"},
        {"keys", "api-keys"},
        {"collaborator", "collaborators"},
        {"members", "collaborators"},
        {"set", "update"},
        {"ls", "list"},
        {"rm", "delete"},
        {"remove", "delete"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(w, map[i][0]) == 0)
            return map[i][1];
    return w;
}

/* ---- flags ------------------------------------------------------------------------------ */

static const lc_flag_spec_t global_flags[] = {
    {"url", LC_FLAG_STRING, "API base URL (env LWCLI_URL; default http://localhost:1885)"},
    {"tenant", LC_FLAG_STRING, "tenant ID, sent as X-Tenant-ID (env LWCLI_TENANT)"},
    {"api-key", LC_FLAG_STRING, "API key used as Bearer token (env LWCLI_API_KEY)"},
    {"tenant-admin-key", LC_FLAG_STRING, "tenant admin key, hex (env LWCLI_TENANT_ADMIN_KEY)"},
    {"json", LC_FLAG_BOOL, "print the server's JSON instead of tables"},
    {"insecure", LC_FLAG_BOOL, "do not verify the server's TLS certificate"},
    {"verbose", LC_FLAG_BOOL, "print each request's method, URL and status on stderr"},
    {NULL, LC_FLAG_BOOL, NULL},
};

static const lc_flag_spec_t page_flags[] = {
    {"limit", LC_FLAG_UINT, "objects per page"},
    {"page", LC_FLAG_UINT, "page number (the first is 1)"},
    {"order", LC_FLAG_STRING, "sort field, e.g. application_id or -created_at"},
    {"field-mask", LC_FLAG_STRING, "fields to return, comma-separated"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t page_only_flags[] = {
    {"limit", LC_FLAG_UINT, "objects per page"},
    {"page", LC_FLAG_UINT, "page number (the first is 1)"},
    {"order", LC_FLAG_STRING, "sort field, e.g. -created_at"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t mask_flags[] = {
    {"field-mask", LC_FLAG_STRING, "fields to return, comma-separated"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t owner_flags[] = {
    {"user-id", LC_FLAG_STRING, "the owning user (default: the logged-in user)"},
    {"organization-id", LC_FLAG_STRING, "the owning organization"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t user_owner_flags[] = {
    {"user-id", LC_FLAG_STRING, "the owning user (default: the logged-in user)"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t tenant_create_flags[] = {
    {"initial-user-id", LC_FLAG_STRING, "create this first admin user with the tenant"},
    {"initial-user-email", LC_FLAG_STRING, "the initial user's email address"},
    {"initial-user-password-stdin", LC_FLAG_BOOL, "read the initial user's password from stdin"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t tenant_delete_flags[] = {
    {"purge", LC_FLAG_BOOL, "drop the tenant's data too"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t user_create_flags[] = {
    {"password-stdin", LC_FLAG_BOOL, "read the user's password from stdin"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t key_flags[] = {
    {"name", LC_FLAG_STRING, "the key's name"},
    {"right", LC_FLAG_LIST, "a right, e.g. RIGHT_APPLICATION_ALL (repeatable)"},
    {"right-", LC_FLAG_PREFIX, "a right as a flag, e.g. --right-application-devices-read"},
    {"api-key-expiry", LC_FLAG_STRING, "expiry, RFC 3339 (2027-01-01T00:00:00Z)"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t collab_flags[] = {
    {"user-id", LC_FLAG_STRING, "the collaborating user"},
    {"organization-id", LC_FLAG_STRING, "the collaborating organization"},
    {"right", LC_FLAG_LIST, "a right, e.g. RIGHT_APPLICATION_ALL (repeatable)"},
    {"right-", LC_FLAG_PREFIX, "a right as a flag, e.g. --right-application-devices-read"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t org_collab_flags[] = {
    {"user-id", LC_FLAG_STRING, "the collaborating user"},
    {"right", LC_FLAG_LIST, "a right, e.g. RIGHT_ORGANIZATION_ALL (repeatable)"},
    {"right-", LC_FLAG_PREFIX, "a right as a flag, e.g. --right-organization-info"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t collab_user_flags[] = {
    {"user-id", LC_FLAG_STRING, "the collaborating user"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t collab_id_flags[] = {
    {"user-id", LC_FLAG_STRING, "the collaborating user"},
    {"organization-id", LC_FLAG_STRING, "the collaborating organization"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t import_flags[] = {
    {"format", LC_FLAG_STRING,
     "the file's format (GET /api/v3/edtc/formats: the-things-stack, "
     "the-things-stack-csv, vendor-...)"},
    {"format-id", LC_FLAG_STRING, NULL},
    {"dry-run", LC_FLAG_BOOL, "check every row, write nothing"},
    {"part-bytes", LC_FLAG_UINT, "file bytes per request (default 700000)"},
    {"frequency-plan-id", LC_FLAG_STRING, "fallback: for rows without one"},
    {"lorawan-version", LC_FLAG_STRING, "fallback: for rows without one (1.0.3, MAC_V1_0_3)"},
    {"lorawan-phy-version", LC_FLAG_STRING, "fallback: for rows without one (1.0.3-a, ...)"},
    {"network-server-address", LC_FLAG_STRING, "fallback: for rows without one"},
    {"application-server-address", LC_FLAG_STRING, "fallback: for rows without one"},
    {"join-server-address", LC_FLAG_STRING, "fallback: for rows without one"},
    {NULL, 0, NULL}};
static const lc_flag_spec_t export_flags[] = {
    {"include-keys", LC_FLAG_BOOL, "root and session keys too (needs the keys right)"},
    {"output", LC_FLAG_STRING, "the file to write (default: stdout)"},
    {NULL, 0, NULL}};
static const lc_flag_spec_t login_flags[] = {
    {"user-id", LC_FLAG_STRING, "the user to log in as"},
    {"password-stdin", LC_FLAG_BOOL, "read the password from stdin (the default)"},
    {"print-token", LC_FLAG_BOOL, "also print the access token (once)"},
    {NULL, LC_FLAG_BOOL, NULL},
};

/* A command's flags: its positional parameters (also accepted as flags), the entity's
 * fields when it writes them, and the verb's own. Built once per run. */
#define MAX_CMD_FLAGS 40
typedef struct cmd_flags {
    lc_flag_spec_t own[MAX_CMD_FLAGS];
    const lc_flag_spec_t *tables[6];
    size_t ntables;
    const char *pos[3]; /* the flags positionals stand for, in order */
    size_t npos;
} cmd_flags_t;

static void own_add(cmd_flags_t *f, const char *name, lc_flag_kind_t kind, const char *help)
{
    size_t n = 0;
    while (f->own[n].name)
        n++;
    if (n + 1 < MAX_CMD_FLAGS)
        f->own[n] = (lc_flag_spec_t){name, kind, help};
}

static lc_flag_kind_t field_kind(field_type_t t)
{
    switch (t) {
    case F_UINT:
        return LC_FLAG_UINT;
    case F_BOOL:
        return LC_FLAG_BOOL;
    case F_LIST:
    case F_ATTR:
        return LC_FLAG_LIST;
    default:
        return LC_FLAG_STRING;
    }
}

static void pos_add(cmd_flags_t *f, const char *flag, const char *help)
{
    own_add(f, flag, LC_FLAG_STRING, help);
    f->pos[f->npos++] = flag;
}

static void cmd_flags_build(const command_t *c, cmd_flags_t *f)
{
    memset(f, 0, sizeof *f);
    const entity_t *e = c->ent;
    if (c->verb == X_LOGIN) {
        f->pos[f->npos++] = "user-id";
        f->tables[f->ntables++] = login_flags;
    }
    if (e != NULL) {
        if (e->device)
            pos_add(f, "application-id", "the application");
        if (c->verb == D_IMPORT)
            pos_add(f, "file", "the file to import");
        else if (c->verb != V_LIST && c->verb != D_EXPORT)
            pos_add(f, e->id_flag, "the ID");
        if (c->verb == K_GET || c->verb == K_UPDATE || c->verb == K_DELETE)
            pos_add(f, "api-key-id", "the API key's ID");
    }
    switch (c->verb) {
    case V_CREATE:
    case V_UPDATE:
        for (const field_t *fl = e->fields; fl->flag; fl++)
            own_add(f, fl->flag, field_kind(fl->type), fl->help);
        if (c->verb == V_CREATE) {
            if (e == &ent_applications || e == &ent_gateways)
                f->tables[f->ntables++] = owner_flags;
            else if (e == &ent_organizations)
                f->tables[f->ntables++] = user_owner_flags;
            else if (e == &ent_tenants)
                f->tables[f->ntables++] = tenant_create_flags;
            else if (e == &ent_users)
                f->tables[f->ntables++] = user_create_flags;
        }
        break;
    case V_LIST:
        f->tables[f->ntables++] = page_flags;
        if (e == &ent_applications || e == &ent_gateways)
            f->tables[f->ntables++] = owner_flags;
        else if (e == &ent_organizations)
            f->tables[f->ntables++] = user_owner_flags;
        break;
    case V_GET:
        f->tables[f->ntables++] = mask_flags;
        break;
    case V_DELETE:
        if (e == &ent_tenants)
            f->tables[f->ntables++] = tenant_delete_flags;
        break;
    case K_CREATE:
    case K_UPDATE:
        f->tables[f->ntables++] = key_flags;
        break;
    case D_IMPORT:
        f->tables[f->ntables++] = import_flags;
        break;
    case D_EXPORT:
        f->tables[f->ntables++] = export_flags;
        break;
    case K_LIST:
    case C_LIST:
        f->tables[f->ntables++] = page_only_flags;
        break;
    case C_SET:
        /* Only users collaborate on an organization. */
        f->tables[f->ntables++] = e == &ent_organizations ? org_collab_flags : collab_flags;
        break;
    case C_GET:
    case C_DELETE:
        f->tables[f->ntables++] = e == &ent_organizations ? collab_user_flags : collab_id_flags;
        break;
    default:
        break;
    }
    f->tables[f->ntables++] = f->own;
    f->tables[f->ntables++] = global_flags;
}

/* ---- usage ------------------------------------------------------------------------------ */

static void usage_commands(FILE *out, const char *group)
{
    char words[96];
    for (size_t i = 0; i < NCOMMANDS; i++) {
        snprintf(words, sizeof words, "%s", commands[i].words);
        if (group && strncmp(words, group, strlen(group)) != 0)
            continue;
        fprintf(out, "  %-36s %s\n", words, commands[i].summary);
    }
}

static void usage_flags(FILE *out, const lc_flag_spec_t *t)
{
    for (; t && t->name; t++) {
        if (t->help == NULL)
            continue;
        char name[64];
        snprintf(name, sizeof name, "--%s%s%s", t->name, t->kind == LC_FLAG_PREFIX ? "..." : "",
                 t->kind == LC_FLAG_BOOL || t->kind == LC_FLAG_PREFIX ? "" : " VALUE");
        fprintf(out, "  %-36s %s\n", name, t->help);
    }
}

static void usage_main(FILE *out)
{
    fprintf(out, "usage: lwcli [global flags] <command> [arguments] [flags]\n\n"
                 "lwcli manages lwstack tenants and their entities over the HTTP API.\n\n"
                 "Commands:\n");
    usage_commands(out, NULL);
    fprintf(out, "\nGlobal flags (anywhere on the line):\n");
    usage_flags(out, global_flags);
    fprintf(out, "\nRun `lwcli <command> --help` for a command's flags.\n");
}

static void usage_command(FILE *out, const command_t *c, const cmd_flags_t *f)
{
    fprintf(out, "usage: lwcli %s", c->words);
    for (size_t i = 0; i < f->npos; i++)
        fprintf(out, " [%s]", f->pos[i]);
    fprintf(out, " [flags]\n\n%s.\n\nFlags:\n", c->summary);
    for (size_t i = 0; i + 1 < f->ntables; i++)
        usage_flags(out, f->tables[i]);
    fprintf(out, "\nGlobal flags:\n");
    usage_flags(out, global_flags);
}

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct run {
    lc_ctx_t *ctx;
    const command_t *cmd;
    const cmd_flags_t *flags;
    const lc_args_t *a;
} run_t;

__attribute__((format(printf, 2, 3))) static int usage_error(const run_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
    usage_command(stderr, r->cmd, r->flags);
    return LC_EXIT_USAGE;
}

/* A parameter from its flag, else from its positional slot. */
static const char *param(const run_t *r, const char *flag)
{
    const char *v = lc_args_get(r->a, flag);
    if (v != NULL)
        return v;
    for (size_t i = 0; i < r->flags->npos && i < r->a->npos; i++)
        if (strcmp(r->flags->pos[i], flag) == 0)
            return r->a->pos[i];
    return NULL;
}

static void append_query(lc_str_t *path, bool *first, const char *key, const char *value)
{
    lc_str_append(path, *first ? "?" : "&");
    *first = false;
    lc_str_append(path, key);
    lc_str_append(path, "=");
    lc_str_append_escaped(path, value);
}

/* Builds /api/v3/<base>/<id>[/<suffix>] (devices: /applications/<app>/devices/<dev>). */
static void entity_path(const entity_t *e, const char *app, const char *id, lc_str_t *out)
{
    lc_str_append(out, e->base);
    if (e->device) {
        lc_str_append(out, "/");
        lc_str_append_escaped(out, app);
        lc_str_append(out, "/devices");
    }
    if (id) {
        lc_str_append(out, "/");
        lc_str_append_escaped(out, id);
    }
}

static void print_object(const run_t *r, json_t *obj, bool show_key)
{
    if (r->ctx->json)
        lc_json_write(obj ? obj : json_object(), stdout);
    else if (obj)
        lc_kv_write(obj, show_key, stdout);
}

static void print_list(const run_t *r, const lc_resp_t *resp, const char *key,
                       const lc_column_t *cols, size_t ncols)
{
    if (r->ctx->json) {
        json_t *empty = json_object();
        lc_json_write(resp->json ? resp->json : empty, stdout);
        json_decref(empty);
        return;
    }
    const char *headers[8];
    for (size_t i = 0; i < ncols && i < 8; i++)
        headers[i] = cols[i].header;
    lc_table_t t;
    lc_table_init(&t, headers, ncols);
    json_t *items = json_object_get(resp->json, key);
    if (json_is_array(items))
        lc_table_add_json(&t, cols, items);
    lc_table_write(&t, stdout);
    lc_table_destroy(&t);
    /* The total goes to stderr so the table on stdout stays a table. */
    if (resp->total >= 0)
        fprintf(stderr, "total: %lld\n", resp->total);
}

/* Collects rights from --right (comma lists, repeatable) and --right-* flags into a JSON
 * array. Returns NULL after printing a usage error when a right is malformed. */
static json_t *collect_rights(const run_t *r, int *rc)
{
    json_t *rights = json_array();
    for (size_t i = 0; i < r->a->nflags; i++) {
        const lc_arg_t *f = &r->a->flags[i];
        char norm[96];
        if (f->spec->kind == LC_FLAG_PREFIX) {
            if (lc_right_normalize(f->name, norm, sizeof norm) != 0)
                goto bad;
            json_array_append_new(rights, json_string(norm));
            continue;
        }
        if (f->name == NULL || strcmp(f->name, "right") != 0)
            continue;
        const char *p = f->value;
        while (*p) {
            size_t n = strcspn(p, ",");
            char one[96];
            if (n == 0 || n >= sizeof one)
                goto bad;
            memcpy(one, p, n);
            one[n] = '\0';
            if (lc_right_normalize(one, norm, sizeof norm) != 0)
                goto bad;
            json_array_append_new(rights, json_string(norm));
            p += n;
            if (*p == ',')
                p++;
        }
    }
    return rights;
bad:
    json_decref(rights);
    *rc = usage_error(r, "invalid right in %s", "--right");
    return NULL;
}

/* Applies the entity's field flags to obj and names each in mask. Returns 0, or a usage
 * exit code. */
static int apply_fields(const run_t *r, json_t *obj, json_t *mask)
{
    const entity_t *e = r->cmd->ent;
    for (const field_t *fl = e->fields; fl->flag; fl++) {
        if (!lc_args_has(r->a, fl->flag))
            continue;
        const char *v = lc_args_get(r->a, fl->flag);
        json_t *val = NULL;
        char norm[96];
        switch (fl->type) {
        case F_STR:
            val = json_string(v);
            break;
        case F_UINT:
            val = json_integer((json_int_t)strtoll(v, NULL, 10));
            break;
        case F_BOOL:
            val = json_boolean(strcmp(v, "true") == 0);
            break;
        case F_STATE:
            if (lc_state_normalize(v, norm, sizeof norm) != 0)
                return usage_error(r, "invalid state `%s`", v);
            val = json_string(norm);
            break;
        case F_MAC:
        case F_PHY:
            if (lc_version_normalize(fl->type == F_MAC ? "MAC" : "PHY", v, norm, sizeof norm) != 0)
                return usage_error(r, "invalid version `%s`", v);
            val = json_string(norm);
            break;
        case F_LIST:
        case F_ATTR:
            val = fl->type == F_LIST ? json_array() : json_object();
            for (size_t i = 0; i < r->a->nflags; i++) {
                const lc_arg_t *f = &r->a->flags[i];
                if (f->name == NULL || strcmp(f->name, fl->flag) != 0)
                    continue;
                const char *p = f->value;
                while (*p) {
                    size_t n = strcspn(p, ",");
                    if (fl->type == F_LIST) {
                        json_array_append_new(val, json_stringn(p, n));
                    } else {
                        const char *eq = memchr(p, '=', n);
                        if (eq == NULL || eq == p) {
                            json_decref(val);
                            return usage_error(r, "invalid attribute `%s`: want key=value",
                                               f->value);
                        }
                        json_object_setn_new(val, p, (size_t)(eq - p),
                                             json_stringn(eq + 1, (size_t)(p + n - eq - 1)));
                    }
                    p += n;
                    if (*p == ',')
                        p++;
                }
            }
            break;
        }
        if (val == NULL)
            return usage_error(r, "invalid value for --%s", fl->flag);
        if (lc_json_set_path(obj, fl->path, val) != 0)
            return usage_error(r, "cannot set --%s", fl->flag);
        json_array_append_new(mask, json_string(fl->path));
    }
    return 0;
}

/* Overwrites obj.password in memory before the object is freed. */
static void wipe_password(json_t *obj)
{
    json_t *pw = json_object_get(obj, "password");
    if (json_is_string(pw))
        memset((char *)json_string_value(pw), 0, json_string_length(pw));
}

static int read_password(const run_t *r, const char *prompt, json_t *obj, const char *key)
{
    lc_str_t pw = {0};
    if (lc_read_secret(prompt, &pw) != 0 || pw.len == 0) {
        lc_str_free(&pw);
        return usage_error(r, "no password on stdin");
    }
    json_object_set_new(obj, key, json_string(pw.buf));
    memset(pw.buf, 0, pw.len);
    lc_str_free(&pw);
    return 0;
}

/* ---- entity verbs ----------------------------------------------------------------------- */

static lc_auth_t auth_of(const entity_t *e)
{
    return e && e->admin ? LC_AUTH_ADMIN : LC_AUTH_USER;
}

static int need(const run_t *r, const char *flag, const char **out)
{
    *out = param(r, flag);
    if (*out == NULL || **out == '\0')
        return usage_error(r, "missing --%s", flag);
    return 0;
}

/* The owner of a new application, gateway or organization: --organization-id, else
 * --user-id, else the logged-in user. Writes the collaborator object and the path prefix. */
static int owner(const run_t *r, json_t **collab, lc_str_t *path)
{
    const char *org = lc_args_get(r->a, "organization-id");
    const char *user = lc_args_get(r->a, "user-id");
    if (org && user)
        return usage_error(r, "give --user-id or --organization-id, not both");
    if (org) {
        *collab = json_pack("{s:{s:s}}", "organization_ids", "organization_id", org);
        lc_str_append(path, "/api/v3/organizations/");
        lc_str_append_escaped(path, org);
        return 0;
    }
    if (user == NULL)
        user = r->ctx->token_user_id;
    if (user == NULL)
        return usage_error(r, "missing --user-id or --organization-id (or log in first)");
    *collab = json_pack("{s:{s:s}}", "user_ids", "user_id", user);
    lc_str_append(path, "/api/v3/users/");
    lc_str_append_escaped(path, user);
    return 0;
}

static int do_create(const run_t *r)
{
    const entity_t *e = r->cmd->ent;
    const char *id = NULL, *app = NULL;
    int rc;
    json_t *obj = json_object(), *mask = json_array(), *body = json_object(), *collab = NULL;
    lc_str_t path = {0};
    lc_resp_t resp;

    if (e->device && (rc = need(r, "application-id", &app)) != 0)
        goto out;
    if ((rc = need(r, e->id_flag, &id)) != 0)
        goto out;
    lc_json_set_path(obj, "ids", json_object());
    json_object_set_new(json_object_get(obj, "ids"), e->id_field, json_string(id));
    if (e->device)
        lc_json_set_path(obj, "ids.application_ids.application_id", json_string(app));
    if ((rc = apply_fields(r, obj, mask)) != 0)
        goto out;

    if (e == &ent_tenants) {
        lc_str_append(&path, e->base);
        const char *uid = lc_args_get(r->a, "initial-user-id");
        if (uid) {
            json_t *iu = json_pack("{s:{s:s}}", "ids", "user_id", uid);
            const char *email = lc_args_get(r->a, "initial-user-email");
            if (email)
                json_object_set_new(iu, "primary_email_address", json_string(email));
            json_object_set_new(body, "initial_user", iu);
            if (lc_args_bool(r->a, "initial-user-password-stdin") &&
                (rc = read_password(r, "Initial user's password", iu, "password")) != 0)
                goto out;
        } else if (lc_args_has(r->a, "initial-user-email") ||
                   lc_args_bool(r->a, "initial-user-password-stdin")) {
            rc = usage_error(r, "--initial-user-email and --initial-user-password-stdin need "
                                "--initial-user-id");
            goto out;
        }
    } else if (e == &ent_users) {
        lc_str_append(&path, e->base);
        if (lc_args_bool(r->a, "password-stdin") &&
            (rc = read_password(r, "Password", obj, "password")) != 0)
            goto out;
    } else if (e->device) {
        entity_path(e, app, NULL, &path);
    } else {
        if ((rc = owner(r, &collab, &path)) != 0)
            goto out;
        lc_str_append(&path, "/");
        lc_str_append(&path, e->name);
        json_object_set_new(body, "collaborator", collab);
        collab = NULL;
    }
    json_object_set(body, e->singular, obj);
    rc = lc_request(r->ctx, "POST", path.buf, body, auth_of(e), &resp);
    if (rc == 0) {
        print_object(r, resp.json, false);
        lc_resp_free(&resp);
    }
out:
    wipe_password(obj);
    wipe_password(json_object_get(body, "initial_user"));
    json_decref(obj);
    json_decref(mask);
    json_decref(body);
    json_decref(collab);
    lc_str_free(&path);
    return rc;
}

static int do_get(const run_t *r)
{
    const entity_t *e = r->cmd->ent;
    const char *id = NULL, *app = NULL;
    int rc;
    lc_str_t path = {0};
    lc_resp_t resp;
    bool first = true;

    if (e->device && (rc = need(r, "application-id", &app)) != 0)
        return rc;
    if ((rc = need(r, e->id_flag, &id)) != 0)
        return rc;
    entity_path(e, app, id, &path);
    const char *mask = lc_args_get(r->a, "field-mask");
    append_query(&path, &first, "field_mask", mask ? mask : e->mask);
    rc = lc_request(r->ctx, "GET", path.buf, NULL, auth_of(e), &resp);
    if (rc == 0) {
        print_object(r, resp.json, false);
        lc_resp_free(&resp);
    }
    lc_str_free(&path);
    return rc;
}

static void page_query(const run_t *r, lc_str_t *path, bool *first)
{
    static const char *const keys[] = {"limit", "page", "order"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = lc_args_get(r->a, keys[i]);
        if (v)
            append_query(path, first, keys[i], v);
    }
}

static int do_list(const run_t *r)
{
    const entity_t *e = r->cmd->ent;
    const char *app = NULL;
    int rc;
    lc_str_t path = {0};
    lc_resp_t resp;
    bool first = true;

    if (e->device) {
        if ((rc = need(r, "application-id", &app)) != 0)
            return rc;
        entity_path(e, app, NULL, &path);
    } else if (lc_args_has(r->a, "organization-id") || lc_args_has(r->a, "user-id")) {
        /* What one user or organization collaborates on, as The Things Stack lists it. */
        const char *org = lc_args_get(r->a, "organization-id");
        const char *user = lc_args_get(r->a, "user-id");
        if (org && user)
            return usage_error(r, "give --user-id or --organization-id, not both");
        lc_str_append(&path, org ? "/api/v3/organizations/" : "/api/v3/users/");
        lc_str_append_escaped(&path, org ? org : user);
        lc_str_append(&path, "/");
        lc_str_append(&path, e->name);
    } else {
        lc_str_append(&path, e->base);
    }
    if (r->a->npos > (e->device ? 1u : 0u)) {
        lc_str_free(&path);
        return usage_error(r, "unexpected argument `%s`", r->a->pos[r->a->npos - 1]);
    }
    const char *mask = lc_args_get(r->a, "field-mask");
    append_query(&path, &first, "field_mask", mask ? mask : e->mask);
    page_query(r, &path, &first);
    rc = lc_request(r->ctx, "GET", path.buf, NULL, auth_of(e), &resp);
    if (rc == 0) {
        print_list(r, &resp, e->list_key, e->cols, e->ncols);
        lc_resp_free(&resp);
    }
    lc_str_free(&path);
    return rc;
}

static int do_update(const run_t *r)
{
    const entity_t *e = r->cmd->ent;
    const char *id = NULL, *app = NULL;
    int rc;
    json_t *obj = json_object(), *mask = json_array(), *body = NULL;
    lc_str_t path = {0};
    lc_resp_t resp;

    if (e->device && (rc = need(r, "application-id", &app)) != 0)
        goto out;
    if ((rc = need(r, e->id_flag, &id)) != 0)
        goto out;
    lc_json_set_path(obj, "ids", json_object());
    json_object_set_new(json_object_get(obj, "ids"), e->id_field, json_string(id));
    if (e->device)
        lc_json_set_path(obj, "ids.application_ids.application_id", json_string(app));
    if ((rc = apply_fields(r, obj, mask)) != 0)
        goto out;
    if (json_array_size(mask) == 0) {
        rc = usage_error(r, "nothing to update: give at least one field flag");
        goto out;
    }
    body = json_pack("{s:O, s:{s:O}}", e->singular, obj, "field_mask", "paths", mask);
    entity_path(e, app, id, &path);
    rc = lc_request(r->ctx, "PUT", path.buf, body, auth_of(e), &resp);
    if (rc == 0) {
        print_object(r, resp.json, false);
        lc_resp_free(&resp);
    }
out:
    json_decref(obj);
    json_decref(mask);
    json_decref(body);
    lc_str_free(&path);
    return rc;
}

/* delete, restore, purge: no body, nothing printed on success (like The Things Stack's CLI),
 * except the server's JSON with --json. */
/* The caller's effective rights on one entity, one per line. */
static int do_rights(const run_t *r)
{
    const entity_t *e = r->cmd->ent;
    const char *id = NULL;
    lc_str_t path = {0};
    lc_resp_t resp;
    int rc = need(r, e->id_flag, &id);
    if (rc != 0)
        return rc;
    entity_path(e, NULL, id, &path);
    lc_str_append(&path, "/rights");
    rc = lc_request(r->ctx, "GET", path.buf, NULL, LC_AUTH_USER, &resp);
    if (rc == 0) {
        if (r->ctx->json) {
            print_object(r, resp.json, false);
        } else {
            size_t i;
            json_t *right;
            json_array_foreach(json_object_get(resp.json, "rights"), i, right)
            {
                if (json_is_string(right))
                    printf("%s\n", json_string_value(right));
            }
        }
        lc_resp_free(&resp);
    }
    lc_str_free(&path);
    return rc;
}

static int do_simple(const run_t *r)
{
    const entity_t *e = r->cmd->ent;
    const char *id = NULL, *app = NULL;
    const char *method = "DELETE";
    int rc;
    lc_str_t path = {0};
    lc_resp_t resp;

    if (e->device && (rc = need(r, "application-id", &app)) != 0)
        return rc;
    if ((rc = need(r, e->id_flag, &id)) != 0)
        return rc;
    entity_path(e, app, id, &path);
    if (r->cmd->verb == V_RESTORE) {
        lc_str_append(&path, "/restore");
        method = "POST";
    } else if (r->cmd->verb == V_PURGE) {
        lc_str_append(&path, "/purge");
    } else if (e == &ent_tenants && lc_args_bool(r->a, "purge")) {
        lc_str_append(&path, "?purge=true");
    }
    rc = lc_request(r->ctx, method, path.buf, NULL, auth_of(e), &resp);
    if (rc == 0) {
        if (r->ctx->json)
            print_object(r, resp.json, false);
        lc_resp_free(&resp);
    }
    lc_str_free(&path);
    return rc;
}

/* ---- API keys --------------------------------------------------------------------------- */

static int key_path(const run_t *r, bool with_key, lc_str_t *path)
{
    const entity_t *e = r->cmd->ent;
    const char *id = NULL, *kid = NULL;
    int rc;
    if ((rc = need(r, e->id_flag, &id)) != 0)
        return rc;
    if (with_key && (rc = need(r, "api-key-id", &kid)) != 0)
        return rc;
    entity_path(e, NULL, id, path);
    lc_str_append(path, "/api-keys");
    if (kid) {
        lc_str_append(path, "/");
        lc_str_append_escaped(path, kid);
    }
    return 0;
}

static int do_keys(const run_t *r)
{
    verb_t v = r->cmd->verb;
    lc_str_t path = {0};
    lc_resp_t resp;
    json_t *body = NULL, *rights = NULL;
    int rc = key_path(r, v == K_GET || v == K_UPDATE || v == K_DELETE, &path);
    if (rc != 0)
        goto out;

    if (v == K_CREATE || v == K_UPDATE) {
        if ((rights = collect_rights(r, &rc)) == NULL)
            goto out;
        json_t *key = json_object(), *mask = json_array();
        const char *name = lc_args_get(r->a, "name");
        const char *expiry = lc_args_get(r->a, "api-key-expiry");
        if (name) {
            json_object_set_new(key, "name", json_string(name));
            json_array_append_new(mask, json_string("name"));
        }
        if (json_array_size(rights) > 0) {
            json_object_set(key, "rights", rights);
            json_array_append_new(mask, json_string("rights"));
        }
        if (expiry) {
            json_object_set_new(key, "expires_at", json_string(expiry));
            json_array_append_new(mask, json_string("expires_at"));
        }
        if (v == K_CREATE) {
            json_decref(mask);
            if (json_array_size(rights) == 0) {
                json_decref(key);
                rc = usage_error(r, "give at least one right (--right RIGHT_...)");
                goto out;
            }
            body = key;
        } else {
            if (json_array_size(mask) == 0) {
                json_decref(key);
                json_decref(mask);
                rc = usage_error(r, "nothing to update: give --name, --right or "
                                    "--api-key-expiry");
                goto out;
            }
            json_object_set_new(key, "id", json_string(param(r, "api-key-id")));
            body = json_pack("{s:o, s:{s:o}}", "api_key", key, "field_mask", "paths", mask);
        }
    } else if (v == K_LIST) {
        bool first = true;
        page_query(r, &path, &first);
    }

    static const char *const methods[] = {"POST", "GET", "GET", "PUT", "DELETE"};
    rc = lc_request(r->ctx, methods[v - K_CREATE], path.buf, body, LC_AUTH_USER, &resp);
    if (rc != 0)
        goto out;
    if (v == K_LIST) {
        print_list(r, &resp, "api_keys", api_key_cols, NCOLS(api_key_cols));
    } else if (v != K_DELETE || r->ctx->json) {
        print_object(r, resp.json, v == K_CREATE);
        if (v == K_CREATE && !r->ctx->json)
            fprintf(stderr, "note: the key is shown only this once; store it now\n");
    }
    lc_resp_free(&resp);
out:
    json_decref(body);
    json_decref(rights);
    lc_str_free(&path);
    return rc;
}

/* ---- collaborators ---------------------------------------------------------------------- */

static int do_collaborators(const run_t *r)
{
    const entity_t *e = r->cmd->ent;
    verb_t v = r->cmd->verb;
    const char *id = NULL;
    lc_str_t path = {0};
    lc_resp_t resp;
    json_t *body = NULL, *rights = NULL;
    const char *method = "GET";
    int rc = need(r, e->id_flag, &id);
    if (rc != 0)
        return rc;
    entity_path(e, NULL, id, &path);

    const char *user = lc_args_get(r->a, "user-id");
    /* On an organization, --organization-id names the organization itself. */
    const char *org = e == &ent_organizations ? NULL : lc_args_get(r->a, "organization-id");
    if (v != C_LIST) {
        if ((user == NULL) == (org == NULL)) {
            rc = usage_error(r, "give one of --user-id or --organization-id");
            goto out;
        }
    }
    switch (v) {
    case C_LIST: {
        bool first = true;
        lc_str_append(&path, "/collaborators");
        page_query(r, &path, &first);
        break;
    }
    case C_SET:
        if ((rights = collect_rights(r, &rc)) == NULL)
            goto out;
        if (json_array_size(rights) == 0) {
            rc = usage_error(r, "give at least one right (--right RIGHT_...)");
            goto out;
        }
        body = json_pack("{s:{s:{s:{s:s}}, s:O}}", "collaborator", "ids",
                         user ? "user_ids" : "organization_ids",
                         user ? "user_id" : "organization_id", user ? user : org, "rights", rights);
        lc_str_append(&path, "/collaborators");
        method = "PUT";
        break;
    case C_GET:
    case C_DELETE:
        /* The Things Stack reads one collaborator at .../collaborator/{user|organization}/ID
         * and removes it at .../collaborators/{user|organization}/ID. */
        lc_str_append(&path, v == C_GET ? "/collaborator/" : "/collaborators/");
        lc_str_append(&path, user ? "user/" : "organization/");
        lc_str_append_escaped(&path, user ? user : org);
        method = v == C_GET ? "GET" : "DELETE";
        break;
    default:
        break;
    }
    rc = lc_request(r->ctx, method, path.buf, body, LC_AUTH_USER, &resp);
    if (rc != 0)
        goto out;
    if (v == C_LIST)
        print_list(r, &resp, "collaborators", collaborator_cols, NCOLS(collaborator_cols));
    else if (v == C_GET || r->ctx->json)
        print_object(r, resp.json, false);
    lc_resp_free(&resp);
out:
    json_decref(body);
    json_decref(rights);
    lc_str_free(&path);
    return rc;
}

/* ---- session ---------------------------------------------------------------------------- */

static int do_login(const run_t *r)
{
    const char *user = NULL;
    int rc = need(r, "user-id", &user);
    lc_resp_t resp;
    json_t *body = json_object();
    if (rc != 0)
        goto out;
    if ((rc = read_password(r, "Password", body, "password")) != 0)
        goto out;
    json_object_set_new(body, "user_id", json_string(user));
    rc = lc_request(r->ctx, "POST", LC_LOGIN_PATH, body, LC_AUTH_NONE, &resp);
    if (rc != 0)
        goto out;
    const char *token = json_string_value(json_object_get(resp.json, "access_token"));
    const char *expires = json_string_value(json_object_get(resp.json, "expires_at"));
    if (token == NULL) {
        fprintf(stderr, "error: login answer holds no access_token\n");
        rc = LC_EXIT_FAIL;
    } else if (lc_token_store(r->ctx->tenant, r->ctx->url, user, token, expires) != 0) {
        rc = LC_EXIT_FAIL;
    } else if (r->ctx->json) {
        json_t *shown = json_deep_copy(resp.json);
        if (!lc_args_bool(r->a, "print-token"))
            json_object_del(shown, "access_token");
        lc_json_write(shown, stdout);
        json_decref(shown);
    } else {
        printf("logged in as %s%s%s%s%s\n", user, r->ctx->tenant ? " in tenant " : "",
               r->ctx->tenant ? r->ctx->tenant : "", expires ? ", token expires at " : "",
               expires ? expires : "");
        if (lc_args_bool(r->a, "print-token"))
            printf("access_token: %s\n", token);
    }
    lc_resp_free(&resp);
out:
    wipe_password(body);
    json_decref(body);
    return rc;
}

static int do_logout(const run_t *r)
{
    if (r->a->npos > 0)
        return usage_error(r, "unexpected argument `%s`", r->a->pos[0]);
    /* Revoke the token on the server first (best effort: it may have expired already),
     * then forget it here whatever the server said. */
    bool revoked = false;
    lc_token_load(r->ctx);
    if (r->ctx->token != NULL) {
        lc_resp_t resp;
        const char *api_key = r->ctx->api_key;
        r->ctx->api_key = NULL; /* the stored token is what gets revoked */
        if (lc_request(r->ctx, "POST", LC_LOGOUT_PATH, NULL, LC_AUTH_USER, &resp) == 0) {
            revoked = true;
            lc_resp_free(&resp);
        }
        r->ctx->api_key = api_key;
    }
    int rc = lc_token_remove(r->ctx->tenant);
    if (rc < 0)
        return LC_EXIT_FAIL;
    if (rc == 1)
        printf("not logged in\n");
    else
        printf(revoked ? "logged out\n"
                       : "logged out (the stored token was removed; the server did not "
                         "confirm its revocation)\n");
    return LC_EXIT_OK;
}

static int do_auth_info(const run_t *r)
{
    lc_resp_t resp;
    int rc = lc_request(r->ctx, "GET", "/api/v3/auth_info", NULL, LC_AUTH_USER, &resp);
    if (rc == 0) {
        print_object(r, resp.json, false);
        lc_resp_free(&resp);
    }
    return rc;
}

/* ---- main ------------------------------------------------------------------------------- */

static int do_import(const run_t *r)
{
    const char *app = NULL, *file = param(r, "file");
    int rc;
    if ((rc = need(r, "application-id", &app)) != 0)
        return rc;
    /* `import FILE --application-id APP`: the one positional is the file */
    if (lc_args_get(r->a, "application-id") != NULL && r->a->npos == 1)
        file = r->a->pos[0];
    if (file == NULL || *file == '\0')
        return usage_error(r, "missing the file to import");
    const char *format = lc_args_get(r->a, "format");
    if (format == NULL)
        format = lc_args_get(r->a, "format-id");
    if (format == NULL || *format == '\0')
        return usage_error(r, "missing --format");
    json_t *fb = json_object();
    static const char *const keys[][3] = {
        {"frequency-plan-id", "frequency_plan_id", NULL},
        {"lorawan-version", "lorawan_version", "MAC"},
        {"lorawan-phy-version", "lorawan_phy_version", "PHY"},
        {"network-server-address", "network_server_address", NULL},
        {"application-server-address", "application_server_address", NULL},
        {"join-server-address", "join_server_address", NULL},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = lc_args_get(r->a, keys[i][0]);
        if (v == NULL)
            continue;
        char norm[64];
        if (keys[i][2] != NULL) {
            if (lc_version_normalize(keys[i][2], v, norm, sizeof norm) != 0) {
                json_decref(fb);
                return usage_error(r, "--%s `%s` is not a version", keys[i][0], v);
            }
            v = norm;
        }
        json_object_set_new(fb, keys[i][1], json_string(v));
    }
    const char *pb = lc_args_get(r->a, "part-bytes");
    lc_import_opts_t o = {
        .application_id = app,
        .file = file,
        .format_id = format,
        .dry_run = lc_args_bool(r->a, "dry-run"),
        .part_bytes = pb != NULL ? (size_t)strtoull(pb, NULL, 10) : 0,
        .fallbacks = fb,
    };
    rc = lc_devices_import(r->ctx, &o);
    json_decref(fb);
    return rc;
}

static int do_export(const run_t *r)
{
    const char *app = NULL;
    int rc;
    if ((rc = need(r, "application-id", &app)) != 0)
        return rc;
    return lc_devices_export(r->ctx, app, lc_args_bool(r->a, "include-keys"),
                             lc_args_get(r->a, "output"));
}

static int dispatch(const run_t *r)
{
    switch (r->cmd->verb) {
    case V_CREATE:
        return do_create(r);
    case V_LIST:
        return do_list(r);
    case V_GET:
        return do_get(r);
    case V_UPDATE:
        return do_update(r);
    case V_DELETE:
    case V_RESTORE:
    case V_PURGE:
        return do_simple(r);
    case V_RIGHTS:
        return do_rights(r);
    case K_CREATE:
    case K_LIST:
    case K_GET:
    case K_UPDATE:
    case K_DELETE:
        return do_keys(r);
    case C_LIST:
    case C_SET:
    case C_GET:
    case C_DELETE:
        return do_collaborators(r);
    case X_LOGIN:
        return do_login(r);
    case X_LOGOUT:
        return do_logout(r);
    case X_AUTH_INFO:
        return do_auth_info(r);
    case X_VERSION:
        printf("lwcli %s\n", LC_VERSION);
        return LC_EXIT_OK;
    case D_IMPORT:
        return do_import(r);
    case D_EXPORT:
        return do_export(r);
    }
    return LC_EXIT_USAGE;
}

/* Finds the command named by the words at argv[*idx...]: the longest match wins, so
 * "applications api-keys create" beats "applications". Advances *idx past its words. */
static const command_t *find_command(int argc, char **argv, int *idx, lc_str_t *group)
{
    const command_t *best = NULL;
    int best_n = 0, group_n = 0;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const char *words = commands[i].words;
        const char *p = words;
        int n = 0;
        for (int j = *idx; *p && j < argc; j++) {
            /* The word as typed, else its alias ("set" is a verb of its own for
             * collaborators and an alias of "update" elsewhere). */
            size_t wl = strcspn(p, " ");
            const char *w = argv[j];
            if (strlen(w) != wl || strncmp(w, p, wl) != 0)
                w = alias(argv[j]);
            if (strlen(w) != wl || strncmp(w, p, wl) != 0)
                break;
            n++;
            p += wl;
            if (*p == ' ')
                p++;
        }
        if (*p == '\0' && n > best_n) {
            best = &commands[i];
            best_n = n;
        } else if (*p != '\0' && n > group_n) {
            /* The deepest group named so far ("applications api-keys"), for the usage text
             * when no command matches. */
            group_n = n;
            lc_str_free(group);
            lc_str_appendn(group, words, (size_t)(p - words));
            while (group->len && group->buf[group->len - 1] == ' ')
                group->buf[--group->len] = '\0';
        }
    }
    *idx += best_n;
    return best;
}

static const char *env_or(const char *flag_value, const char *env, const char *dflt)
{
    if (flag_value)
        return flag_value;
    const char *v = getenv(env);
    if (v && *v)
        return v;
    return dflt;
}

/* No command matched: help for the group or the whole CLI, or a usage error. */
static int no_command(int argc, char **argv, int idx, bool help_flag, const lc_str_t *group)
{
    bool help = help_flag || (idx < argc && strcmp(argv[idx], "help") == 0);
    for (int k = idx; k < argc; k++)
        help = help || strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0;
    if (group->len > 0) {
        fprintf(help ? stdout : stderr, "%susage: lwcli %s <command> [flags]\n\n",
                help ? "" : "error: incomplete or unknown command\n", group->buf);
        usage_commands(help ? stdout : stderr, group->buf);
    } else {
        if (!help) {
            if (idx < argc)
                fprintf(stderr, "error: unknown command `%s`\n", argv[idx]);
            else
                fprintf(stderr, "error: missing command\n");
        }
        usage_main(help ? stdout : stderr);
    }
    return help ? LC_EXIT_OK : LC_EXIT_USAGE;
}

/* The connection settings from flags and environment (url is the context's URL buffer). */
static int ctx_from_args(run_t *r, lc_str_t *url)
{
    lc_ctx_t *ctx = r->ctx;
    const lc_args_t *a = r->a;
    lc_str_append(url, env_or(lc_args_get(a, "url"), "LWCLI_URL", "http://localhost:1885"));
    while (url->len > 0 && url->buf[url->len - 1] == '/')
        url->buf[--url->len] = '\0';
    if (strncmp(url->buf, "http://", 7) != 0 && strncmp(url->buf, "https://", 8) != 0)
        return usage_error(r, "--url `%s` must start with http:// or https://", url->buf);
    ctx->url = url->buf;
    ctx->tenant = env_or(lc_args_get(a, "tenant"), "LWCLI_TENANT", NULL);
    ctx->api_key = env_or(lc_args_get(a, "api-key"), "LWCLI_API_KEY", NULL);
    ctx->admin_key = env_or(lc_args_get(a, "tenant-admin-key"), "LWCLI_TENANT_ADMIN_KEY", NULL);
    ctx->json = lc_args_bool(a, "json");
    ctx->insecure = lc_args_bool(a, "insecure");
    ctx->verbose = lc_args_bool(a, "verbose");
    if (ctx->tenant && *ctx->tenant == '\0')
        ctx->tenant = NULL;
    if (ctx->api_key == NULL && r->cmd->verb != X_LOGIN && r->cmd->verb != X_LOGOUT)
        lc_token_load(ctx);
    return LC_EXIT_OK;
}

int lc_main(int argc, char **argv)
{
    lc_args_t *a = lc_xcalloc(1, sizeof *a);
    char errbuf[256];
    int idx = 1, rc;
    const lc_flag_spec_t *const globals[] = {global_flags};
    lc_ctx_t ctx = {0};
    lc_str_t group = {0}, url = {0};
    cmd_flags_t flags;

    if (lc_args_parse(argc, argv, &idx, globals, 1, true, a, errbuf, sizeof errbuf) != 0) {
        fprintf(stderr, "error: %s\n", errbuf);
        usage_main(stderr);
        rc = LC_EXIT_USAGE;
        goto out;
    }
    const command_t *cmd = find_command(argc, argv, &idx, &group);
    if (cmd == NULL) {
        rc = no_command(argc, argv, idx, a->help, &group);
        goto out;
    }
    cmd_flags_build(cmd, &flags);
    run_t r = {&ctx, cmd, &flags, a};
    if (lc_args_parse(argc, argv, &idx, flags.tables, flags.ntables, false, a, errbuf,
                      sizeof errbuf) != 0) {
        fprintf(stderr, "error: %s\n", errbuf);
        usage_command(stderr, cmd, &flags);
        rc = LC_EXIT_USAGE;
        goto out;
    }
    if (a->help) {
        usage_command(stdout, cmd, &flags);
        rc = LC_EXIT_OK;
        goto out;
    }
    if (a->npos > flags.npos) {
        rc = usage_error(&r, "unexpected argument `%s`", a->pos[flags.npos]);
        goto out;
    }

    if ((rc = ctx_from_args(&r, &url)) != LC_EXIT_OK)
        goto out;
    rc = dispatch(&r);
out:
    lc_ctx_destroy(&ctx);
    lc_str_free(&group);
    lc_str_free(&url);
    free(a);
    return rc;
}
