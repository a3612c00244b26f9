/* Private to band.c, band_tables.c and airtime.c: the shape of the regional-parameter
 * tables. Not installed, not included by lorawan.h. */
#ifndef LORAWAN_BAND_PRIVATE_H
#define LORAWAN_BAND_PRIVATE_H

#include <stdint.h>

#include "lorawan/band.h"

/* A max-payload entry that the revision does not define (the data rate is RFU). M = 0 is
 * different: the spec defines the data rate but marks its payload size "N/A". */
#define LORAWAN__M_RFU 0xffffu

enum lorawan__dr_kind {
    LORAWAN__DR_RFU = 0,
    LORAWAN__DR_LORA,
    LORAWAN__DR_FSK,
    LORAWAN__DR_FHSS,
};

#define LORAWAN__UP   1u
#define LORAWAN__DOWN 2u

typedef struct lorawan__dr_def {
    uint8_t kind; /* enum lorawan__dr_kind */
    uint8_t sf;   /* LoRa */
    uint8_t cr;   /* LR-FHSS: 1 = "1/3", 2 = "2/3" */
    uint8_t link; /* LORAWAN__UP | LORAWAN__DOWN */
    uint32_t hz;  /* LoRa bandwidth, LR-FHSS occupied channel width */
    uint32_t bps; /* FSK bit rate */
} lorawan__dr_def_t;

/* `count` channels first_hz, first_hz + step_hz, ... carrying DRs min_dr..max_dr. */
typedef struct lorawan__chgroup {
    uint32_t first_hz;
    uint32_t step_hz;
    uint8_t count;
    uint8_t min_dr;
    uint8_t max_dr;
} lorawan__chgroup_t;

enum lorawan__rx1_kind {
    LORAWAN__RX1_EU = 0, /* max(DR - offset, 0), offsets 0..5; EU868 LR-FHSS as DR1/DR2 */
    LORAWAN__RX1_TABLE,  /* rx1[dr][offset], -1 = undefined */
    LORAWAN__RX1_AS923,  /* RP002 AS923 effective offsets, dwell-time minimum */
};

/* The tables of one band over a contiguous range of revisions. */
typedef struct lorawan__era {
    lorawan_rp_rev_t from;
    lorawan_rp_rev_t to;          /* inclusive */
    const lorawan__dr_def_t *drs; /* 16 */
    const uint16_t *m;            /* 16: not repeater compatible, no dwell time */
    const uint16_t *m_rep;        /* 16: repeater compatible, no dwell time */
    const uint16_t *m_dwell;      /* 16 or NULL: no dwell-time table in this revision */
    const uint16_t *m_dwell_rep;  /* 16 or NULL */
    uint8_t rx1_kind;
    uint8_t rx1_max_offset;
    const int8_t (*rx1)[8]; /* LORAWAN__RX1_TABLE: 16 rows */
    const lorawan__chgroup_t *up;
    uint8_t n_up;
    const lorawan__chgroup_t *down; /* NULL: RX1 on the uplink channel */
    uint8_t n_down;
    uint8_t rx1_channel_mod; /* 0: identity */
} lorawan__era_t;

enum lorawan__chmask_kind {
    LORAWAN__CHMASK_EU = 0, /* ChMaskCntl 0 and 6 */
    LORAWAN__CHMASK_US,     /* US915 / AU915, 72 channels */
    LORAWAN__CHMASK_BLOCKS, /* blocks of 16 + "all on" (CN470 variants) */
};

struct lorawan_band {
    lorawan_band_id_t id;
    const char *name;
    const char *tts_id;
    lorawan_rp_rev_t min_rev;
    const lorawan__era_t *eras;
    uint8_t n_eras;
    uint8_t chmask_kind;
    uint8_t max_channels;
    bool dynamic;
    int32_t freq_offset_hz; /* AS923 groups: subtracted from every group 1 frequency */
    lorawan_rx2_t rx2;
    lorawan_beacon_params_t beacon;
    int32_t max_eirp_cdbm;
    uint8_t tx_power_max;
    const lorawan_sub_band_t *sub_bands;
    uint8_t n_sub_bands;
};

extern const lorawan_band_t lorawan__bands[LORAWAN_BAND_COUNT];

/* The era of `band` covering `rev`, or NULL when the band is not defined by it. */
const lorawan__era_t *lorawan__band_era(const lorawan_band_t *band, lorawan_rp_rev_t rev);

#endif
