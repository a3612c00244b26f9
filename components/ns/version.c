/* LoRaWAN MAC and regional-parameters version names as The Things Stack spells them
 * (lorawan_version "MAC_V1_0_3", lorawan_phy_version "RP001_V1_0_3_REV_A"). Pure. */
#include <string.h>

#include "ns/ns_private.h"

static const struct {
    const char *name, *bi;
    unsigned minor, patch;
} mac_versions[] = {
    {"MAC_V1_0", "1.0", 0, 0},     {"MAC_V1_0_1", "1.0.1", 0, 1}, {"MAC_V1_0_2", "1.0.2", 0, 2},
    {"MAC_V1_0_3", "1.0.3", 0, 3}, {"MAC_V1_0_4", "1.0.4", 0, 4}, {"MAC_V1_1", "1.1", 1, 0},
};

int ns_version_parse(const char *s, unsigned *minor, unsigned *patch)
{
    for (size_t i = 0; s != NULL && i < sizeof mac_versions / sizeof mac_versions[0]; i++)
        if (strcmp(s, mac_versions[i].name) == 0) {
            if (minor != NULL)
                *minor = mac_versions[i].minor;
            if (patch != NULL)
                *patch = mac_versions[i].patch;
            return 0;
        }
    return -1;
}

const char *ns_mac_version_bi(const char *s)
{
    for (size_t i = 0; s != NULL && i < sizeof mac_versions / sizeof mac_versions[0]; i++)
        if (strcmp(s, mac_versions[i].name) == 0)
            return mac_versions[i].bi;
    return "1.0.3";
}

/* TTS's PHYVersion enum has two spellings of each RP001 value (PHY_V1_0_2_REV_A is
 * RP001_V1_0_2); TS001 1.0 and 1.0.1 had their tables in the specification itself, which
 * the lorawan library's oldest revision (RP001-1.0.2) carries over unchanged. */
static const struct {
    const char *name;
    lorawan_rp_rev_t rev;
} phy_versions[] = {
    {"PHY_V1_0", LORAWAN_RP001_1_0_2},           {"TS001_V1_0", LORAWAN_RP001_1_0_2},
    {"PHY_V1_0_1", LORAWAN_RP001_1_0_2},         {"TS001_V1_0_1", LORAWAN_RP001_1_0_2},
    {"PHY_V1_0_2_REV_A", LORAWAN_RP001_1_0_2},   {"RP001_V1_0_2", LORAWAN_RP001_1_0_2},
    {"PHY_V1_0_2_REV_B", LORAWAN_RP001_1_0_2_B}, {"RP001_V1_0_2_REV_B", LORAWAN_RP001_1_0_2_B},
    {"PHY_V1_0_3_REV_A", LORAWAN_RP001_1_0_3_A}, {"RP001_V1_0_3_REV_A", LORAWAN_RP001_1_0_3_A},
    {"PHY_V1_1_REV_A", LORAWAN_RP001_1_1_A},     {"RP001_V1_1_REV_A", LORAWAN_RP001_1_1_A},
    {"PHY_V1_1_REV_B", LORAWAN_RP001_1_1_B},     {"RP001_V1_1_REV_B", LORAWAN_RP001_1_1_B},
    {"RP002_V1_0_0", LORAWAN_RP002_1_0_0},       {"RP002_V1_0_1", LORAWAN_RP002_1_0_1},
    {"RP002_V1_0_2", LORAWAN_RP002_1_0_2},       {"RP002_V1_0_3", LORAWAN_RP002_1_0_3},
    {"RP002_V1_0_4", LORAWAN_RP002_1_0_4},
};

int ns_phy_version_parse(const char *s, lorawan_rp_rev_t *out)
{
    for (size_t i = 0; s != NULL && i < sizeof phy_versions / sizeof phy_versions[0]; i++)
        if (strcmp(s, phy_versions[i].name) == 0) {
            if (out != NULL)
                *out = phy_versions[i].rev;
            return 0;
        }
    return -1;
}
