/* Converters: a file of a known format in, end device templates out, in input order, as
 * The Things Stack's Device Template Converter (pkg/devicetemplates) makes them.
 *
 * A converter is fed the file in pieces of any size and emits each template as soon as it is
 * complete, so memory stays bounded by the longest record (dtc_conv_opts_t.max_record),
 * whatever the file's size. The same converter serves POST /api/v3/edtc/convert (edtc_api.c)
 * and the import jobs (import*.c), on a worker-pool thread or the loop: it touches nothing
 * but its own state.
 *
 * A template is The Things Stack's EndDeviceTemplate: `end_device` (EndDevice JSON with
 * snake_case names, as the HTTP API writes it), `field_mask.paths` (the dotted leaf paths
 * set, sorted), and `mapping_key` (empty for the formats of The Things Stack). `line` is
 * where its record began (1-based line of a CSV file; for JSON, the line of its opening
 * brace) so that an import can report a row.
 *
 * Errors are The Things Stack's (conv_errors.def): parse_csv_field (attributes line, column),
 * parse_csv, csv_header, converter (unknown format_id), invalid JSON with line and column,
 * ... A converter that has failed stays failed: later feeds return -1 with the same error.
 * Templates emitted before an error stay valid (an import keeps them; convert sends them
 * before the error chunk). */
#ifndef DTC_CONV_H
#define DTC_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cluster/err.h"

/* A format of GET /api/v3/edtc/formats. */
typedef struct dtc_format {
    const char *id; /* "the-things-stack", "the-things-stack-csv", "vendor-<name>" */
    const char *name;
    const char *description;
    const char *const *file_extensions; /* ".json", ".csv"; NULL-terminated */
} dtc_format_t;

typedef struct dtc_template {
    json_t *end_device;       /* borrowed: valid during the emit call only (json_incref to keep) */
    const char *const *paths; /* the field mask, sorted; npaths of them; borrowed likewise */
    size_t npaths;
    const char *mapping_key; /* "" unless the format sets one */
    uint64_t line;
} dtc_template_t;

/* Called for each template in input order; a non-zero return stops the feed, which then
 * returns -1 with err as the callback left it (err may stay unset: the caller stopped). */
typedef int (*dtc_emit_fn)(void *arg, const dtc_template_t *t, lw_err_t *err);

typedef struct dtc_conv_opts {
    const json_t *end_device_version_ids; /* convert's end_device_version_ids, or NULL: set as
                                             the-things-stack-csv does when given */
    size_t max_record;                    /* 0: 1 MiB; a longer record fails with its error */
} dtc_conv_opts_t;

typedef struct dtc_conv dtc_conv_t;

/* The formats this process offers (built-in ones, then each vendor mapping), *n of them. */
const dtc_format_t *const *dtc_formats(size_t *n);
const dtc_format_t *dtc_format_find(const char *id);

/* NULL with err (converter: unknown format) on failure. */
dtc_conv_t *dtc_conv_new(const dtc_format_t *f, const dtc_conv_opts_t *opts, lw_err_t *err);
/* Feeds n bytes. Returns 0, or -1 with err (the file's error, or the callback's). */
int dtc_conv_feed(dtc_conv_t *c, const void *b, size_t n, dtc_emit_fn emit, void *arg,
                  lw_err_t *err);
/* The end of the file: emits what was pending and checks the file is complete. */
int dtc_conv_finish(dtc_conv_t *c, dtc_emit_fn emit, void *arg, lw_err_t *err);
/* Templates emitted so far. */
uint64_t dtc_conv_count(const dtc_conv_t *c);
void dtc_conv_free(dtc_conv_t *c);

#endif
