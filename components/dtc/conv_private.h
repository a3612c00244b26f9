/* The converters' inner pieces (conv.c, csv_scan.c, json_scan.c, charset.c, tts_*.c,
 * vendor_*.c) and what their tests and fuzz targets reach.
 *
 * The scanners are pure: bytes in, callbacks out, no allocation (the caller owns every
 * buffer), no clock, no I/O. They follow the readers The Things Stack uses, so that lines,
 * columns and error names are the same:
 *   - charset: golang.org/x/net/html/charset's choice on the first 1024 bytes (UTF-16 and
 *     UTF-8 byte-order marks, then UTF-8 when that prefix has a byte >= 0x80 and is valid
 *     UTF-8, otherwise Windows-1252), decoded to UTF-8; a leading U+FEFF is dropped.
 *   - csv: Go's encoding/csv Reader with TrimLeadingSpace, the separator from the first line
 *     (';' before ','; ';' when neither), the header's field count for every record, empty
 *     lines skipped, \r\n as \n; its errors (bare quote, extraneous quote, wrong number of
 *     fields) with Go's start line, line and 1-based byte column.
 *   - json: the extent of each top-level value of a stream of whitespace-separated objects
 *     or of one array of them (pkg/util/io's JSON decoder), with the line and column where
 *     it begins; jansson parses each one. */
#ifndef DTC_CONV_PRIVATE_H
#define DTC_CONV_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cluster/err.h"
#include "dtc/conv.h"

#define DTC_CONV_MAX_RECORD_DEFAULT (1u << 20)
/* The header decides the field count; more columns than this is refused (bounded state). */
#define DTC_CSV_MAX_FIELDS 1024u
/* What charset detection and separator detection look at (x/net/html/charset, ttscsv.go). */
#define DTC_SNIFF_LEN 1024u

/* A sink for bytes: returns 0, or non-zero to stop (the caller's error is set). */
typedef int (*dtc_sink_fn)(void *arg, const uint8_t *b, size_t n);

/* ---- charset.c ------------------------------------------------------------------------- */

typedef enum dtc_charset_kind {
    DTC_CHARSET_UNDECIDED = 0,
    DTC_CHARSET_UTF8,
    DTC_CHARSET_UTF16LE,
    DTC_CHARSET_UTF16BE,
    DTC_CHARSET_WINDOWS1252,
} dtc_charset_kind_t;

typedef struct dtc_charset {
    dtc_charset_kind_t kind;
    uint8_t head[DTC_SNIFF_LEN]; /* raw bytes until the charset is decided */
    size_t nhead;
    uint8_t pend[4]; /* an incomplete unit of UTF-16 (1 byte or a high surrogate's 2) */
    size_t npend;
    bool bom_checked; /* the first decoded rune has been looked at (U+FEFF dropped) */
    uint8_t first[3]; /* decoded bytes held while the first rune may still be U+FEFF */
    size_t nfirst;
} dtc_charset_t;

void dtc_charset_init(dtc_charset_t *cs);
/* Decodes b[0..n) to UTF-8 into sink, holding bytes back until the charset is known. */
int dtc_charset_feed(dtc_charset_t *cs, const uint8_t *b, size_t n, dtc_sink_fn sink, void *arg);
/* End of input: decides with what was seen and flushes. */
int dtc_charset_finish(dtc_charset_t *cs, dtc_sink_fn sink, void *arg);
/* Length of the valid UTF-8 sequence at b[0..n), 0 when invalid, -1 when cut short (Go's
 * utf8.Valid rules: no surrogates, no overlong forms, nothing above U+10FFFF). */
int dtc_utf8_seq(const uint8_t *b, size_t n);
/* The charset's name as x/net/html/charset spells it ("utf-8", "utf-16le", "windows-1252"). */
const char *dtc_charset_name(dtc_charset_kind_t k);

/* ---- csv_scan.c ------------------------------------------------------------------------ */

/* Go's csv.ParseError kinds. */
typedef enum dtc_csv_errkind {
    DTC_CSV_OK = 0,
    DTC_CSV_BARE_QUOTE,  /* bare " in non-quoted-field */
    DTC_CSV_QUOTE,       /* extraneous or missing " in quoted-field */
    DTC_CSV_FIELD_COUNT, /* wrong number of fields */
    DTC_CSV_TOO_LONG,    /* a line or record longer than the buffers (lwstack's bound) */
    DTC_CSV_TOO_MANY_FIELDS,
} dtc_csv_errkind_t;

typedef struct dtc_csv_error {
    dtc_csv_errkind_t kind;
    uint64_t start_line, line, column;
} dtc_csv_error_t;

/* One record: fields[i] is rec + off[i] .. rec + off[i + 1] (not NUL-terminated). */
typedef struct dtc_csv_record {
    const uint8_t *rec;
    const uint32_t *off; /* nfields + 1 offsets */
    size_t nfields;
    uint64_t line;  /* physical line where it began */
    uint64_t index; /* 0 for the header, then 1, 2, ... */
} dtc_csv_record_t;

typedef int (*dtc_csv_record_fn)(void *arg, const dtc_csv_record_t *r);

typedef struct dtc_csv_scan {
    /* caller-owned buffers */
    uint8_t *line; /* one physical line */
    size_t line_cap, line_len;
    uint8_t *rec; /* the unescaped fields of the current record */
    size_t rec_cap, rec_len;
    uint32_t *off; /* DTC_CSV_MAX_FIELDS + 1 */
    size_t nfields;
    /* separator detection */
    uint8_t head[DTC_SNIFF_LEN];
    size_t nhead;
    bool sep_known;
    uint8_t sep;
    /* position */
    uint64_t num_line; /* lines read (Go's numLine) */
    uint64_t rec_line; /* line where the current record began */
    uint64_t pos_line; /* Go's pos.line, pos.col */
    uint64_t pos_col;
    bool in_quoted;      /* the record continues: a quoted field spans lines */
    bool field_started;  /* in_quoted: the field's text is being appended */
    size_t want_fields;  /* 0 until the header was read */
    uint64_t records;    /* records emitted, header included */
    bool last_cr;        /* the last byte seen was \r (held: \r\n is \n) */
    dtc_csv_error_t err; /* set once; the scan then stops */
} dtc_csv_scan_t;

/* line and rec must each hold max_record bytes; off DTC_CSV_MAX_FIELDS + 1 entries. */
void dtc_csv_init(dtc_csv_scan_t *s, uint8_t *line, uint8_t *rec, size_t max_record, uint32_t *off);
/* Feeds UTF-8 bytes. Returns 0; -1 when the CSV is malformed (s->err) or when fn returned
 * non-zero (s->err.kind DTC_CSV_OK). */
int dtc_csv_feed(dtc_csv_scan_t *s, const uint8_t *b, size_t n, dtc_csv_record_fn fn, void *arg);
int dtc_csv_finish(dtc_csv_scan_t *s, dtc_csv_record_fn fn, void *arg);
/* Go's error text of a kind ("bare \" in non-quoted-field", ...). */
const char *dtc_csv_errtext(dtc_csv_errkind_t k);

/* ---- json_scan.c ----------------------------------------------------------------------- */

typedef enum dtc_json_errkind {
    DTC_JSON_OK = 0,
    DTC_JSON_TOKEN,   /* not an object or array where a value starts, a second array, ... */
    DTC_JSON_EOF,     /* the input ends inside a value */
    DTC_JSON_TOO_LONG /* a value longer than the buffer */
} dtc_json_errkind_t;

typedef struct dtc_json_value {
    const uint8_t *b; /* the value's bytes, exactly ("{...}" or "null" in an array) */
    size_t n;
    uint64_t line, column; /* where it begins, 1-based; column in bytes */
} dtc_json_value_t;

typedef int (*dtc_json_value_fn)(void *arg, const dtc_json_value_t *v);

typedef struct dtc_json_scan {
    uint8_t *buf;
    size_t cap, len;
    uint64_t line, col; /* position of the next byte */
    uint64_t vline, vcol;
    int state; /* json_scan.c's */
    int depth; /* nesting inside the current value */
    bool in_array, array_done, in_string, escape, need_sep;
    uint64_t values;
    dtc_json_errkind_t err;
    uint64_t err_line, err_col;
} dtc_json_scan_t;

void dtc_json_init(dtc_json_scan_t *s, uint8_t *buf, size_t cap);
int dtc_json_feed(dtc_json_scan_t *s, const uint8_t *b, size_t n, dtc_json_value_fn fn, void *arg);
int dtc_json_finish(dtc_json_scan_t *s, dtc_json_value_fn fn, void *arg);

/* ---- tts_fields.c: The Things Stack's EndDevice as JSON -------------------------------- */

/* Builds a template's end device and field mask. */
typedef struct dtc_paths {
    char **v;
    size_t n, cap;
} dtc_paths_t;

void dtc_paths_add(dtc_paths_t *p, const char *path);
bool dtc_paths_has(const dtc_paths_t *p, const char *path);
void dtc_paths_remove(dtc_paths_t *p, const char *path);
void dtc_paths_sort(dtc_paths_t *p);
void dtc_paths_clear(dtc_paths_t *p);
void dtc_paths_free(dtc_paths_t *p);

/* An enumeration of The Things Stack (names by value, aliases, how its JSON writes it). */
typedef struct dtc_enum {
    const char *const *names; /* canonical name of each value 0..n-1 */
    size_t n;
    const char *const *aliases; /* "alias", "<value>", ... NULL-terminated */
    bool as_number;             /* written as its number (DataRateIndex, RxDelay, ...) */
} dtc_enum_t;

extern const dtc_enum_t dtc_enum_mac_version, dtc_enum_phy_version, dtc_enum_rx_delay,
    dtc_enum_data_rate_index, dtc_enum_data_rate_offset, dtc_enum_payload_formatter;

/* Parses s as the enum (name, alias or decimal number of a defined value). 0 or -1. */
int dtc_enum_parse(const dtc_enum_t *e, const char *s, int *out);
/* The JSON The Things Stack writes for value v. */
json_t *dtc_enum_json(const dtc_enum_t *e, int v);

/* Normalises one EndDevice object as The Things Stack reads and writes it (snake_case and
 * lowerCamelCase names, unknown fields dropped, null as absent, zero values dropped) and
 * adds its non-zero leaf paths (NonZeroFields + BottomLevelFields); ids.dev_addr is
 * removed from both. Returns the new object, or NULL with err (parse_json_field naming the
 * field). */
json_t *dtc_tts_device_normalize(const json_t *in, dtc_paths_t *paths, lw_err_t *err);

/* Hex of n bytes, upper case (The Things Stack's EUIs and keys). Parses any case; an empty
 * string is n zero bytes. 0 or -1. */
int dtc_hex_parse(const char *s, size_t len, uint8_t *out, size_t n);
void dtc_hex_upper(const uint8_t *b, size_t n, char *out);

/* Sets the JSON value at dotted path (objects made as needed). */
void dtc_json_set_path(json_t *root, const char *path, json_t *v);

/* A JSON string of s[0..n), invalid UTF-8 replaced by U+FFFD (as Go's encoders do). */
json_t *dtc_json_stringn_lossy(const uint8_t *s, size_t n);

/* ---- tts_csv.c ------------------------------------------------------------------------- */

typedef struct dtc_tts_csv {
    int setter[DTC_CSV_MAX_FIELDS]; /* column → setter index, -1 unknown */
    size_t ncols;
    bool header_done;
} dtc_tts_csv_t;

/* Reads the header (csv_header when no known column). */
int dtc_tts_csv_header(dtc_tts_csv_t *t, const dtc_csv_record_t *r, lw_err_t *err);
/* One record → end device and paths (parse_csv_field with line and column). version_ids
 * (may be NULL) is convert's end_device_version_ids. */
json_t *dtc_tts_csv_record(const dtc_tts_csv_t *t, const dtc_csv_record_t *r,
                           const json_t *version_ids, dtc_paths_t *paths, lw_err_t *err);

/* A new session key ID: a ULID's 16 bytes (time and OpenSSL's generator), base64. */
json_t *dtc_session_key_id_new(void);

/* ---- vendor_map.c, vendor_csv.c -------------------------------------------------------- */

typedef struct dtc_vendor_map dtc_vendor_map_t;

/* Loads a mapping file (YAML). NULL with err (vendor_mapping naming the file and line). */
dtc_vendor_map_t *dtc_vendor_map_load(const char *path, lw_err_t *err);
/* Parses a mapping from memory (tests). */
dtc_vendor_map_t *dtc_vendor_map_parse(const char *text, size_t n, const char *name, lw_err_t *err);
void dtc_vendor_map_free(dtc_vendor_map_t *m);
const dtc_format_t *dtc_vendor_map_format(const dtc_vendor_map_t *m);

typedef struct dtc_vendor_csv dtc_vendor_csv_t;
dtc_vendor_csv_t *dtc_vendor_csv_new(const dtc_vendor_map_t *m);
void dtc_vendor_csv_free(dtc_vendor_csv_t *v);
int dtc_vendor_csv_header(dtc_vendor_csv_t *v, const dtc_csv_record_t *r, lw_err_t *err);
json_t *dtc_vendor_csv_record(dtc_vendor_csv_t *v, const dtc_csv_record_t *r, dtc_paths_t *paths,
                              const char **mapping_key, lw_err_t *err);
/* The separator the mapping asks for, or 0: detect as the-things-stack-csv does. */
uint8_t dtc_vendor_map_separator(const dtc_vendor_map_t *m);
void dtc_csv_set_separator(dtc_csv_scan_t *s, uint8_t sep);

/* ---- conv.c: the registry of formats --------------------------------------------------- */

/* Loads every *.yaml / *.yml mapping in dir as a format vendor-<name> (replacing those
 * loaded before). Returns the number loaded, or -1 with err (the first bad file). */
int dtc_formats_load_vendor_dir(const char *dir, lw_err_t *err);
/* Adds one mapping (takes ownership). -1 with err when its id is taken. */
int dtc_formats_add_vendor(dtc_vendor_map_t *m, lw_err_t *err);
/* Drops the vendor formats (tests, shutdown). */
void dtc_formats_clear_vendor(void);

#endif
