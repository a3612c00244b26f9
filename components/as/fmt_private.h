/* Payload formatters of the Application Server (issue 10 item 3): The Things Stack's
 * JavaScript formatters (decodeUplink / encodeDownlink / decodeDownlink / normalizeUplink, the
 * legacy Decoder / Encoder), CayenneLPP, and the Device Repository's codecs.
 *
 * Scripts are tenants' untrusted code. They never run in the lwstack process: they run in
 * worker processes (`lwstack formatter-worker`, the same binary exec'd with an empty
 * environment and no inherited descriptors but its socket, under a seccomp filter: no
 * sockets, programs or other processes) that hold no keys, under a time
 * limit (JavaScriptCore's execution time limit in the worker, a SIGKILL from the pool as the
 * backstop) and a memory limit (the worker's resident set, watched by a thread of its own;
 * over it the worker exits at once). components/as/FORMATTERS.md says why JavaScriptCore and
 * what was measured.
 *
 *   fmt.c          the as_fmt_ops_t the core calls (as_private.h), configuration, results
 *                  checked as TTS checks them (pkg/messageprocessors/javascript)
 *   fmt_pool.c     the worker processes, on the loop: per-application queues served round
 *                  robin, a bounded number of workers per application, kill on overrun
 *   fmt_proto.c    the framed protocol between pool and worker, and the scripts' inputs as
 *                  JSON (pure: no I/O, clock or allocation)
 *   fmt_worker.c   the worker: JavaScriptCore contexts cached per script hash
 *   fmt_repo.c     Device Repository codecs (as.device-repository.path)
 *   cayenne.c      CayenneLPP decode and encode (pure)
 *   fmt_errors.c   the errors (fmt_errors.def), with TTS's namespaces and names
 *
 * Threads: everything but fmt_worker.c runs on the loop thread. */
#ifndef AS_FMT_PRIVATE_H
#define AS_FMT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "as/as_private.h"
#include "cluster/config.h"
#include "cluster/err.h"

/* ---- errors (fmt_errors.def) --------------------------------------------------------------- */

#define FMT_ERR_DEF(cname, ns, name, http, grpc, fmt) extern const lw_err_def_t fmt_err_##cname;
#include "as/fmt_errors.def"
#undef FMT_ERR_DEF

/* ---- sizes --------------------------------------------------------------------------------- */

#define FMT_SCRIPT_MAX                                                                             \
    (256u * 1024u)                      /* one formatter (TTS allows 40960 in the API; the         \
                                           repository's codecs are bigger) */
#define FMT_PAYLOAD_MAX 255u            /* FRMPayload bytes */
#define FMT_FRAME_MAX   (1024u * 1024u) /* one frame's payload */
#define FMT_RESULT_MAX  (512u * 1024u)  /* a script's JSON result */
#define FMT_HASH_LEN    32u             /* SHA-256 of the wrapped script */

/* ---- the framed protocol (fmt_proto.c, pure) ----------------------------------------------- */

/* Every frame: u32 little-endian length of what follows, then that many bytes:
 *   request  (pool -> worker): u8 1, u64 id, u8 op, u32 timeout_ms, 32 bytes script hash,
 *            u32 script_len, script (0 bytes: "you have it"), u32 input_len, input JSON
 *   response (worker -> pool): u8 2, u64 id, u8 status, u32 run_us, u32 body_len, body
 *            (run_us: how long the script ran in the worker, for the pool's isolation)
 * Integers little-endian. The worker's first frame is a response of id 0, status OK, body
 * "ready", once JavaScriptCore is up. A body is the entry point's result as JSON (FMT_ST_OK) or an
 * error message for people. */
enum { FMT_MSG_REQUEST = 1, FMT_MSG_RESPONSE = 2 };

typedef enum fmt_op {
    FMT_OP_DECODE_UPLINK = 1,   /* {decoded, normalized} of TTS's uplink wrapper */
    FMT_OP_ENCODE_DOWNLINK = 2, /* {bytes, fPort, warnings, errors} */
    FMT_OP_DECODE_DOWNLINK = 3, /* {data, warnings, errors} */
} fmt_op_t;

typedef enum fmt_status {
    FMT_ST_OK = 0,
    FMT_ST_SCRIPT = 1,      /* the script threw (while loading or running): body the message */
    FMT_ST_TIMEOUT = 2,     /* the time limit stopped it */
    FMT_ST_NEED_SCRIPT = 3, /* the worker does not hold that hash: send it again with text */
    FMT_ST_ENTRYPOINT = 4,  /* the entry point is not a function: body its name */
    FMT_ST_NO_OUTPUT = 5,   /* the entry point returned undefined or null */
    FMT_ST_INPUT = 6,       /* the input JSON did not parse */
    FMT_ST_MEMORY = 7,      /* pool only: the worker exceeded the memory limit */
    FMT_ST_KILLED = 8,      /* pool only: the worker died otherwise */
} fmt_status_t;

#define FMT_STATUS_MAX FMT_ST_KILLED

typedef struct fmt_request {
    uint64_t id;
    fmt_op_t op;
    uint32_t timeout_ms;
    uint8_t hash[FMT_HASH_LEN];
    const char *script; /* borrowed; NULL when script_len is 0 */
    size_t script_len;
    const char *input; /* borrowed JSON text */
    size_t input_len;
} fmt_request_t;

typedef struct fmt_response {
    uint64_t id;
    fmt_status_t status;
    uint32_t run_us;  /* the worker's own measure of the call */
    const char *body; /* borrowed */
    size_t body_len;
} fmt_response_t;

#define FMT_REQUEST_FIXED  (1u + 8u + 1u + 4u + FMT_HASH_LEN + 4u + 4u)
#define FMT_RESPONSE_FIXED (1u + 8u + 1u + 4u + 4u)

/* Error codes of the codec. */
enum {
    FMT_E_SHORT = -1,
    FMT_E_TOO_BIG = -2,
    FMT_E_KIND = -3,
    FMT_E_OP = -4,
    FMT_E_LENGTH = -5,
    FMT_E_STATUS = -6
};

/* Writes a whole frame (length prefix included) into buf. Returns its length, or
 * FMT_E_TOO_BIG when it does not fit in cap or exceeds FMT_FRAME_MAX. */
int fmt_request_encode(const fmt_request_t *r, uint8_t *buf, size_t cap);
int fmt_response_encode(const fmt_response_t *r, uint8_t *buf, size_t cap);

/* Finds the next frame in buf[0..len): returns 0 and sets payload, payload_len, frame_len
 * (prefix included) when a whole frame is there, FMT_E_SHORT when more bytes are needed,
 * FMT_E_TOO_BIG when the announced length exceeds FMT_FRAME_MAX (the stream is broken). */
int fmt_frame_next(const uint8_t *buf, size_t len, const uint8_t **payload, size_t *payload_len,
                   size_t *frame_len);

/* Decodes a frame's payload. Pointers in *out point into p. Returns 0, or FMT_E_SHORT /
 * FMT_E_KIND / FMT_E_OP / FMT_E_LENGTH / FMT_E_STATUS / FMT_E_TOO_BIG (a script or input
 * over its maximum). */
int fmt_request_decode(const uint8_t *p, size_t len, fmt_request_t *out);
int fmt_response_decode(const uint8_t *p, size_t len, fmt_response_t *out);

/* The scripts' inputs as JSON text, written into buf (NUL-terminated). Return the length
 * without the NUL, or FMT_E_TOO_BIG.
 *   uplink   {"bytes":[1,2],"fPort":1,"recvTime":"2026-..."}   (recv_time RFC 3339, NULL or
 *            not a plain RFC 3339 text: omitted, the wrapper then passes the epoch)
 *   downlink {"bytes":[...],"fPort":1}
 * data_json (encodeDownlink) is JSON text of an object, inserted as it is: the caller has
 * produced it with jansson. */
int fmt_input_uplink(const uint8_t *bytes, size_t len, uint8_t f_port, const char *recv_time,
                     char *buf, size_t cap);
int fmt_input_downlink_decode(const uint8_t *bytes, size_t len, uint8_t f_port, char *buf,
                              size_t cap);
int fmt_input_downlink_encode(const char *data_json, size_t data_len, uint8_t f_port, char *buf,
                              size_t cap);

/* TTS's wrapper (pkg/messageprocessors/javascript) around a script: the script, then the
 * entry points __lw_decode_uplink, __lw_encode_downlink, __lw_decode_downlink. The hash that
 * names a compiled script is SHA-256 over the script alone (the suffix never changes). */
extern const char fmt_wrapper_suffix[];

/* ---- normalized payloads (fmt_norm.c) ------------------------------------------------------ */

/* The Things Stack's normalized payload rules (pkg/messageprocessors/normalizedpayload):
 * measurements is an array; each must be an object of known fields (time RFC 3339, soil.*,
 * air.*, wind.*) of the right type. *valid (new) holds the measurements with their in-range
 * fields only (a measurement left empty is dropped); each value out of range is a warning
 * appended to warnings (NULL: none kept), worded as TTS ("measurement 1: `air.pressure`
 * should be equal or greater than `900`"). Returns 0, or -1 with why (an unknown field, a
 * wrong type, a bad time): then the payload is invalid as a whole. */
int fmt_norm_parse(const json_t *measurements, json_t **valid, json_t *warnings, char *why,
                   size_t why_len);

/* ---- CayenneLPP (cayenne.c, pure) ---------------------------------------------------------- */

/* Types of the Cayenne Low Power Payload, as TTS's go-cayenne-lib knows them. */
enum {
    CAYENNE_DIGITAL_IN = 0,
    CAYENNE_DIGITAL_OUT = 1,
    CAYENNE_ANALOG_IN = 2,
    CAYENNE_ANALOG_OUT = 3,
    CAYENNE_LUMINOSITY = 101,
    CAYENNE_PRESENCE = 102,
    CAYENNE_TEMPERATURE = 103,
    CAYENNE_HUMIDITY = 104,
    CAYENNE_ACCELEROMETER = 113,
    CAYENNE_BAROMETER = 115,
    CAYENNE_GYROMETER = 134,
    CAYENNE_GPS = 136,
};

typedef struct cayenne_value {
    uint8_t channel;
    uint8_t type;
    uint8_t n;   /* values used: 1, or 3 (accelerometer, gyrometer, gps) */
    double v[3]; /* scaled as TTS: temperature 0.1 °C, gps latitude/longitude/altitude ... */
} cayenne_value_t;

#define CAYENNE_MAX_VALUES 128u /* 255 bytes hold at most 85 three-byte entries */

enum { CAYENNE_E_TYPE = -1, CAYENNE_E_SHORT = -2, CAYENNE_E_FULL = -3 };

/* Uplink: [channel][type][value...]... Returns the number of values, or CAYENNE_E_TYPE (an
 * unknown type) / CAYENNE_E_SHORT (a value cut off) / CAYENNE_E_FULL (more than cap). */
int cayenne_decode_uplink(const uint8_t *p, size_t len, cayenne_value_t *out, size_t cap);

/* The key TTS uses: "<type>_<channel>" ("temperature_1"); NULL for an unknown type. Writes
 * into buf (at least 32 bytes). */
const char *cayenne_key(uint8_t type, uint8_t channel, char *buf, size_t cap);

/* Downlink (TTS's DecodeDownlink): [channel][int16 BE value*100]... up to a 0xFF channel;
 * values of type 0 (key "value_<channel>"). */
int cayenne_decode_downlink(const uint8_t *p, size_t len, cayenne_value_t *out, size_t cap);

/* Downlink encode as TTS (EncodeDownlink): for each "value_<channel>" a
 * [channel][int16 BE (int16)(value*100)]. Returns the bytes written or CAYENNE_E_FULL. */
int cayenne_encode_downlink(const cayenne_value_t *in, size_t n, uint8_t *buf, size_t cap);

/* Parses "<key>_<channel>" as TTS's parseName: the key before the last '_', a decimal
 * channel 0..255. Returns 0 and sets *key_len / *channel, or -1. */
int cayenne_parse_name(const char *name, size_t *key_len, uint8_t *channel);

/* ---- the pool of worker processes (fmt_pool.c) -------------------------------------------- */

typedef struct fmt_pool fmt_pool_t;

typedef struct fmt_pool_cfg {
    /* The worker's command line: argv[0] the executable (default: this process's own,
     * /proc/self/exe) and its arguments (default "formatter-worker"). NULL-terminated. */
    const char *const *argv;
    unsigned workers;        /* as.formatter.workers */
    uint32_t timeout_ms;     /* as.formatter.timeout: one call */
    uint64_t memory_limit;   /* as.formatter.memory-limit: bytes of resident memory */
    unsigned depth;          /* as.formatter.pipeline: calls in flight per worker */
    uint32_t slow_ms;        /* as.formatter.slow-call: a call longer isolates its app */
    unsigned queue_per_app;  /* as.formatter.application-queue */
    unsigned scripts_cached; /* as.formatter.scripts-per-worker */
} fmt_pool_cfg_t;

/* One call. status FMT_ST_OK: body is the result JSON; otherwise the error's message. body
 * valid during the callback only. */
typedef void (*fmt_pool_cb)(void *arg, fmt_status_t status, const char *body, size_t body_len);

/* Starts cfg->workers workers. Returns NULL with err set when the first cannot be spawned. */
fmt_pool_t *fmt_pool_new(uv_loop_t *loop, const fmt_pool_cfg_t *cfg, lw_err_t *err);

/* Queues one call for application app_key ("<tenant>/<application>"); the script and input
 * are copied. cb exactly once on the loop, never before this returns. Returns 0, or -1 when
 * the application's queue is full or the pool is closing (cb not called). */
int fmt_pool_call(fmt_pool_t *p, const char *app_key, fmt_op_t op, const uint8_t hash[32],
                  const char *script, size_t script_len, const char *input, size_t input_len,
                  fmt_pool_cb cb, void *arg);

/* Counters for tests and metrics. */
typedef struct fmt_pool_stats {
    uint64_t calls, ok, failed, timeouts, memory_kills, respawns, queue_full, scripts_sent;
} fmt_pool_stats_t;
void fmt_pool_stats(const fmt_pool_t *p, fmt_pool_stats_t *out);
/* Workers started and ready for calls. */
unsigned fmt_pool_ready(const fmt_pool_t *p);

/* Kills the workers, fails what is queued (FMT_ST_KILLED, "formatter pool stopped") and
 * frees the pool once every handle is closed; done(arg) then. */
void fmt_pool_close(fmt_pool_t *p, void (*done)(void *arg), void *arg);

/* ---- the worker process (fmt_worker.c) ----------------------------------------------------- */

/* `lwstack formatter-worker [--memory-limit BYTES] [--scripts N]`: serves requests on fd 0
 * until EOF. Exit statuses: 0 at EOF, FMT_EXIT_MEMORY over the memory limit. */
#define FMT_EXIT_MEMORY 87
int fmt_worker_main(int argc, char **argv);

/* ---- the module (fmt.c) -------------------------------------------------------------------- */

struct as;
struct as_fmt;

/* The configuration keys as.formatter.* and as.device-repository.path. */
extern const lw_cfg_opt_t fmt_config[];
extern const size_t fmt_config_len;

/* Creates the module from cfg, starts its pool and installs its ops (as_fmt_install) into
 * as; as->fmt holds it. Returns 0, or -1 with err set. */
int as_fmt_start(struct as *as, const lw_config_t *cfg, lw_err_t *err);

/* Uninstalls the ops, fails what is in flight, frees as->fmt; done(arg) once gone. */
void as_fmt_stop(struct as *as, void (*done)(void *arg), void *arg);

/* The module's state without the core (tests, the formatter test endpoint). */
typedef struct as_fmt as_fmt_t;
as_fmt_t *as_fmt_new(uv_loop_t *loop, const fmt_pool_cfg_t *pool_cfg, const char *repo_path,
                     lw_err_t *err);
void as_fmt_free(as_fmt_t *f, void (*done)(void *arg), void *arg);
fmt_pool_t *as_fmt_pool(as_fmt_t *f);
/* The ops the module installs, for callers without a core (tests). */
void as_fmt_get_ops(as_fmt_t *f, as_fmt_ops_t *out);

/* The same calls directly (the test endpoints, fmt_api.c); contracts as as_fmt_ops_t. */
void as_fmt_decode_uplink(as_fmt_t *f, const as_fmt_uplink_t *in, as_fmt_uplink_cb cb, void *arg);
void as_fmt_encode_downlink(as_fmt_t *f, const as_fmt_downlink_t *in, as_fmt_downlink_cb cb,
                            void *arg);

/* decodeDownlink: a downlink's FRMPayload to decoded_payload (+ warnings); the result as an
 * uplink's (normalized_payload NULL). */
typedef struct fmt_downlink_decode {
    const char *tenant_id, *app_id, *dev_id;
    as_formatter_t formatter;
    const json_t *version_ids;
    uint8_t f_port;
    const uint8_t *frm_payload;
    size_t frm_payload_len;
} fmt_downlink_decode_t;
void as_fmt_decode_downlink(as_fmt_t *f, const fmt_downlink_decode_t *in, as_fmt_uplink_cb cb,
                            void *arg);

/* The formatter test endpoints (fmt_api.c): POST .../up/decode, .../down/encode,
 * .../down/decode. Called from the core's as_api_routes. */
int as_fmt_api_routes(struct as *as);

/* A Device Repository codec (fmt_repo.c): section "uplinkDecoder", "downlinkEncoder" or
 * "downlinkDecoder". *script malloc'ed. Errors: no_version_identifiers,
 * repository_codec_not_found. */
int fmt_repo_script(const char *repo, const json_t *version_ids, const char *section, char **script,
                    size_t *len, lw_err_t *err);

#endif
