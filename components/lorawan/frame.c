/* PHYPayload decoding and encoding (LoRaWAN 1.0.4 §4, 1.1 §4 and §6.2). The decoder
 * returns views into the caller's buffer; nothing is copied except fixed-size fields. */
#include <string.h>

#include "lorawan/lorawan.h"
#include "lorawan/wire_private.h"

/* LoRaWAN 1.0.4 §4.3.1: FHDR = DevAddr(4) FCtrl(1) FCnt(2) FOpts(0..15). */
#define FHDR_MIN_LEN 7u

static const char *const mtype_names[8] = {
    "JoinRequest",     "JoinAccept",        "UnconfirmedDataUp", "UnconfirmedDataDown",
    "ConfirmedDataUp", "ConfirmedDataDown", "RejoinRequest",     "Proprietary",
};

const char *lorawan_mtype_name(lorawan_mtype_t mtype)
{
    if ((unsigned)mtype > 7)
        return "Unknown";
    return mtype_names[mtype];
}

bool lorawan_mtype_is_data(lorawan_mtype_t mtype, bool *uplink)
{
    switch (mtype) {
    case LORAWAN_MTYPE_UNCONFIRMED_DATA_UP:
    case LORAWAN_MTYPE_CONFIRMED_DATA_UP:
        if (uplink != NULL)
            *uplink = true;
        return true;
    case LORAWAN_MTYPE_UNCONFIRMED_DATA_DOWN:
    case LORAWAN_MTYPE_CONFIRMED_DATA_DOWN:
        if (uplink != NULL)
            *uplink = false;
        return true;
    default:
        return false;
    }
}

static int decode_data(const uint8_t *mac, size_t mac_len, bool uplink, lorawan_data_t *d)
{
    uint8_t fctrl = mac[4];
    d->dev_addr = lorawan__get_le(mac, 4);
    d->fctrl.adr = (fctrl & LORAWAN_FCTRL_ADR) != 0;
    d->fctrl.ack = (fctrl & LORAWAN_FCTRL_ACK) != 0;
    d->fctrl.adr_ack_req = uplink && (fctrl & LORAWAN_FCTRL_ADR_ACK_REQ) != 0;
    d->fctrl.class_b = uplink && (fctrl & LORAWAN_FCTRL_CLASS_B) != 0;
    d->fctrl.f_pending = !uplink && (fctrl & LORAWAN_FCTRL_F_PENDING) != 0;
    d->fctrl.fopts_len = fctrl & LORAWAN_FCTRL_FOPTS_LEN;
    d->fcnt16 = (uint16_t)lorawan__get_le(mac + 5, 2);
    size_t fopts_len = d->fctrl.fopts_len;
    if (FHDR_MIN_LEN + fopts_len > mac_len)
        return LORAWAN_E_FOPTS_LEN;
    d->fopts = mac + FHDR_MIN_LEN;
    d->fopts_len = fopts_len;
    size_t rest = mac_len - FHDR_MIN_LEN - fopts_len;
    d->has_fport = rest > 0;
    d->fport = 0;
    d->frm_payload = NULL;
    d->frm_payload_len = 0;
    if (rest > 0) {
        d->fport = mac[FHDR_MIN_LEN + fopts_len];
        d->frm_payload = mac + FHDR_MIN_LEN + fopts_len + 1;
        d->frm_payload_len = rest - 1;
        /* LoRaWAN 1.0.4 §4.3.1.6: MAC commands are never in FOpts and FRMPayload at once. */
        if (d->fport == 0 && fopts_len > 0)
            return LORAWAN_E_FPORT0_FOPTS;
    }
    return 0;
}

int lorawan_phy_decode(const uint8_t *buf, size_t len, lorawan_phy_t *out)
{
    if (buf == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    if (len == 0)
        return LORAWAN_E_SHORT;
    if (len > LORAWAN_PHY_MAX_LEN)
        return LORAWAN_E_LONG;
    memset(out, 0, sizeof(*out));
    out->mhdr = buf[0];
    out->mtype = (lorawan_mtype_t)(buf[0] >> 5);
    out->major = buf[0] & 0x03;
    if (out->major != LORAWAN_MAJOR_R1)
        return LORAWAN_E_MAJOR;
    out->mac_payload = buf + 1;
    out->mac_payload_len = len - 1;

    switch (out->mtype) {
    case LORAWAN_MTYPE_JOIN_ACCEPT:
        /* Encrypted as a whole, MIC included: the caller decrypts then parses. */
        if (len != LORAWAN_JOIN_ACCEPT_LEN && len != LORAWAN_JOIN_ACCEPT_CFLIST_LEN)
            return LORAWAN_E_JA_LEN;
        return 0;
    case LORAWAN_MTYPE_PROPRIETARY:
        return 0;
    default:
        break;
    }

    /* Every other MType ends with a MIC. */
    if (len < LORAWAN_MHDR_LEN + LORAWAN_MIC_LEN)
        return LORAWAN_E_SHORT;
    out->mac_payload_len = len - LORAWAN_MHDR_LEN - LORAWAN_MIC_LEN;
    memcpy(out->mic, buf + len - LORAWAN_MIC_LEN, LORAWAN_MIC_LEN);
    const uint8_t *mac = out->mac_payload;
    size_t mac_len = out->mac_payload_len;

    switch (out->mtype) {
    case LORAWAN_MTYPE_JOIN_REQUEST:
        if (len < LORAWAN_JOIN_REQUEST_LEN)
            return LORAWAN_E_SHORT;
        if (len > LORAWAN_JOIN_REQUEST_LEN)
            return LORAWAN_E_LONG;
        out->u.join_request.join_eui = lorawan__get_le64(mac);
        out->u.join_request.dev_eui = lorawan__get_le64(mac + 8);
        out->u.join_request.dev_nonce = (uint16_t)lorawan__get_le(mac + 16, 2);
        return 0;
    case LORAWAN_MTYPE_REJOIN_REQUEST: {
        /* LoRaWAN 1.1 §6.2.4.1 / §6.2.4.2. */
        if (mac_len < 1)
            return LORAWAN_E_SHORT;
        lorawan_rejoin_request_t *r = &out->u.rejoin;
        r->rejoin_type = mac[0];
        if (r->rejoin_type > 2)
            return LORAWAN_E_REJOIN_TYPE;
        size_t want = r->rejoin_type == 1 ? LORAWAN_REJOIN_1_LEN : LORAWAN_REJOIN_02_LEN;
        if (len < want)
            return LORAWAN_E_SHORT;
        if (len > want)
            return LORAWAN_E_LONG;
        if (r->rejoin_type == 1) {
            r->join_eui = lorawan__get_le64(mac + 1);
            r->dev_eui = lorawan__get_le64(mac + 9);
            r->rj_count = (uint16_t)lorawan__get_le(mac + 17, 2);
        } else {
            r->net_id = lorawan__get_le(mac + 1, 3);
            r->dev_eui = lorawan__get_le64(mac + 4);
            r->rj_count = (uint16_t)lorawan__get_le(mac + 12, 2);
        }
        return 0;
    }
    default: {
        bool uplink = false;
        (void)lorawan_mtype_is_data(out->mtype, &uplink);
        if (len < LORAWAN_DATA_MIN_LEN)
            return LORAWAN_E_SHORT;
        return decode_data(mac, mac_len, uplink, &out->u.data);
    }
    }
}

static int encode_data(const lorawan_data_t *d, bool uplink, uint8_t *p, size_t room, size_t *n)
{
    if (d->fopts_len > LORAWAN_FOPTS_MAX_LEN || (d->has_fport && d->fport == 0 && d->fopts_len))
        return LORAWAN_E_RANGE;
    if ((d->fopts_len > 0 && d->fopts == NULL) ||
        (d->has_fport && d->frm_payload_len > 0 && d->frm_payload == NULL))
        return LORAWAN_E_PARAM;
    size_t need = FHDR_MIN_LEN + d->fopts_len + (d->has_fport ? 1 + d->frm_payload_len : 0);
    if (need > room)
        return LORAWAN_E_BUF;
    uint8_t fctrl = (uint8_t)d->fopts_len;
    if (d->fctrl.adr)
        fctrl |= LORAWAN_FCTRL_ADR;
    if (d->fctrl.ack)
        fctrl |= LORAWAN_FCTRL_ACK;
    if (uplink && d->fctrl.adr_ack_req)
        fctrl |= LORAWAN_FCTRL_ADR_ACK_REQ;
    if (uplink && d->fctrl.class_b)
        fctrl |= LORAWAN_FCTRL_CLASS_B;
    if (!uplink && d->fctrl.f_pending)
        fctrl |= LORAWAN_FCTRL_F_PENDING;
    lorawan__put_le(p, d->dev_addr, 4);
    p[4] = fctrl;
    lorawan__put_le(p + 5, d->fcnt16, 2);
    if (d->fopts_len > 0)
        memcpy(p + FHDR_MIN_LEN, d->fopts, d->fopts_len);
    size_t off = FHDR_MIN_LEN + d->fopts_len;
    if (d->has_fport) {
        p[off++] = d->fport;
        if (d->frm_payload_len > 0)
            memcpy(p + off, d->frm_payload, d->frm_payload_len);
        off += d->frm_payload_len;
    }
    *n = off;
    return 0;
}

int lorawan_phy_encode(const lorawan_phy_t *in, uint8_t *out, size_t cap, size_t *out_len)
{
    if (in == NULL || out == NULL || out_len == NULL)
        return LORAWAN_E_PARAM;
    if ((unsigned)in->mtype > 7 || in->major > 3)
        return LORAWAN_E_RANGE;
    if (cap < 1)
        return LORAWAN_E_BUF;
    out[0] = (uint8_t)((unsigned)in->mtype << 5 | in->major);
    uint8_t *p = out + 1;
    size_t room = cap - 1;
    size_t n = 0;
    bool with_mic = true;
    int rc = 0;
    bool uplink = false;

    switch (in->mtype) {
    case LORAWAN_MTYPE_JOIN_REQUEST:
        if (room < 18)
            return LORAWAN_E_BUF;
        lorawan__put_le64(p, in->u.join_request.join_eui);
        lorawan__put_le64(p + 8, in->u.join_request.dev_eui);
        lorawan__put_le(p + 16, in->u.join_request.dev_nonce, 2);
        n = 18;
        break;
    case LORAWAN_MTYPE_REJOIN_REQUEST: {
        const lorawan_rejoin_request_t *r = &in->u.rejoin;
        if (r->rejoin_type > 2 || (r->rejoin_type != 1 && r->net_id > 0xffffffu))
            return LORAWAN_E_RANGE;
        n = (r->rejoin_type == 1 ? LORAWAN_REJOIN_1_LEN : LORAWAN_REJOIN_02_LEN) -
            LORAWAN_MHDR_LEN - LORAWAN_MIC_LEN;
        if (room < n)
            return LORAWAN_E_BUF;
        p[0] = r->rejoin_type;
        if (r->rejoin_type == 1) {
            lorawan__put_le64(p + 1, r->join_eui);
            lorawan__put_le64(p + 9, r->dev_eui);
            lorawan__put_le(p + 17, r->rj_count, 2);
        } else {
            lorawan__put_le(p + 1, r->net_id, 3);
            lorawan__put_le64(p + 4, r->dev_eui);
            lorawan__put_le(p + 12, r->rj_count, 2);
        }
        break;
    }
    case LORAWAN_MTYPE_JOIN_ACCEPT:
    case LORAWAN_MTYPE_PROPRIETARY:
        with_mic = false;
        if (in->mtype == LORAWAN_MTYPE_JOIN_ACCEPT &&
            in->mac_payload_len != LORAWAN_JOIN_ACCEPT_LEN - 1 &&
            in->mac_payload_len != LORAWAN_JOIN_ACCEPT_CFLIST_LEN - 1)
            return LORAWAN_E_JA_LEN;
        if (in->mac_payload_len > 0 && in->mac_payload == NULL)
            return LORAWAN_E_PARAM;
        if (in->mac_payload_len > LORAWAN_PHY_MAX_LEN - 1)
            return LORAWAN_E_LONG;
        if (room < in->mac_payload_len)
            return LORAWAN_E_BUF;
        if (in->mac_payload_len > 0)
            memcpy(p, in->mac_payload, in->mac_payload_len);
        n = in->mac_payload_len;
        break;
    default:
        (void)lorawan_mtype_is_data(in->mtype, &uplink);
        rc = encode_data(&in->u.data, uplink, p, room, &n);
        if (rc != 0)
            return rc;
        break;
    }
    size_t total = 1 + n + (with_mic ? LORAWAN_MIC_LEN : 0);
    if (total > LORAWAN_PHY_MAX_LEN)
        return LORAWAN_E_LONG;
    if (total > cap)
        return LORAWAN_E_BUF;
    if (with_mic)
        memcpy(out + 1 + n, in->mic, LORAWAN_MIC_LEN);
    *out_len = total;
    return 0;
}

int lorawan_join_accept_parse(const uint8_t *plain, size_t len, lorawan_join_accept_t *out)
{
    if (plain == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    if (len != LORAWAN_JOIN_ACCEPT_LEN && len != LORAWAN_JOIN_ACCEPT_CFLIST_LEN)
        return LORAWAN_E_JA_LEN;
    if ((plain[0] >> 5) != LORAWAN_MTYPE_JOIN_ACCEPT)
        return LORAWAN_E_MTYPE;
    if ((plain[0] & 0x03) != LORAWAN_MAJOR_R1)
        return LORAWAN_E_MAJOR;
    /* LoRaWAN 1.1 §6.2.3: JoinNonce(3) NetID(3) DevAddr(4) DLSettings(1) RxDelay(1)
     * [CFList(16)] MIC(4). */
    out->join_nonce = lorawan__get_le(plain + 1, 3);
    out->net_id = lorawan__get_le(plain + 4, 3);
    out->dev_addr = lorawan__get_le(plain + 7, 4);
    uint8_t dl = plain[11];
    out->opt_neg = (dl & 0x80) != 0;
    out->rx1_dr_offset = (dl >> 4) & 0x07;
    out->rx2_data_rate = dl & 0x0f;
    out->rx_delay = plain[12] & 0x0f;
    out->cflist = len == LORAWAN_JOIN_ACCEPT_CFLIST_LEN ? plain + 13 : NULL;
    memcpy(out->mic, plain + len - LORAWAN_MIC_LEN, LORAWAN_MIC_LEN);
    return 0;
}

int lorawan_join_accept_encode(const lorawan_join_accept_t *in, uint8_t *out, size_t cap,
                               size_t *out_len)
{
    if (in == NULL || out == NULL || out_len == NULL)
        return LORAWAN_E_PARAM;
    if (in->join_nonce > 0xffffffu || in->net_id > 0xffffffu || in->rx1_dr_offset > 7 ||
        in->rx2_data_rate > 15 || in->rx_delay > 15)
        return LORAWAN_E_RANGE;
    size_t len = in->cflist != NULL ? LORAWAN_JOIN_ACCEPT_CFLIST_LEN : LORAWAN_JOIN_ACCEPT_LEN;
    if (cap < len)
        return LORAWAN_E_BUF;
    out[0] = (uint8_t)(LORAWAN_MTYPE_JOIN_ACCEPT << 5 | LORAWAN_MAJOR_R1);
    lorawan__put_le(out + 1, in->join_nonce, 3);
    lorawan__put_le(out + 4, in->net_id, 3);
    lorawan__put_le(out + 7, in->dev_addr, 4);
    out[11] = (uint8_t)((in->opt_neg ? 0x80 : 0) | in->rx1_dr_offset << 4 | in->rx2_data_rate);
    out[12] = in->rx_delay;
    if (in->cflist != NULL)
        memcpy(out + 13, in->cflist, LORAWAN_CFLIST_LEN);
    memcpy(out + len - LORAWAN_MIC_LEN, in->mic, LORAWAN_MIC_LEN);
    *out_len = len;
    return 0;
}
