/* tools/simulate: `lwstack simulate`, simulated Semtech UDP gateways and LoRaWAN devices
 * driven against a running stack, for operators (is my stack carrying frames?) and for
 * ops/bench and the e2e tests (tests/e2e/). `lwstack simulate --help` lists the options. */
#ifndef LW_SIMULATE_H
#define LW_SIMULATE_H

#include "cluster/config.h"

/* Runs the simulator with argv[1..argc-1] (argv[0] is the command name). cfg is lwstack's
 * configuration (not used for the data path: the simulator talks to a stack only through
 * its gateway and HTTP ports). Returns the exit status: 0 when the run completed (whatever
 * came back: the summary says), 1 when it could not run (socket, API or keys-file
 * failure), 2 for a usage error. */
int lw_simulate_main(lw_config_t *cfg, int argc, char **argv);

#endif
