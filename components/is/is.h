/* The Identity Server ("is"): each tenant's registry of users, organizations, applications,
 * gateways and end devices (registry part), their collaborators, rights and API keys, behind
 * The Things Stack's v3 HTTP API (tts-features.md §1.3, §7, §15, §16).
 *
 * HTTP API (tenant-scoped: the tenant comes from the host name or X-Tenant-ID, see tenant.h).
 * Authorization: `Bearer NNSXS.<key-id>.<secret>` (API key), `Bearer MFRWG.<id>.<secret>`
 * (access token from login), or `TenantAdminKey <hex>` (everything within the tenant).
 *
 *   POST   /api/v3/auth/login            {"user_id","password"} → {"access_token":"MFRWG...",
 *                                         "token_type":"bearer","expires_in":3600,"expires_at"}
 *   POST   /api/v3/auth/logout           revokes the presented access token
 *   GET    /api/v3/auth_info             who am I (api_key | oauth_access_token | universal_rights,
 *                                         is_admin)
 *   POST   /api/v3/users                 register {"user":{"ids":{"user_id"},"password",...}}
 *   GET    /api/v3/users                 (admins)
 *   GET|PUT|DELETE /api/v3/users/{user_id}, POST .../restore, DELETE .../purge,
 *   PUT    /api/v3/users/{user_id}/password  {"old","new","revoke_all_access"}
 *   POST|GET /api/v3/users/{user_id}/{applications|gateways|organizations}
 *   POST|GET /api/v3/organizations/{organization_id}/{applications|gateways}
 *   GET    /api/v3/{applications|gateways|organizations}   everything the caller can see
 *   GET|PUT|DELETE /api/v3/{applications|gateways|organizations}/{id}, POST .../restore,
 *          DELETE .../purge (admins), GET .../rights
 *   POST|GET /api/v3/applications/{application_id}/devices
 *   GET|PUT|DELETE /api/v3/applications/{application_id}/devices/{device_id}
 *   POST|GET /api/v3/{applications|gateways|organizations|users}/{id}/api-keys
 *   GET|PUT|DELETE /api/v3/{...}/{id}/api-keys/{key_id}
 *   GET|PUT /api/v3/{applications|gateways|organizations}/{id}/collaborators
 *   GET|DELETE /api/v3/{...}/{id}/collaborator[s]/{user|organization}/{account_id}
 *
 * Reads take `?field_mask=a,b`, lists `limit`, `page` (1-based; 0 = first), `order`
 * (`-created_at`, `<entity>_id`, `name`, ...) and answer X-Total-Count. Updates take
 * {"<entity>":{...},"field_mask":{"paths":[...]}}. Errors are The Things Stack's JSON with
 * names (already_exists, not_found, no_application_rights, insufficient_application_rights,
 * unauthenticated, invalid_authorization, api_key_expired, token_expired, invalid_field,
 * unknown_field, tenant_entity_limit, application_has_devices, ...).
 *
 * Rules as The Things Stack's: user, organization, application and gateway IDs stay taken
 * after delete until purged (admins); a gateway's EUI is released at delete; end devices
 * are deleted outright (ID and EUIs free at once); an application with devices cannot be
 * deleted. Verified credentials are cached per (tenant, key ID) for `is.auth-cache-ttl`,
 * bound to the tenant's incarnation (a tenant purged and created again never accepts the old
 * one's), and forgotten at once when revoked, narrowed or their user or entity changes: in
 * this process, and in every other once the change commits (topic lw.is.revocations; a
 * tenant's own changes through lw.tenant). */
#ifndef IS_IS_H
#define IS_IS_H

#include <stdint.h>

#include "cluster/db.h"
#include "cluster/err.h"
#include "cluster/runtime.h"
#include "tenant/devparts.h"

/* Errors of the Identity Server (components/is/errors.def). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "is/errors.def"
#undef LW_ERR_DEF

/* The component ("is"). Needs the tenant component (registered first by main). */
extern const lw_component_t is_component;

/* The IS's part of end devices (tenant/devparts.h; devpart.c): the registry row and the
 * deployment-wide EUI index. */
extern const tn_devpart_t is_devpart;

/* The deployment-wide EUI indexes this server writes (gateway EUI, JoinEUI/DevEUI → tenant)
 * are read through tenant/euis.h, so that no other server links this one. */

#endif
