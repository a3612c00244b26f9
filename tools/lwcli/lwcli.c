/* lwcli: the command-line client for lwstack's HTTP API (see README.md next to this file). */
#include "lwcli.h"

int main(int argc, char **argv)
{
    return lc_main(argc, argv);
}
