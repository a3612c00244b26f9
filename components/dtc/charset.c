/* Charset detection and decoding to UTF-8, as golang.org/x/net/html/charset's NewReader
 * decides on the first 1024 bytes (DetermineEncoding, without its HTML <meta> prescan):
 * a UTF-16 big/little-endian or UTF-8 byte-order mark; else UTF-8 when those bytes hold a
 * byte >= 0x80 and are valid UTF-8 (an incomplete rune at their end ignored); else
 * Windows-1252 (WHATWG's table: 0x81, 0x8D, 0x8F, 0x90, 0x9D are the C1 controls). A
 * leading U+FEFF is dropped (ttscsv.go drops it; a JSON file starts with it from the same
 * editors). UTF-8 passes through unchanged; UTF-16 unpaired surrogates become U+FFFD. Pure. */
#include <string.h>

#include "dtc/conv_private.h"

static const uint16_t w1252_80_9f[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

const char *dtc_charset_name(dtc_charset_kind_t k)
{
    switch (k) {
    case DTC_CHARSET_UTF8:
        return "utf-8";
    case DTC_CHARSET_UTF16LE:
        return "utf-16le";
    case DTC_CHARSET_UTF16BE:
        return "utf-16be";
    case DTC_CHARSET_WINDOWS1252:
        return "windows-1252";
    default:
        return "";
    }
}

void dtc_charset_init(dtc_charset_t *cs)
{
    memset(cs, 0, sizeof *cs);
}

/* Length of the valid UTF-8 sequence at b (n bytes available), 0 when invalid, -1 when it
 * is a valid start cut short by the end. Go's utf8.Valid rules (no surrogates, no overlong
 * forms, nothing above U+10FFFF). */
int dtc_utf8_seq(const uint8_t *b, size_t n)
{
    uint8_t c = b[0];
    if (c < 0x80)
        return 1;
    int len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return -1;
        uint8_t lim_lo = i == 1 ? lo : 0x80, lim_hi = i == 1 ? hi : 0xBF;
        if (b[i] < lim_lo || b[i] > lim_hi)
            return 0;
    }
    return len;
}

static dtc_charset_kind_t decide(const uint8_t *b, size_t n)
{
    if (n >= 2 && b[0] == 0xFE && b[1] == 0xFF)
        return DTC_CHARSET_UTF16BE;
    if (n >= 2 && b[0] == 0xFF && b[1] == 0xFE)
        return DTC_CHARSET_UTF16LE;
    if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF)
        return DTC_CHARSET_UTF8;
    bool high = false;
    for (size_t i = 0; i < n;) {
        if (b[i] < 0x80) {
            i++;
            continue;
        }
        high = true;
        int l = dtc_utf8_seq(b + i, n - i);
        if (l == 0)
            return DTC_CHARSET_WINDOWS1252;
        if (l < 0)
            break; /* an incomplete rune at the end of the prefix */
        i += (size_t)l;
    }
    return high ? DTC_CHARSET_UTF8 : DTC_CHARSET_WINDOWS1252;
}

static size_t put_utf8(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Passes decoded bytes on, dropping a U+FEFF that starts the text. */
static int out(dtc_charset_t *cs, const uint8_t *b, size_t n, dtc_sink_fn sink, void *arg)
{
    if (!cs->bom_checked) {
        static const uint8_t bom[3] = {0xEF, 0xBB, 0xBF};
        while (n > 0 && cs->nfirst < 3) {
            if (b[0] != bom[cs->nfirst]) {
                cs->bom_checked = true;
                if (cs->nfirst > 0 && sink(arg, bom, cs->nfirst) != 0)
                    return -1;
                cs->nfirst = 0;
                break;
            }
            cs->first[cs->nfirst++] = b[0];
            b++;
            n--;
        }
        if (cs->nfirst == 3) {
            cs->bom_checked = true; /* dropped */
            cs->nfirst = 0;
        }
        if (!cs->bom_checked)
            return 0;
    }
    return n == 0 ? 0 : sink(arg, b, n);
}

/* Decodes in pieces through a small stack buffer. */
static int decode(dtc_charset_t *cs, const uint8_t *b, size_t n, dtc_sink_fn sink, void *arg)
{
    if (cs->kind == DTC_CHARSET_UTF8)
        return out(cs, b, n, sink, arg);
    uint8_t o[1024];
    size_t no = 0;
    for (size_t i = 0; i < n; i++) {
        if (no + 8 > sizeof o) {
            if (out(cs, o, no, sink, arg) != 0)
                return -1;
            no = 0;
        }
        if (cs->kind == DTC_CHARSET_WINDOWS1252) {
            uint8_t c = b[i];
            if (c < 0x80) { /* a run of ASCII goes on as it is */
                size_t j = i;
                while (j < n && b[j] < 0x80)
                    j++;
                if (out(cs, o, no, sink, arg) != 0 || out(cs, b + i, j - i, sink, arg) != 0)
                    return -1;
                no = 0;
                i = j - 1;
                continue;
            }
            uint32_t cp = c >= 0x80 && c <= 0x9F ? w1252_80_9f[c - 0x80] : c;
            no += put_utf8(cp, o + no);
            continue;
        }
        cs->pend[cs->npend++] = b[i];
        if (cs->npend % 2 != 0)
            continue;
        bool le = cs->kind == DTC_CHARSET_UTF16LE;
        const uint8_t *u = cs->pend + cs->npend - 2;
        uint16_t w = le ? (uint16_t)(u[0] | u[1] << 8) : (uint16_t)(u[0] << 8 | u[1]);
        if (cs->npend == 2) {
            if (w >= 0xD800 && w <= 0xDBFF)
                continue; /* wait for the low surrogate */
            cs->npend = 0;
            no += put_utf8(w >= 0xDC00 && w <= 0xDFFF ? 0xFFFD : w, o + no);
            continue;
        }
        /* npend == 4: a high surrogate, then w */
        const uint8_t *h = cs->pend;
        uint16_t hw = le ? (uint16_t)(h[0] | h[1] << 8) : (uint16_t)(h[0] << 8 | h[1]);
        cs->npend = 0;
        if (w >= 0xDC00 && w <= 0xDFFF) {
            no += put_utf8(0x10000 + (((uint32_t)hw - 0xD800) << 10) + (w - 0xDC00), o + no);
        } else {
            no += put_utf8(0xFFFD, o + no);
            if (w >= 0xD800 && w <= 0xDBFF) {
                cs->pend[0] = u[0];
                cs->pend[1] = u[1];
                cs->npend = 2;
            } else {
                no += put_utf8(w, o + no);
            }
        }
    }
    return out(cs, o, no, sink, arg);
}

int dtc_charset_feed(dtc_charset_t *cs, const uint8_t *b, size_t n, dtc_sink_fn sink, void *arg)
{
    if (cs->kind == DTC_CHARSET_UNDECIDED) {
        size_t take = sizeof cs->head - cs->nhead;
        if (take > n)
            take = n;
        memcpy(cs->head + cs->nhead, b, take);
        cs->nhead += take;
        b += take;
        n -= take;
        if (cs->nhead < sizeof cs->head)
            return 0;
        cs->kind = decide(cs->head, cs->nhead);
        if (decode(cs, cs->head, cs->nhead, sink, arg) != 0)
            return -1;
        cs->nhead = 0;
    }
    return n == 0 ? 0 : decode(cs, b, n, sink, arg);
}

int dtc_charset_finish(dtc_charset_t *cs, dtc_sink_fn sink, void *arg)
{
    if (cs->kind == DTC_CHARSET_UNDECIDED) {
        cs->kind = decide(cs->head, cs->nhead);
        if (decode(cs, cs->head, cs->nhead, sink, arg) != 0)
            return -1;
        cs->nhead = 0;
    }
    if (cs->npend > 0) { /* an odd byte or an unpaired high surrogate at the end */
        uint8_t o[4];
        cs->npend = 0;
        if (out(cs, o, put_utf8(0xFFFD, o), sink, arg) != 0)
            return -1;
    }
    if (!cs->bom_checked && cs->nfirst > 0) {
        static const uint8_t bom[3] = {0xEF, 0xBB, 0xBF};
        cs->bom_checked = true;
        size_t k = cs->nfirst;
        cs->nfirst = 0;
        return sink(arg, bom, k);
    }
    return 0;
}
