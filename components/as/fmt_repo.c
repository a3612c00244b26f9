/* Device Repository codecs from a checkout of TheThingsNetwork/lorawan-devices on disk
 * (as.device-repository.path), chosen by a device's version_ids as TTS's Device Repository
 * does: vendor/<brand_id>/<model_id>.yaml, its firmwareVersions[] entry of firmware_version
 * (and hardware_version, when the entry lists hardwareVersions), the profile of the band
 * (band_id EU_863_870 is the file's EU863-870), its codec id, then
 * vendor/<brand_id>/<codec>.yaml: uplinkDecoder / downlinkEncoder fileName, a script of the
 * same folder. Runs on the loop: the files are small and local; a cache in front is future
 * work (FORMATTERS.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "as/fmt_private.h"
#include "cluster/mem.h"

#define REPO_FILE_MAX (1024u * 1024u)

/* IDs and file names that stay inside their folder. */
static bool safe_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[0] == '.' || strlen(s) > 128)
        return false;
    for (const char *c = s; *c != '\0'; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            return false;
    return strstr(s, "..") == NULL;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = lw_malloc(REPO_FILE_MAX + 1);
    size_t n = fread(buf, 1, REPO_FILE_MAX + 1, f);
    fclose(f);
    if (n > REPO_FILE_MAX) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int load_yaml(const char *path, yaml_document_t *doc)
{
    size_t len;
    char *text = read_file(path, &len);
    if (text == NULL)
        return -1;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int ok = yaml_parser_load(&parser, doc);
    yaml_parser_delete(&parser);
    free(text);
    if (!ok)
        return -1;
    if (yaml_document_get_root_node(doc) == NULL) {
        yaml_document_delete(doc);
        return -1;
    }
    return 0;
}

static const char *scalar(yaml_node_t *n)
{
    return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(yaml_document_get_node(doc, p->key));
        if (k != NULL && strcmp(k, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static bool seq_has(yaml_document_t *doc, yaml_node_t *seq, const char *v)
{
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
        return false;
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
         i++) {
        const char *s = scalar(yaml_document_get_node(doc, *i));
        if (s != NULL && strcmp(s, v) == 0)
            return true;
    }
    return false;
}

/* EU_863_870 -> EU863-870, AS_923_2 -> AS923-2, ISM_2400 -> ISM2400. */
static void band_file_name(const char *band_id, char *out, size_t cap)
{
    size_t n = 0;
    bool first = true;
    for (const char *c = band_id; *c != '\0' && n + 1 < cap; c++) {
        if (*c == '_') {
            if (first) {
                first = false;
                continue;
            }
            out[n++] = '-';
        } else {
            out[n++] = *c;
        }
    }
    out[n] = '\0';
}

static const char *vid(const json_t *v, const char *key)
{
    const char *s = json_string_value(json_object_get(v, key));
    return s != NULL ? s : "";
}

static int not_found(lw_err_t *err, const json_t *v)
{
    lw_err_set(err, &fmt_err_repository_codec_not_found,
               "no Device Repository codec for `%s/%s` firmware `%s` band `%s`", vid(v, "brand_id"),
               vid(v, "model_id"), vid(v, "firmware_version"), vid(v, "band_id"));
    lw_err_attr(err, "brand_id", vid(v, "brand_id"));
    lw_err_attr(err, "model_id", vid(v, "model_id"));
    lw_err_attr(err, "firmware_version", vid(v, "firmware_version"));
    lw_err_attr(err, "band_id", vid(v, "band_id"));
    return -1;
}

int fmt_repo_script(const char *repo, const json_t *version_ids, const char *section, char **script,
                    size_t *len, lw_err_t *err)
{
    const char *brand = json_string_value(json_object_get(version_ids, "brand_id"));
    const char *model = json_string_value(json_object_get(version_ids, "model_id"));
    const char *fw = json_string_value(json_object_get(version_ids, "firmware_version"));
    const char *hw = json_string_value(json_object_get(version_ids, "hardware_version"));
    const char *band = json_string_value(json_object_get(version_ids, "band_id"));
    if (version_ids == NULL || !safe_name(brand) || !safe_name(model) || fw == NULL || band == NULL)
        return lw_err_set(err, &fmt_err_no_version_identifiers,
                          "no version identifiers for device");
    char path[1024], band_name[64];
    band_file_name(band, band_name, sizeof band_name);
    snprintf(path, sizeof path, "%s/vendor/%s/%s.yaml", repo, brand, model);
    yaml_document_t doc;
    if (load_yaml(path, &doc) != 0)
        return not_found(err, version_ids);
    char codec[160] = "";
    yaml_node_t *fws = map_get(&doc, yaml_document_get_root_node(&doc), "firmwareVersions");
    if (fws != NULL && fws->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = fws->data.sequence.items.start;
             i < fws->data.sequence.items.top && codec[0] == '\0'; i++) {
            yaml_node_t *e = yaml_document_get_node(&doc, *i);
            const char *ver = scalar(map_get(&doc, e, "version"));
            if (ver == NULL || strcmp(ver, fw) != 0)
                continue;
            yaml_node_t *hws = map_get(&doc, e, "hardwareVersions");
            if (hw != NULL && hw[0] != '\0' && hws != NULL && !seq_has(&doc, hws, hw))
                continue;
            yaml_node_t *prof = map_get(&doc, map_get(&doc, e, "profiles"), band_name);
            const char *c = scalar(map_get(&doc, prof, "codec"));
            if (c != NULL && safe_name(c))
                snprintf(codec, sizeof codec, "%s", c);
        }
    }
    yaml_document_delete(&doc);
    if (codec[0] == '\0')
        return not_found(err, version_ids);
    snprintf(path, sizeof path, "%s/vendor/%s/%s.yaml", repo, brand, codec);
    if (load_yaml(path, &doc) != 0)
        return not_found(err, version_ids);
    const char *file = scalar(
        map_get(&doc, map_get(&doc, yaml_document_get_root_node(&doc), section), "fileName"));
    char name[160] = "";
    if (file != NULL && safe_name(file))
        snprintf(name, sizeof name, "%s", file);
    yaml_document_delete(&doc);
    if (name[0] == '\0')
        return not_found(err, version_ids);
    snprintf(path, sizeof path, "%s/vendor/%s/%s", repo, brand, name);
    *script = read_file(path, len);
    if (*script == NULL || *len > FMT_SCRIPT_MAX) {
        free(*script);
        *script = NULL;
        return not_found(err, version_ids);
    }
    return 0;
}
