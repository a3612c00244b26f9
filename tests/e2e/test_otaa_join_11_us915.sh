#!/usr/bin/env bash
# Acceptance (issue 9): OTAA join of a LoRaWAN 1.1 device in US915 (FSB 2), two tenants, as
# test_otaa_join.sh checks the other cases: the join-accept in RX1/RX2 on the window's radio,
# verified by lora-packet, and the first uplink activating the session. Its uplinks' 1.1 MIC
# covers TxCh, the channel's index in the band (8..15 for FSB 2).
export E2E_JOIN_CONFIGS="1.1 US_902_928_FSB_2"
exec bash "$LWSTACK_SRC/tests/e2e/test_otaa_join.sh"
