/* Fuzz target: the configuration parser. The input is a YAML document loaded against the
 * runtime's real tables (db.*, http.*, bus.*, log.*); every value goes through validation.
 * The first line, when it starts with "--", is also tried as a flag. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/config.h"
#include "cluster/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lw_config_t *cfg = lw_config_new();
    lw_rt_config_register(cfg);
    lw_err_t err;
    lw_config_load_yaml(cfg, (const char *)data, size, "fuzz", &err);

    /* The same bytes as a flag line: "--key=value". */
    char line[256];
    size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
    memcpy(line, data, n);
    line[n] = '\0';
    char *nl = strchr(line, '\n');
    if (nl != NULL)
        *nl = '\0';
    char prog[] = "lwstack";
    char *argv[] = {prog, line, NULL};
    int argc = 2;
    lw_config_parse_flags(cfg, &argc, argv, &err);

    FILE *devnull = fopen("/dev/null", "w");
    if (devnull != NULL) {
        lw_config_print(cfg, devnull);
        fclose(devnull);
    }
    lw_config_free(cfg);
    return 0;
}
