/* A simulated device's frames: data uplinks, join-requests, join-accepts and data downlinks
 * with their MAC commands, built and checked with components/lorawan. Pure but for the
 * OpenSSL key contexts the library allocates (lorawan_key_init), made and dropped per call:
 * the simulator keeps raw keys only, so a fleet of 100,000 devices costs little memory. */
#include <string.h>

#include "sim_private.h"

const char *sim_strerror(int err)
{
    switch (err) {
    case SIM_E_NOT_MINE:
        return "not_mine";
    case SIM_E_FCNT:
        return "f_cnt_replay";
    case SIM_E_MALFORMED:
        return "malformed";
    case SIM_E_STATE:
        return "no_session";
    default:
        return lorawan_strerror(err);
    }
}

/* ---- versions ---------------------------------------------------------------------------- */

static const struct {
    const char *name, *tts, *phy;
    lorawan_rp_rev_t rev;
} sim_versions[] = {
    [SIM_MAC_1_0_2] = {"1.0.2", "MAC_V1_0_2", "PHY_V1_0_2_REV_B", LORAWAN_RP001_1_0_2_B},
    [SIM_MAC_1_0_3] = {"1.0.3", "MAC_V1_0_3", "PHY_V1_0_3_REV_A", LORAWAN_RP001_1_0_3_A},
    [SIM_MAC_1_0_4] = {"1.0.4", "MAC_V1_0_4", "RP002_V1_0_3", LORAWAN_RP002_1_0_3},
    [SIM_MAC_1_1] = {"1.1", "MAC_V1_1", "PHY_V1_1_REV_B", LORAWAN_RP001_1_1_B},
};

int sim_mac_version_parse(const char *s, sim_mac_version_t *out)
{
    for (size_t i = 0; i < sizeof sim_versions / sizeof sim_versions[0]; i++)
        if (strcmp(s, sim_versions[i].name) == 0 || strcmp(s, sim_versions[i].tts) == 0) {
            *out = (sim_mac_version_t)i;
            return 0;
        }
    return LORAWAN_E_PARAM;
}

const char *sim_versions_name(sim_mac_version_t v)
{
    return sim_versions[v].name;
}

const char *sim_mac_version_tts(sim_mac_version_t v)
{
    return sim_versions[v].tts;
}

const char *sim_phy_version_tts(sim_mac_version_t v)
{
    return sim_versions[v].phy;
}

lorawan_rp_rev_t sim_phy_rev(sim_mac_version_t v)
{
    return sim_versions[v].rev;
}

void sim_dev_session_defaults(sim_dev_t *d, uint8_t rx1_delay_s, uint32_t rx2_freq_hz,
                              uint8_t rx2_dr)
{
    d->rx1_delay_s = rx1_delay_s == 0 ? 1 : rx1_delay_s;
    d->rx1_dr_offset = 0;
    d->rx2_freq_hz = rx2_freq_hz;
    d->rx2_dr = rx2_dr;
    d->nb_trans = 1;
}

/* ---- keys --------------------------------------------------------------------------------- */

/* Runs one MIC or cipher step with raw keys: the contexts live for the call only. */
typedef struct sim_keys {
    lorawan_key_t k[2];
    int n;
} sim_keys_t;

static int keys_init(sim_keys_t *ks, const uint8_t *a, const uint8_t *b)
{
    memset(ks, 0, sizeof *ks);
    int rc = lorawan_key_init(&ks->k[0], a);
    if (rc != 0)
        return rc;
    ks->n = 1;
    if (b != NULL) {
        rc = lorawan_key_init(&ks->k[1], b);
        if (rc != 0)
            return rc;
        ks->n = 2;
    }
    return 0;
}

static void keys_destroy(sim_keys_t *ks)
{
    for (int i = 0; i < ks->n; i++)
        lorawan_key_destroy(&ks->k[i]);
    ks->n = 0;
}

static int payload_crypt(const uint8_t key[LORAWAN_KEY_LEN], bool downlink, uint32_t dev_addr,
                         uint32_t fcnt, const uint8_t *in, size_t len, uint8_t *out)
{
    sim_keys_t ks;
    int rc = keys_init(&ks, key, NULL);
    if (rc == 0)
        lorawan_payload_encrypt(&ks.k[0], downlink, dev_addr, fcnt, in, len, out);
    keys_destroy(&ks);
    return rc;
}

static int fopts_crypt(const sim_dev_t *d, bool downlink, bool a_fcnt_down, uint32_t fcnt,
                       uint8_t *buf, size_t len)
{
    if (len == 0)
        return 0;
    sim_keys_t ks;
    int rc = keys_init(&ks, d->nwk_s_enc_key, NULL);
    if (rc == 0)
        rc = lorawan_fopts_encrypt(&ks.k[0], downlink, a_fcnt_down, d->dev_addr, fcnt, buf, len,
                                   buf);
    keys_destroy(&ks);
    return rc;
}

/* ---- uplinks ------------------------------------------------------------------------------ */

/* RekeyInd / ResetInd take 2 bytes of FOpts while they are due: answers leave room. */
static size_t mac_room(const sim_dev_t *d)
{
    size_t reserved = (d->rekey_ind || d->reset_ind) ? 2u : 0u;
    return LORAWAN_FOPTS_MAX_LEN - reserved - d->mac_out_len;
}

int sim_dev_queue_mac(sim_dev_t *d, const lorawan_mac_cmd_t *cmd)
{
    uint8_t buf[LORAWAN_FOPTS_MAX_LEN];
    size_t n = 0;
    int rc = lorawan_mac_cmds_encode(cmd, 1, buf, sizeof buf, &n);
    if (rc != 0)
        return rc;
    if (n > mac_room(d))
        return LORAWAN_E_BUF;
    memcpy(d->mac_out + d->mac_out_len, buf, n);
    d->mac_out_len = (uint8_t)(d->mac_out_len + n);
    return 0;
}

int sim_uplink_build(sim_dev_t *d, const sim_uplink_t *up, uint8_t *out, size_t cap, size_t *len)
{
    if (!d->active)
        return SIM_E_STATE;
    if (up->payload_len > SIM_MAX_PAYLOAD || (up->has_fport && up->fport == 0))
        return LORAWAN_E_PARAM;
    uint32_t fcnt = d->f_cnt_up;

    /* FOpts: RekeyInd / ResetInd (LoRaWAN 1.1 §5.9, §5.10: in every uplink until the
     * network confirms), then the answers to the last downlink's commands. */
    uint8_t fopts[LORAWAN_FOPTS_MAX_LEN];
    size_t fopts_len = 0;
    if (d->rekey_ind || d->reset_ind) {
        lorawan_mac_cmd_t ind = {.cid = d->rekey_ind ? LORAWAN_CID_REKEY : LORAWAN_CID_RESET,
                                 .uplink = true};
        ind.u.rekey.minor = 1; /* LoRaWAN 1.1 */
        int rc = lorawan_mac_cmds_encode(&ind, 1, fopts, sizeof fopts, &fopts_len);
        if (rc != 0)
            return rc;
    }
    memcpy(fopts + fopts_len, d->mac_out, d->mac_out_len);
    fopts_len += d->mac_out_len;
    if (d->opt_neg) {
        int rc = fopts_crypt(d, false, false, fcnt, fopts, fopts_len);
        if (rc != 0)
            return rc;
    }

    uint8_t frm[SIM_MAX_PAYLOAD];
    if (up->has_fport && up->payload_len > 0) {
        int rc = payload_crypt(d->app_s_key, false, d->dev_addr, fcnt, up->payload, up->payload_len,
                               frm);
        if (rc != 0)
            return rc;
    }

    lorawan_phy_t phy;
    memset(&phy, 0, sizeof phy);
    phy.mtype = up->confirmed ? LORAWAN_MTYPE_CONFIRMED_DATA_UP : LORAWAN_MTYPE_UNCONFIRMED_DATA_UP;
    phy.major = LORAWAN_MAJOR_R1;
    lorawan_data_t *m = &phy.u.data;
    m->dev_addr = d->dev_addr;
    m->fctrl.adr = up->adr;
    m->fctrl.ack = d->ack_next;
    m->fcnt16 = (uint16_t)(fcnt & 0xffffu);
    m->fopts = fopts;
    m->fopts_len = fopts_len;
    m->has_fport = up->has_fport;
    m->fport = up->fport;
    m->frm_payload = frm;
    m->frm_payload_len = up->has_fport ? up->payload_len : 0;
    int rc = lorawan_phy_encode(&phy, out, cap, len);
    if (rc != 0)
        return rc;

    sim_keys_t ks;
    uint8_t mic[LORAWAN_MIC_LEN];
    if (d->opt_neg) {
        rc = keys_init(&ks, d->f_nwk_s_int_key, d->s_nwk_s_int_key);
        if (rc == 0)
            rc = lorawan_mic_data_up_11(&ks.k[0], &ks.k[1], out, *len - LORAWAN_MIC_LEN, fcnt,
                                        d->ack_next ? d->ack_f_cnt_down : 0, up->tx_dr, up->tx_ch,
                                        mic);
    } else {
        rc = keys_init(&ks, d->f_nwk_s_int_key, NULL);
        if (rc == 0)
            rc = lorawan_mic_data_up_10(&ks.k[0], out, *len - LORAWAN_MIC_LEN, fcnt, mic);
    }
    keys_destroy(&ks);
    if (rc != 0)
        return rc;
    memcpy(out + *len - LORAWAN_MIC_LEN, mic, LORAWAN_MIC_LEN);

    if (up->confirmed)
        d->last_conf_f_cnt_up = fcnt;
    d->f_cnt_up = fcnt + 1;
    d->ack_next = false;
    d->mac_out_len = 0;
    return 0;
}

/* ---- joins -------------------------------------------------------------------------------- */

/* LoRaWAN 1.1 §6.2.2: a 1.1 device signs join-requests with NwkKey, 1.0.x with AppKey. */
static const uint8_t *join_root_key(const sim_dev_t *d)
{
    return d->version == SIM_MAC_1_1 ? d->nwk_key : d->app_key;
}

int sim_join_request_build(sim_dev_t *d, uint8_t *out, size_t cap, size_t *len)
{
    lorawan_phy_t phy;
    memset(&phy, 0, sizeof phy);
    phy.mtype = LORAWAN_MTYPE_JOIN_REQUEST;
    phy.major = LORAWAN_MAJOR_R1;
    phy.u.join_request.join_eui = d->join_eui;
    phy.u.join_request.dev_eui = d->dev_eui;
    phy.u.join_request.dev_nonce = d->dev_nonce;
    int rc = lorawan_phy_encode(&phy, out, cap, len);
    if (rc != 0)
        return rc;
    sim_keys_t ks;
    uint8_t mic[LORAWAN_MIC_LEN];
    rc = keys_init(&ks, join_root_key(d), NULL);
    if (rc == 0)
        rc = lorawan_mic_join_request(&ks.k[0], out, *len - LORAWAN_MIC_LEN, mic);
    keys_destroy(&ks);
    if (rc != 0)
        return rc;
    memcpy(out + *len - LORAWAN_MIC_LEN, mic, LORAWAN_MIC_LEN);
    d->join_dev_nonce = d->dev_nonce;
    d->dev_nonce = (uint16_t)(d->dev_nonce + 1);
    d->join_pending = true;
    return 0;
}

int sim_join_accept_handle(sim_dev_t *d, const uint8_t *phy, size_t len, sim_join_result_t *res)
{
    if (!d->join_pending)
        return SIM_E_NOT_MINE;
    if (len != LORAWAN_JOIN_ACCEPT_LEN && len != LORAWAN_JOIN_ACCEPT_CFLIST_LEN)
        return LORAWAN_E_JA_LEN;
    if ((phy[0] >> 5) != LORAWAN_MTYPE_JOIN_ACCEPT)
        return SIM_E_NOT_MINE;
    uint8_t plain[LORAWAN_JOIN_ACCEPT_CFLIST_LEN];
    sim_keys_t ks;
    int rc = keys_init(&ks, join_root_key(d), NULL);
    if (rc == 0)
        rc = lorawan_join_accept_decrypt(&ks.k[0], phy, len, plain, sizeof plain);
    keys_destroy(&ks);
    if (rc != 0)
        return rc;
    lorawan_join_accept_t ja;
    rc = lorawan_join_accept_parse(plain, len, &ja);
    if (rc != 0)
        return rc;

    /* LoRaWAN 1.1 §6.2.3: OptNeg set by a 1.1 network → MIC with JSIntKey over
     * JoinReqType | JoinEUI | DevNonce | MHDR..CFList, and 1.1 session keys. A 1.0.x device
     * ignores the bit (RFU). */
    bool opt_neg = d->version == SIM_MAC_1_1 && ja.opt_neg;
    uint8_t mic[LORAWAN_MIC_LEN];
    if (opt_neg) {
        uint8_t js_int_key[LORAWAN_KEY_LEN];
        rc = keys_init(&ks, d->nwk_key, NULL);
        if (rc == 0)
            rc = lorawan_derive_js_keys(&ks.k[0], d->dev_eui, js_int_key, NULL);
        keys_destroy(&ks);
        if (rc == 0)
            rc = keys_init(&ks, js_int_key, NULL);
        if (rc == 0)
            rc = lorawan_mic_join_accept_11(&ks.k[0], LORAWAN_JOIN_REQ_TYPE_JOIN, d->join_eui,
                                            d->join_dev_nonce, plain, len - LORAWAN_MIC_LEN, mic);
        keys_destroy(&ks);
        memset(js_int_key, 0, sizeof js_int_key);
    } else {
        rc = keys_init(&ks, join_root_key(d), NULL);
        if (rc == 0)
            rc = lorawan_mic_join_accept_10(&ks.k[0], plain, len - LORAWAN_MIC_LEN, mic);
        keys_destroy(&ks);
    }
    if (rc != 0)
        return rc;
    rc = lorawan_mic_check(mic, plain, len);
    if (rc != 0)
        return rc;

    uint8_t nwk[LORAWAN_KEY_LEN], app[LORAWAN_KEY_LEN];
    lorawan_keys_11_t k11;
    if (opt_neg) {
        rc = keys_init(&ks, d->nwk_key, d->app_key);
        if (rc == 0)
            rc = lorawan_derive_keys_11(&ks.k[0], &ks.k[1], ja.join_nonce, d->join_eui,
                                        d->join_dev_nonce, &k11);
    } else {
        /* 1.0.x from AppKey; 1.1 without OptNeg from NwkKey, both keys (1.1 §6.2.3). */
        rc = keys_init(&ks, join_root_key(d), NULL);
        if (rc == 0)
            rc = lorawan_derive_keys_10(&ks.k[0], ja.join_nonce, ja.net_id, d->join_dev_nonce, nwk,
                                        app);
    }
    keys_destroy(&ks);
    if (rc != 0)
        return rc;

    if (res != NULL) {
        memset(res, 0, sizeof *res);
        res->join_nonce = ja.join_nonce;
        res->net_id = ja.net_id;
        res->dev_addr = ja.dev_addr;
        res->opt_neg = ja.opt_neg;
        res->rx1_dr_offset = ja.rx1_dr_offset;
        res->rx2_dr = ja.rx2_data_rate;
        res->rx_delay = ja.rx_delay;
        res->has_cflist = ja.cflist != NULL;
        if (ja.cflist != NULL)
            memcpy(res->cflist, ja.cflist, LORAWAN_CFLIST_LEN);
    }
    if (opt_neg) {
        memcpy(d->f_nwk_s_int_key, k11.f_nwk_s_int_key, LORAWAN_KEY_LEN);
        memcpy(d->s_nwk_s_int_key, k11.s_nwk_s_int_key, LORAWAN_KEY_LEN);
        memcpy(d->nwk_s_enc_key, k11.nwk_s_enc_key, LORAWAN_KEY_LEN);
        memcpy(d->app_s_key, k11.app_s_key, LORAWAN_KEY_LEN);
    } else {
        memcpy(d->f_nwk_s_int_key, nwk, LORAWAN_KEY_LEN);
        memcpy(d->s_nwk_s_int_key, nwk, LORAWAN_KEY_LEN);
        memcpy(d->nwk_s_enc_key, nwk, LORAWAN_KEY_LEN);
        memcpy(d->app_s_key, app, LORAWAN_KEY_LEN);
    }
    memset(&k11, 0, sizeof k11);
    memset(nwk, 0, sizeof nwk);
    memset(app, 0, sizeof app);
    d->dev_addr = ja.dev_addr;
    d->active = true;
    d->opt_neg = opt_neg;
    d->join_pending = false;
    d->f_cnt_up = 0;
    d->has_n_f_cnt_down = d->has_a_f_cnt_down = false;
    d->n_f_cnt_down = d->a_f_cnt_down = 0;
    d->rx1_delay_s = ja.rx_delay == 0 ? 1 : ja.rx_delay; /* LoRaWAN 1.0.4 §5.7: 0 means 1 s */
    d->rx1_dr_offset = ja.rx1_dr_offset;
    d->rx2_dr = ja.rx2_data_rate;
    d->mac_out_len = 0;
    d->ack_next = false;
    d->rekey_ind = opt_neg;
    d->reset_ind = false;
    return 0;
}

/* ---- downlinks ---------------------------------------------------------------------------- */

/* Answers one network command (or records an answer the network gave) on d. */
static void mac_answer(sim_dev_t *d, const lorawan_mac_cmd_t *c)
{
    lorawan_mac_cmd_t ans;
    memset(&ans, 0, sizeof ans);
    ans.cid = c->cid;
    ans.uplink = true;
    bool answer = true;
    switch (c->cid) {
    case LORAWAN_CID_LINK_ADR:
        ans.u.link_adr_ans.power_ack = true;
        ans.u.link_adr_ans.data_rate_ack = true;
        ans.u.link_adr_ans.channel_mask_ack = true;
        /* 0xF keeps the current value (LoRaWAN 1.0.4 §5.3). */
        if (c->u.link_adr_req.data_rate != 0xf)
            d->dr = c->u.link_adr_req.data_rate;
        if (c->u.link_adr_req.tx_power != 0xf)
            d->tx_power = c->u.link_adr_req.tx_power;
        d->nb_trans = c->u.link_adr_req.nb_trans == 0 ? 1 : c->u.link_adr_req.nb_trans;
        break;
    case LORAWAN_CID_RX_PARAM_SETUP:
        ans.u.rx_param_setup_ans.rx1_dr_offset_ack = true;
        ans.u.rx_param_setup_ans.rx2_data_rate_ack = true;
        ans.u.rx_param_setup_ans.channel_ack = true;
        d->rx1_dr_offset = c->u.rx_param_setup_req.rx1_dr_offset;
        d->rx2_dr = c->u.rx_param_setup_req.rx2_data_rate;
        d->rx2_freq_hz = c->u.rx_param_setup_req.frequency_hz;
        break;
    case LORAWAN_CID_DEV_STATUS:
        ans.u.dev_status_ans.battery = 255; /* "not able to measure" (1.0.4 §5.5) */
        ans.u.dev_status_ans.margin = 10;
        break;
    case LORAWAN_CID_NEW_CHANNEL:
        ans.u.new_channel_ans.data_rate_range_ok = true;
        ans.u.new_channel_ans.channel_frequency_ok = true;
        break;
    case LORAWAN_CID_DL_CHANNEL:
        ans.u.dl_channel_ans.uplink_frequency_exists = true;
        ans.u.dl_channel_ans.channel_frequency_ok = true;
        break;
    case LORAWAN_CID_RX_TIMING_SETUP:
        d->rx1_delay_s = c->u.rx_timing_setup_req.delay == 0 ? 1 : c->u.rx_timing_setup_req.delay;
        break;
    case LORAWAN_CID_REJOIN_PARAM_SETUP:
        ans.u.rejoin_param_setup_ans.time_ok = true;
        break;
    case LORAWAN_CID_DUTY_CYCLE:
    case LORAWAN_CID_TX_PARAM_SETUP:
    case LORAWAN_CID_ADR_PARAM_SETUP:
        break;
    case LORAWAN_CID_REKEY:
        d->rekey_ind = false;
        answer = false;
        break;
    case LORAWAN_CID_RESET:
        d->reset_ind = false;
        answer = false;
        break;
    case LORAWAN_CID_LINK_CHECK:
        d->has_link_check = true;
        d->link_check_margin = c->u.link_check_ans.margin;
        d->link_check_gw_cnt = c->u.link_check_ans.gw_cnt;
        answer = false;
        break;
    case LORAWAN_CID_DEVICE_TIME:
        d->has_device_time = true;
        d->device_time_gps_s = c->u.device_time_ans.gps_seconds;
        answer = false;
        break;
    default:
        answer = false; /* class B, ForceRejoinReq, DeviceModeConf: not simulated */
        break;
    }
    if (answer)
        (void)sim_dev_queue_mac(d, &ans); /* no room: dropped, as a device would */
}

int sim_downlink_handle(sim_dev_t *d, const uint8_t *buf, size_t len, sim_downlink_t *out)
{
    lorawan_phy_t phy;
    int rc = lorawan_phy_decode(buf, len, &phy);
    if (rc != 0)
        return rc;
    bool uplink = true;
    if (!lorawan_mtype_is_data(phy.mtype, &uplink) || uplink)
        return SIM_E_NOT_MINE;
    const lorawan_data_t *m = &phy.u.data;
    if (m->dev_addr != d->dev_addr)
        return SIM_E_NOT_MINE;
    if (!d->active)
        return SIM_E_STATE;

    /* LoRaWAN 1.1 §4.3.1.5: application downlinks count AFCntDown, the rest NFCntDown;
     * 1.0.x has one FCntDown (kept in n_f_cnt_down). */
    bool app_cnt = d->opt_neg && m->has_fport && m->fport > 0;
    bool has_last = app_cnt ? d->has_a_f_cnt_down : d->has_n_f_cnt_down;
    uint32_t last = app_cnt ? d->a_f_cnt_down : d->n_f_cnt_down;
    uint32_t fcnt = 0;
    rc = lorawan_fcnt_expand(has_last ? last : 0, m->fcnt16, &fcnt);
    if (rc != 0)
        return rc;

    sim_keys_t ks;
    uint8_t mic[LORAWAN_MIC_LEN];
    rc = keys_init(&ks, d->opt_neg ? d->s_nwk_s_int_key : d->f_nwk_s_int_key, NULL);
    if (rc == 0)
        rc = lorawan_mic_data_down(&ks.k[0], buf, len - LORAWAN_MIC_LEN, fcnt,
                                   d->opt_neg && m->fctrl.ack ? d->last_conf_f_cnt_up : 0, mic);
    keys_destroy(&ks);
    if (rc != 0)
        return rc;
    rc = lorawan_mic_check(mic, buf, len);
    if (rc != 0)
        return rc;
    if (has_last && fcnt <= last)
        return SIM_E_FCNT;

    memset(out, 0, sizeof *out);
    out->confirmed = phy.mtype == LORAWAN_MTYPE_CONFIRMED_DATA_DOWN;
    out->ack = m->fctrl.ack;
    out->f_pending = m->fctrl.f_pending;
    out->f_cnt = fcnt;
    out->has_fport = m->has_fport;
    out->fport = m->fport;

    uint8_t mac[SIM_MAX_PAYLOAD];
    size_t mac_len = 0;
    if (m->has_fport && m->frm_payload_len > SIM_MAX_PAYLOAD)
        return LORAWAN_E_LONG;
    if (m->has_fport && m->fport == 0) {
        rc = payload_crypt(d->nwk_s_enc_key, true, d->dev_addr, fcnt, m->frm_payload,
                           m->frm_payload_len, mac);
        mac_len = m->frm_payload_len;
    } else {
        memcpy(mac, m->fopts, m->fopts_len);
        mac_len = m->fopts_len;
        if (d->opt_neg)
            rc = fopts_crypt(d, true, app_cnt, fcnt, mac, mac_len);
        if (rc == 0 && m->has_fport && m->frm_payload_len > 0)
            rc = payload_crypt(d->app_s_key, true, d->dev_addr, fcnt, m->frm_payload,
                               m->frm_payload_len, out->payload);
        out->payload_len = m->frm_payload_len;
    }
    if (rc != 0)
        return rc;
    size_t consumed = 0;
    /* A command the device cannot read ends the list (LoRaWAN 1.0.4 §5): what came before
     * still counts. */
    (void)lorawan_mac_cmds_decode(mac, mac_len, false, out->mac, SIM_MAX_MAC, &out->n_mac,
                                  &consumed);

    if (app_cnt) {
        d->a_f_cnt_down = fcnt;
        d->has_a_f_cnt_down = true;
    } else {
        d->n_f_cnt_down = fcnt;
        d->has_n_f_cnt_down = true;
    }
    /* A new downlink supersedes answers still waiting for the last one. */
    d->mac_out_len = 0;
    for (size_t i = 0; i < out->n_mac; i++)
        mac_answer(d, &out->mac[i]);
    d->ack_next = out->confirmed;
    d->ack_f_cnt_down = fcnt;
    return 0;
}
