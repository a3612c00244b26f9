/* components/gs: the Gateway Server (DESIGN.md §2, issue 9 items 2-5).
 *
 * It will connect gateways over Semtech UDP (gs.udp.listen, :1700) and LoRa Basics Station
 * (gs.basic-station.listen, :1887 / :8887), publish their uplinks on lw.gs.up, schedule the
 * downlinks of lw.gs.down and report TX results on lw.gs.txack. Today the folder holds only
 * the pure Semtech UDP codec (udp_codec_private.h); the component's public API (its
 * lw_component_t and its service) will be declared here when it exists. */
#ifndef GS_GS_H
#define GS_GS_H
#endif
