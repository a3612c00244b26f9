/* lwcli devices import / export: a file sent to the server-side import job in parts
 * (POST .../devices/import, then .../import/{job_id}/data), the job followed until it ends,
 * and the export streamed to a file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lwcli.h"

#define PART_BYTES_DEFAULT 700000u
#define POLL_MS            300
#define FAILED_PAGE        1000

void lc_base64_encode(const unsigned char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned long w = (unsigned long)in[i] << 16;
        if (i + 1 < n)
            w |= (unsigned long)in[i + 1] << 8;
        if (i + 2 < n)
            w |= in[i + 2];
        out[o++] = abc[(w >> 18) & 63];
        out[o++] = abc[(w >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[w & 63] : '=';
    }
    out[o] = '\0';
}

void lc_progress_format(unsigned long long done, unsigned long long total,
                        unsigned long long devices, int width, char *out, size_t outlen)
{
    lc_str_t s = {0};
    if (total > 0) {
        if (done > total)
            done = total;
        int fill = (int)(done * (unsigned long long)width / total);
        lc_str_append(&s, "[");
        for (int i = 0; i < width; i++)
            lc_str_append(&s, i < fill ? "#" : ".");
        lc_str_appendf(&s, "] %3d%%  ", (int)(done * 100 / total));
    }
    lc_str_appendf(&s, "%llu devices", devices);
    snprintf(out, outlen, "%s", lc_str_cstr(&s));
    lc_str_free(&s);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void job_path(lc_str_t *p, const char *app, const char *job_id, const char *tail)
{
    lc_str_append(p, "/api/v3/applications/");
    lc_str_append_escaped(p, app);
    lc_str_append(p, "/devices/import");
    if (job_id != NULL) {
        lc_str_append(p, "/");
        lc_str_append_escaped(p, job_id);
    }
    if (tail != NULL)
        lc_str_append(p, tail);
}

static long long jint(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static bool finished(const char *state)
{
    return state != NULL && (strcmp(state, "DONE") == 0 || strcmp(state, "FAILED") == 0 ||
                             strcmp(state, "CANCELED") == 0);
}

static void progress(bool tty, json_t *job, unsigned long long size)
{
    if (!tty || job == NULL)
        return;
    char line[160];
    lc_progress_format((unsigned long long)jint(job, "bytes_converted"), size,
                       (unsigned long long)jint(job, "total"), 30, line, sizeof line);
    fprintf(stderr, "\r%s", line);
    fflush(stderr);
}

static void print_summary(json_t *job, json_t *failed_rows)
{
    static const char *const heads[] = {"RESULT", "DEVICES"};
    lc_table_t t;
    lc_table_init(&t, (const char **)heads, 2);
    static const char *const names[] = {"created", "updated", "unchanged", "failed", "total"};
    for (size_t i = 0; i < 5; i++) {
        char n[24];
        snprintf(n, sizeof n, "%lld", jint(job, names[i]));
        const char *cells[2] = {names[i], n};
        lc_table_add(&t, cells);
    }
    lc_table_write(&t, stdout);
    lc_table_destroy(&t);
    if (json_array_size(failed_rows) > 0) {
        static const char *const fh[] = {"LINE", "COLUMN", "DEVICE", "FIELD", "ERROR", "MESSAGE"};
        lc_table_init(&t, (const char **)fh, 6);
        size_t i;
        json_t *r;
        json_array_foreach(failed_rows, i, r)
        {
            char line[24], col[24];
            snprintf(line, sizeof line, "%lld", jint(r, "line"));
            snprintf(col, sizeof col, "%lld", jint(r, "column"));
            json_t *err = json_object_get(r, "error");
            json_t *d = json_array_get(json_object_get(err, "details"), 0);
            char *name = lc_json_text(json_object_get(d, "name"));
            char *msg = lc_json_text(json_object_get(err, "message"));
            char *dev = lc_json_text(json_object_get(r, "device_id"));
            char *field = lc_json_text(json_object_get(r, "field"));
            const char *cells[6] = {line, json_object_get(r, "column") ? col : "", dev, field, name,
                                    msg};
            lc_table_add(&t, cells);
            free(name);
            free(msg);
            free(dev);
            free(field);
        }
        printf("\n");
        lc_table_write(&t, stdout);
        lc_table_destroy(&t);
    }
    json_t *err = json_object_get(job, "error");
    if (err != NULL) {
        json_t *d = json_array_get(json_object_get(err, "details"), 0);
        char *name = lc_json_text(json_object_get(d, "name"));
        char *msg = lc_json_text(json_object_get(err, "message"));
        fprintf(stderr, "error: %s: %s\n", name, msg);
        free(name);
        free(msg);
    }
}

int lc_devices_import(lc_ctx_t *ctx, const lc_import_opts_t *o)
{
    FILE *f = fopen(o->file, "rb");
    if (f == NULL) {
        fprintf(stderr, "error: cannot open %s: %s\n", o->file, strerror(errno));
        return LC_EXIT_FAIL;
    }
    struct stat st;
    unsigned long long size = fstat(fileno(f), &st) == 0 ? (unsigned long long)st.st_size : 0;
    size_t part = o->part_bytes > 0 ? o->part_bytes : PART_BYTES_DEFAULT;
    unsigned char *buf = lc_xmalloc(part);
    char *b64 = lc_xmalloc(4 * ((part + 2) / 3) + 1);
    bool tty = isatty(STDERR_FILENO) && !ctx->json;
    int rc = LC_EXIT_FAIL;
    char *job_id = NULL;
    json_t *job = NULL, *failed_rows = json_array();
    lc_str_t path = {0};
    lc_resp_t resp;

    /* the parts: the first creates the job, the others append */
    for (bool first = true;; first = false) {
        size_t n = fread(buf, 1, part, f);
        if (ferror(f)) {
            fprintf(stderr, "error: cannot read %s: %s\n", o->file, strerror(errno));
            goto out;
        }
        int c = getc(f);
        bool more = c != EOF;
        if (more)
            ungetc(c, f);
        lc_base64_encode(buf, n, b64);
        json_t *body = json_pack("{ss sb}", "data", b64, "more", more);
        lc_str_free(&path);
        if (first) {
            json_object_set_new(body, "format_id", json_string(o->format_id));
            json_object_set_new(body, "dry_run", json_boolean(o->dry_run));
            if (o->fallbacks != NULL && json_object_size(o->fallbacks) > 0)
                json_object_set(body, "fallbacks", o->fallbacks);
            job_path(&path, o->application_id, NULL, NULL);
        } else {
            job_path(&path, o->application_id, job_id, "/data");
        }
        int r = lc_request(ctx, "POST", path.buf, body, LC_AUTH_USER, &resp);
        json_decref(body);
        if (r != 0)
            goto out;
        if (first) {
            const char *id = json_string_value(json_object_get(resp.json, "job_id"));
            if (id == NULL) {
                fprintf(stderr, "error: the server answered no job_id\n");
                lc_resp_free(&resp);
                goto out;
            }
            job_id = lc_xstrdup(id);
            if (!tty && !ctx->json)
                fprintf(stderr, "job %s\n", job_id);
        }
        json_decref(job);
        job = json_incref(resp.json);
        lc_resp_free(&resp);
        progress(tty, job, size);
        if (!more)
            break;
    }

    /* the job, until it ends */
    while (!finished(json_string_value(json_object_get(job, "state")))) {
        sleep_ms(POLL_MS);
        lc_str_free(&path);
        job_path(&path, o->application_id, job_id, "?result=FAILED&limit=1");
        if (lc_request(ctx, "GET", path.buf, NULL, LC_AUTH_USER, &resp) != 0)
            goto out;
        json_decref(job);
        job = json_incref(resp.json);
        json_object_del(job, "results");
        lc_resp_free(&resp);
        progress(tty, job, size);
    }
    if (tty)
        fprintf(stderr, "\n");

    /* the failed rows, the first FAILED_PAGE of them (the job has them all) */
    if (jint(job, "failed") > 0) {
        lc_str_free(&path);
        job_path(&path, o->application_id, job_id, NULL);
        lc_str_appendf(&path, "?result=FAILED&limit=%d", FAILED_PAGE);
        if (lc_request(ctx, "GET", path.buf, NULL, LC_AUTH_USER, &resp) != 0)
            goto out;
        json_array_extend(failed_rows, json_object_get(resp.json, "results"));
        lc_resp_free(&resp);
        if (jint(job, "failed") > FAILED_PAGE)
            fprintf(stderr, "note: the first %d of %lld failed rows; all of them: GET %s\n",
                    FAILED_PAGE, jint(job, "failed"), path.buf);
    }
    if (ctx->json) {
        json_object_set(job, "results", failed_rows);
        lc_json_write(job, stdout);
    } else {
        print_summary(job, failed_rows);
    }
    rc = strcmp(json_string_value(json_object_get(job, "state")), "DONE") == 0 &&
                 jint(job, "failed") == 0
             ? LC_EXIT_OK
             : LC_EXIT_FAIL;
out:
    fclose(f);
    free(buf);
    free(b64);
    free(job_id);
    json_decref(job);
    json_decref(failed_rows);
    lc_str_free(&path);
    return rc;
}

int lc_devices_export(lc_ctx_t *ctx, const char *application_id, bool include_keys,
                      const char *out_path)
{
    bool to_stdout = out_path == NULL || strcmp(out_path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(out_path, "wb");
    if (f == NULL) {
        fprintf(stderr, "error: cannot write %s: %s\n", out_path, strerror(errno));
        return LC_EXIT_FAIL;
    }
    lc_str_t path = {0};
    lc_str_append(&path, "/api/v3/applications/");
    lc_str_append_escaped(&path, application_id);
    lc_str_append(&path, "/devices/export");
    if (include_keys)
        lc_str_append(&path, "?include_keys=true");
    lc_resp_t resp;
    int rc = lc_request_stream(ctx, "GET", path.buf, LC_AUTH_USER, f, &resp);
    if (rc == 0)
        lc_resp_free(&resp);
    if (fflush(f) != 0 && rc == 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", to_stdout ? "stdout" : out_path,
                strerror(errno));
        rc = LC_EXIT_FAIL;
    }
    if (!to_stdout)
        fclose(f);
    lc_str_free(&path);
    return rc;
}
