/* lorawan_cli: `lwstack lorawan ...`, LoRaWAN tools for operators on top of
 * components/lorawan. A library of its own (components/lorawan/cli/CMakeLists.txt) because
 * it prints JSON with jansson, while the lorawan library depends on libcrypto only. */
#ifndef LORAWAN_CLI_H
#define LORAWAN_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Runs `lwstack lorawan SUBCOMMAND ...`; argv[0] is "lorawan". Subcommands:
 *
 *   decode HEX [--lorawan-version V] [--nwk-s-key K | --f-nwk-s-int-key K
 *              --s-nwk-s-int-key K] [--nwk-s-enc-key K] [--app-s-key K] [--app-key K]
 *              [--nwk-key K] [--fcnt N] [--conf-fcnt N] [--tx-dr N] [--tx-ch N]
 *
 * prints the frame as JSON on stdout: its fields, the MAC commands it carries, mic_valid
 * when the keys for the MIC are given, and the decrypted payload when the key for it is
 * given (a join-accept is decrypted with --app-key, or --nwk-key for LoRaWAN 1.1). Keys are
 * never printed, not even in error messages.
 * Returns the exit status: 0, 1 for bad hex or an undecodable frame (one message on
 * stderr), 2 for usage errors. */
int lorawan_cli_main(int argc, char **argv);

/* JSON of frame fields, shared by the tools that print frames (decode, the vector runner in
 * tests/vectors): obj[name] = the lowercase hex of b[0..len) (len at most
 * LORAWAN_PHY_MAX_LEN), or of the low `bytes` (at most 8) bytes of v in big-endian (human)
 * order, as EUIs and DevAddrs are written. */
void lorawan_cli_json_hex(json_t *obj, const char *name, const uint8_t *b, size_t len);
void lorawan_cli_json_be(json_t *obj, const char *name, uint64_t v, size_t bytes);

#endif
