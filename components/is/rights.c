/* The Things Stack's rights (rights.proto): names, pseudo-rights, implications, sets. */
#include <stdio.h>
#include <string.h>

#include "is/is_private.h"

/* Indexed by enum value; NULL: undefined value. */
static const char *const rights_names[64] = {
    [1] = "RIGHT_USER_INFO",
    [2] = "RIGHT_USER_SETTINGS_BASIC",
    [3] = "RIGHT_USER_SETTINGS_API_KEYS",
    [4] = "RIGHT_USER_DELETE",
    [5] = "RIGHT_USER_AUTHORIZED_CLIENTS",
    [6] = "RIGHT_USER_APPLICATIONS_LIST",
    [7] = "RIGHT_USER_APPLICATIONS_CREATE",
    [8] = "RIGHT_USER_GATEWAYS_LIST",
    [9] = "RIGHT_USER_GATEWAYS_CREATE",
    [10] = "RIGHT_USER_CLIENTS_LIST",
    [11] = "RIGHT_USER_CLIENTS_CREATE",
    [12] = "RIGHT_USER_ORGANIZATIONS_LIST",
    [13] = "RIGHT_USER_ORGANIZATIONS_CREATE",
    [59] = "RIGHT_USER_NOTIFICATIONS_READ",
    [14] = "RIGHT_USER_ALL",
    [15] = "RIGHT_APPLICATION_INFO",
    [16] = "RIGHT_APPLICATION_SETTINGS_BASIC",
    [17] = "RIGHT_APPLICATION_SETTINGS_API_KEYS",
    [18] = "RIGHT_APPLICATION_SETTINGS_COLLABORATORS",
    [56] = "RIGHT_APPLICATION_SETTINGS_PACKAGES",
    [19] = "RIGHT_APPLICATION_DELETE",
    [20] = "RIGHT_APPLICATION_DEVICES_READ",
    [21] = "RIGHT_APPLICATION_DEVICES_WRITE",
    [22] = "RIGHT_APPLICATION_DEVICES_READ_KEYS",
    [23] = "RIGHT_APPLICATION_DEVICES_WRITE_KEYS",
    [24] = "RIGHT_APPLICATION_TRAFFIC_READ",
    [25] = "RIGHT_APPLICATION_TRAFFIC_UP_WRITE",
    [26] = "RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE",
    [27] = "RIGHT_APPLICATION_LINK",
    [28] = "RIGHT_APPLICATION_ALL",
    [29] = "RIGHT_CLIENT_ALL",
    [60] = "RIGHT_CLIENT_INFO",
    [61] = "RIGHT_CLIENT_SETTINGS_BASIC",
    [62] = "RIGHT_CLIENT_SETTINGS_COLLABORATORS",
    [63] = "RIGHT_CLIENT_DELETE",
    [30] = "RIGHT_GATEWAY_INFO",
    [31] = "RIGHT_GATEWAY_SETTINGS_BASIC",
    [32] = "RIGHT_GATEWAY_SETTINGS_API_KEYS",
    [33] = "RIGHT_GATEWAY_SETTINGS_COLLABORATORS",
    [34] = "RIGHT_GATEWAY_DELETE",
    [35] = "RIGHT_GATEWAY_TRAFFIC_READ",
    [36] = "RIGHT_GATEWAY_TRAFFIC_DOWN_WRITE",
    [37] = "RIGHT_GATEWAY_LINK",
    [38] = "RIGHT_GATEWAY_STATUS_READ",
    [39] = "RIGHT_GATEWAY_LOCATION_READ",
    [57] = "RIGHT_GATEWAY_WRITE_SECRETS",
    [58] = "RIGHT_GATEWAY_READ_SECRETS",
    [40] = "RIGHT_GATEWAY_ALL",
    [41] = "RIGHT_ORGANIZATION_INFO",
    [42] = "RIGHT_ORGANIZATION_SETTINGS_BASIC",
    [43] = "RIGHT_ORGANIZATION_SETTINGS_API_KEYS",
    [44] = "RIGHT_ORGANIZATION_SETTINGS_MEMBERS",
    [45] = "RIGHT_ORGANIZATION_DELETE",
    [46] = "RIGHT_ORGANIZATION_APPLICATIONS_LIST",
    [47] = "RIGHT_ORGANIZATION_APPLICATIONS_CREATE",
    [48] = "RIGHT_ORGANIZATION_GATEWAYS_LIST",
    [49] = "RIGHT_ORGANIZATION_GATEWAYS_CREATE",
    [50] = "RIGHT_ORGANIZATION_CLIENTS_LIST",
    [51] = "RIGHT_ORGANIZATION_CLIENTS_CREATE",
    [52] = "RIGHT_ORGANIZATION_ADD_AS_COLLABORATOR",
    [53] = "RIGHT_ORGANIZATION_ALL",
    [54] = "RIGHT_SEND_INVITES",
    [55] = "RIGHT_ALL",
};

/* The rights each entity kind's _ALL pseudo-right stands for (rights.proto groups). */
static is_rights_t rights_range(int lo, int hi)
{
    is_rights_t r = 0;
    for (int v = lo; v <= hi; v++)
        r |= IS_BIT(v);
    return r;
}

is_rights_t is_rights_of(is_ent_t kind)
{
    switch (kind) {
    case IS_ENT_USER:
        return rights_range(1, 14) | IS_BIT(59);
    case IS_ENT_APP:
        return rights_range(15, 28) | IS_BIT(56);
    case IS_ENT_CLIENT:
        return IS_BIT(29) | rights_range(60, 63);
    case IS_ENT_GW:
        return rights_range(30, 40) | IS_BIT(57) | IS_BIT(58);
    case IS_ENT_ORG:
        return rights_range(41, 53);
    default:
        return 0;
    }
}

int is_right_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (int v = 1; v < 64; v++)
        if (rights_names[v] != NULL && strcmp(rights_names[v], name) == 0)
            return v;
    return -1;
}

const char *is_right_name(int value)
{
    if (value <= 0 || value >= 64)
        return NULL;
    return rights_names[value];
}

static is_rights_t rights_defined(void)
{
    is_rights_t r = 0;
    for (int v = 1; v < 64; v++)
        if (rights_names[v] != NULL)
            r |= IS_BIT(v);
    return r;
}

is_rights_t is_rights_expand(is_rights_t r)
{
    if (r & IS_BIT(IS_R_ALL))
        return rights_defined();
    if (r & IS_BIT(IS_R_USER_ALL))
        r |= is_rights_of(IS_ENT_USER);
    if (r & IS_BIT(IS_R_APPLICATION_ALL))
        r |= is_rights_of(IS_ENT_APP);
    if (r & IS_BIT(IS_R_CLIENT_ALL))
        r |= is_rights_of(IS_ENT_CLIENT);
    if (r & IS_BIT(IS_R_GATEWAY_ALL))
        r |= is_rights_of(IS_ENT_GW);
    if (r & IS_BIT(IS_R_ORGANIZATION_ALL))
        r |= is_rights_of(IS_ENT_ORG);
    /* rights.proto: _LINK implies reading the entity and (for applications) reading uplink
     * and writing downlink traffic. */
    if (r & IS_BIT(IS_R_APPLICATION_LINK))
        r |= IS_BIT(IS_R_APPLICATION_INFO) | IS_BIT(IS_R_APPLICATION_TRAFFIC_READ) |
             IS_BIT(IS_R_APPLICATION_TRAFFIC_DOWN_WRITE);
    if (r & IS_BIT(IS_R_GATEWAY_LINK))
        r |= IS_BIT(IS_R_GATEWAY_INFO);
    return r & rights_defined();
}

is_rights_t is_rights_intersect(is_rights_t a, is_rights_t b)
{
    return is_rights_expand(a) & is_rights_expand(b);
}

bool is_rights_include(is_rights_t have, is_rights_t need)
{
    is_rights_t h = is_rights_expand(have);
    return (h & need) == need;
}

int is_rights_from_json(const json_t *arr, const char *field, is_rights_t *out, lw_err_t *err)
{
    *out = 0;
    if (arr == NULL || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return lw_api_invalid(err, field, "must be an array of rights");
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        int r = json_is_string(v) ? is_right_parse(json_string_value(v)) : -1;
        if (r < 0) {
            char f[96];
            snprintf(f, sizeof f, "%s[%zu]", field, i);
            return lw_api_invalid(err, f, "unknown right");
        }
        *out |= IS_BIT(r);
    }
    return 0;
}

json_t *is_rights_to_json(is_rights_t r)
{
    json_t *a = json_array();
    for (int v = 1; v < 64; v++)
        if ((r & IS_BIT(v)) && rights_names[v] != NULL)
            json_array_append_new(a, json_string(rights_names[v]));
    return a;
}

is_rights_t is_rights_from_pg(const char *lit)
{
    is_rights_t r = 0;
    if (lit == NULL || *lit != '{')
        return 0;
    const char *p = lit + 1;
    while (*p != '\0' && *p != '}') {
        const char *e = p;
        while (*e != '\0' && *e != ',' && *e != '}')
            e++;
        char name[64];
        size_t n = (size_t)(e - p);
        if (n > 0 && n < sizeof name) {
            memcpy(name, p, n);
            name[n] = '\0';
            int v = is_right_parse(name);
            if (v > 0)
                r |= IS_BIT(v);
        }
        p = *e == ',' ? e + 1 : e;
    }
    return r;
}

int is_rights_to_pg(is_rights_t r, char *buf, size_t len)
{
    size_t off = 0;
    if (len < 3)
        return -1;
    buf[off++] = '{';
    bool first = true;
    for (int v = 1; v < 64; v++) {
        if (!(r & IS_BIT(v)) || rights_names[v] == NULL)
            continue;
        size_t n = strlen(rights_names[v]);
        if (off + n + 3 > len)
            return -1;
        if (!first)
            buf[off++] = ',';
        memcpy(buf + off, rights_names[v], n);
        off += n;
        first = false;
    }
    buf[off++] = '}';
    buf[off] = '\0';
    return 0;
}

is_rights_t is_rights_to_manage(is_rights_t before, is_rights_t after)
{
    return is_rights_expand(before | after);
}

bool is_rights_may_manage(is_rights_t caller, is_rights_t before, is_rights_t after)
{
    return is_rights_include(caller, is_rights_to_manage(before, after));
}

is_rights_t is_rights_full_of(is_ent_t kind)
{
    switch (kind) {
    case IS_ENT_APP:
        return IS_BIT(IS_R_APPLICATION_ALL) | IS_BIT(IS_R_ALL);
    case IS_ENT_GW:
        return IS_BIT(IS_R_GATEWAY_ALL) | IS_BIT(IS_R_ALL);
    case IS_ENT_ORG:
        return IS_BIT(IS_R_ORGANIZATION_ALL) | IS_BIT(IS_R_ALL);
    default:
        return 0;
    }
}

bool is_rights_full(is_ent_t kind, is_rights_t r)
{
    return (r & is_rights_full_of(kind)) != 0;
}

bool is_rights_drops_last_full(is_ent_t kind, is_rights_t before, is_rights_t after,
                               bool others_full)
{
    return is_rights_full(kind, before) && !is_rights_full(kind, after) && !others_full;
}
