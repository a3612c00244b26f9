/* CSV records as Go's encoding/csv Reader reads them with TrimLeadingSpace and
 * FieldsPerRecord 0 (the first record, the header, fixes the count), which is what The
 * Things Stack's the-things-stack-csv converter uses (pkg/devicetemplates/ttscsv.go):
 *   - input is read a physical line at a time; "\r\n" is "\n", a "\r" ending the input is
 *     dropped; lines that are empty (only "\n") are skipped outside quoted fields;
 *   - leading white space (Unicode's) of every field is skipped; a field starting with '"'
 *     is quoted: '""' is a quote, a quote must be followed by the separator, the end of the
 *     line or another quote; quoted fields may span lines;
 *   - errors carry Go's start line, line and column (1-based, in bytes): bare '"' in a
 *     non-quoted field, extraneous or missing '"' in a quoted field, wrong number of fields
 *     (column 1 of the record's first line).
 * The separator is ';' when the first line (within the first 1024 bytes) holds one, else ','
 * when it holds one, else ';'. Pure: the caller owns every buffer. */
#include <string.h>

#include "dtc/conv_private.h"

enum { R_MORE = 0, R_DONE = 1, R_FIELDS = 2, R_ERR = -1 };

const char *dtc_csv_errtext(dtc_csv_errkind_t k)
{
    switch (k) {
    case DTC_CSV_BARE_QUOTE:
        return "bare \" in non-quoted-field";
    case DTC_CSV_QUOTE:
        return "extraneous or missing \" in quoted-field";
    case DTC_CSV_FIELD_COUNT:
        return "wrong number of fields";
    case DTC_CSV_TOO_LONG:
        return "record too long";
    case DTC_CSV_TOO_MANY_FIELDS:
        return "too many fields";
    default:
        return "";
    }
}

void dtc_csv_init(dtc_csv_scan_t *s, uint8_t *line, uint8_t *rec, size_t max_record, uint32_t *off)
{
    memset(s, 0, sizeof *s);
    s->line = line;
    s->line_cap = max_record;
    s->rec = rec;
    s->rec_cap = max_record;
    s->off = off;
}

void dtc_csv_set_separator(dtc_csv_scan_t *s, uint8_t sep)
{
    if (sep != 0) {
        s->sep = sep;
        s->sep_known = true;
    }
}

static int fail(dtc_csv_scan_t *s, dtc_csv_errkind_t k, uint64_t start, uint64_t line, uint64_t col)
{
    s->err.kind = k;
    s->err.start_line = start;
    s->err.line = line;
    s->err.column = col;
    return R_ERR;
}

/* unicode.IsSpace of the rune at b (n > 0 bytes); *len its length. */
static bool space_at(const uint8_t *b, size_t n, size_t *len)
{
    *len = 1;
    uint8_t c = b[0];
    if (c == ' ' || (c >= '\t' && c <= '\r'))
        return true;
    if (c < 0x80)
        return false;
    uint32_t cp;
    size_t l;
    if ((c & 0xE0) == 0xC0)
        l = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        l = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        l = 4, cp = c & 0x07;
    else
        return false;
    if (l > n)
        return false;
    for (size_t i = 1; i < l; i++) {
        if ((b[i] & 0xC0) != 0x80)
            return false;
        cp = cp << 6 | (b[i] & 0x3F);
    }
    *len = l;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static int append(dtc_csv_scan_t *s, const uint8_t *b, size_t n)
{
    if (n > s->rec_cap - s->rec_len)
        return fail(s, DTC_CSV_TOO_LONG, s->rec_line, s->num_line, 1);
    memcpy(s->rec + s->rec_len, b, n);
    s->rec_len += n;
    return 0;
}

static int end_field(dtc_csv_scan_t *s)
{
    if (s->nfields >= DTC_CSV_MAX_FIELDS)
        return fail(s, DTC_CSV_TOO_MANY_FIELDS, s->rec_line, s->num_line, 1);
    s->off[++s->nfields] = (uint32_t)s->rec_len;
    return 0;
}

static int emit(dtc_csv_scan_t *s, dtc_csv_record_fn fn, void *arg)
{
    if (s->want_fields > 0 && s->nfields != s->want_fields)
        return fail(s, DTC_CSV_FIELD_COUNT, s->rec_line, s->rec_line, 1);
    if (s->want_fields == 0)
        s->want_fields = s->nfields;
    dtc_csv_record_t r = {.rec = s->rec,
                          .off = s->off,
                          .nfields = s->nfields,
                          .line = s->rec_line,
                          .index = s->records++};
    if (fn(arg, &r) != 0)
        return R_ERR; /* the caller's error; s->err stays OK */
    return R_DONE;
}

static size_t nl_len(const uint8_t *b, size_t n)
{
    return n > 0 && b[n - 1] == '\n' ? 1 : 0;
}

/* Inside a quoted field, from *p of l[0..n). */
static int quoted(dtc_csv_scan_t *s, const uint8_t *l, size_t n, size_t *p)
{
    for (;;) {
        const uint8_t *q = *p < n ? memchr(l + *p, '"', n - *p) : NULL;
        if (q != NULL) {
            size_t i = (size_t)(q - l);
            if (append(s, l + *p, i - *p) != 0)
                return R_ERR;
            s->pos_col += i - *p + 1;
            *p = i + 1;
            if (*p < n && l[*p] == '"') {
                if (append(s, (const uint8_t *)"\"", 1) != 0)
                    return R_ERR;
                (*p)++;
                s->pos_col++;
                continue;
            }
            if (*p < n && l[*p] == s->sep) {
                (*p)++;
                s->pos_col++;
                s->in_quoted = false;
                return end_field(s) != 0 ? R_ERR : R_FIELDS;
            }
            if (n - *p == nl_len(l + *p, n - *p)) {
                s->in_quoted = false;
                return end_field(s) != 0 ? R_ERR : R_DONE;
            }
            return fail(s, DTC_CSV_QUOTE, s->rec_line, s->num_line, s->pos_col - 1);
        }
        if (*p < n) { /* the field goes on on the next line */
            if (append(s, l + *p, n - *p) != 0)
                return R_ERR;
            s->pos_col += n - *p;
            *p = n;
            return R_MORE;
        }
        return fail(s, DTC_CSV_QUOTE, s->rec_line, s->pos_line, s->pos_col);
    }
}

/* Fields from *p of l[0..n) until the record ends (R_DONE) or goes on in a quoted field. */
static int fields(dtc_csv_scan_t *s, const uint8_t *l, size_t n, size_t p)
{
    for (;;) {
        size_t i = p, sl;
        while (i < n && space_at(l + i, n - i, &sl))
            i += sl;
        if (i >= n) {
            s->pos_col += n - p - nl_len(l, n);
            p = n;
        } else {
            s->pos_col += i - p;
            p = i;
        }
        if (p >= n || l[p] != '"') {
            const uint8_t *c = p < n ? memchr(l + p, s->sep, n - p) : NULL;
            size_t end = c != NULL ? (size_t)(c - l) : n - nl_len(l + p, n - p);
            const uint8_t *bq = end > p ? memchr(l + p, '"', end - p) : NULL;
            if (bq != NULL)
                return fail(s, DTC_CSV_BARE_QUOTE, s->rec_line, s->num_line,
                            s->pos_col + (size_t)(bq - (l + p)));
            if (append(s, l + p, end - p) != 0 || end_field(s) != 0)
                return R_ERR;
            if (c == NULL)
                return R_DONE;
            s->pos_col += end - p + 1;
            p = end + 1;
            continue;
        }
        s->pos_col++;
        p++;
        s->in_quoted = true;
        int r = quoted(s, l, n, &p);
        if (r != R_FIELDS)
            return r;
    }
}

static int line_done(dtc_csv_scan_t *s, const uint8_t *l, size_t n, dtc_csv_record_fn fn, void *arg)
{
    s->num_line++;
    int r;
    if (!s->in_quoted) {
        if (n == nl_len(l, n))
            return 0; /* an empty line */
        s->rec_line = s->num_line;
        s->pos_line = s->num_line;
        s->pos_col = 1;
        s->rec_len = 0;
        s->nfields = 0;
        s->off[0] = 0;
        r = fields(s, l, n, 0);
    } else {
        if (n > 0) {
            s->pos_line++;
            s->pos_col = 1;
        }
        size_t p = 0;
        r = quoted(s, l, n, &p);
        if (r == R_FIELDS)
            r = fields(s, l, n, p);
    }
    if (r == R_ERR)
        return -1;
    if (r == R_DONE && emit(s, fn, arg) == R_ERR)
        return -1;
    return 0;
}

static int bytes_in(dtc_csv_scan_t *s, const uint8_t *b, size_t n, dtc_csv_record_fn fn, void *arg)
{
    while (n > 0) {
        const uint8_t *nl = memchr(b, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl - b) + 1 : n;
        if (take > s->line_cap - s->line_len) {
            fail(s, DTC_CSV_TOO_LONG, s->num_line + 1, s->num_line + 1, 1);
            return -1;
        }
        memcpy(s->line + s->line_len, b, take);
        s->line_len += take;
        b += take;
        n -= take;
        if (nl == NULL)
            break;
        size_t ln = s->line_len;
        if (ln >= 2 && s->line[ln - 2] == '\r') {
            s->line[ln - 2] = '\n';
            ln--;
        }
        s->line_len = 0;
        if (line_done(s, s->line, ln, fn, arg) != 0)
            return -1;
    }
    return 0;
}

static void detect_separator(dtc_csv_scan_t *s)
{
    s->sep_known = true;
    s->sep = ';';
    const uint8_t *nl = memchr(s->head, '\n', s->nhead);
    size_t n = nl != NULL ? (size_t)(nl - s->head) : s->nhead;
    if (memchr(s->head, ';', n) != NULL)
        s->sep = ';';
    else if (memchr(s->head, ',', n) != NULL)
        s->sep = ',';
}

int dtc_csv_feed(dtc_csv_scan_t *s, const uint8_t *b, size_t n, dtc_csv_record_fn fn, void *arg)
{
    if (s->err.kind != DTC_CSV_OK)
        return -1;
    if (!s->sep_known) {
        size_t take = sizeof s->head - s->nhead;
        if (take > n)
            take = n;
        memcpy(s->head + s->nhead, b, take);
        s->nhead += take;
        b += take;
        n -= take;
        if (s->nhead < sizeof s->head)
            return 0;
        detect_separator(s);
        if (bytes_in(s, s->head, s->nhead, fn, arg) != 0)
            return -1;
    }
    return bytes_in(s, b, n, fn, arg);
}

int dtc_csv_finish(dtc_csv_scan_t *s, dtc_csv_record_fn fn, void *arg)
{
    if (s->err.kind != DTC_CSV_OK)
        return -1;
    if (!s->sep_known) {
        detect_separator(s);
        if (bytes_in(s, s->head, s->nhead, fn, arg) != 0)
            return -1;
    }
    if (s->line_len > 0) {
        size_t ln = s->line_len;
        if (s->line[ln - 1] == '\r')
            ln--;
        s->line_len = 0;
        if (line_done(s, s->line, ln, fn, arg) != 0)
            return -1;
    }
    if (s->in_quoted) {
        fail(s, DTC_CSV_QUOTE, s->rec_line, s->pos_line, s->pos_col);
        return -1;
    }
    return 0;
}
