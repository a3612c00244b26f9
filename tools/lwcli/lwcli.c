/* lwcli: the command-line client for lwstack's HTTP API (see README.md next to this file). */
#include <stdlib.h>

#include "lwcli.h"

int main(int argc, char **argv)
{
    /* A NULL from jansson then means bad input, never memory. */
    json_set_alloc_funcs(lc_xmalloc, free);
    return lc_main(argc, argv);
}
