#!/usr/bin/env bash
# Acceptance (issue 9): OTAA join of a LoRaWAN 1.0.3 device and of a 1.1 device, in EU868
# and in US915 (FSB 2), in two tenants: the join-accept reaches the gateway timed for RX1
# (or RX2) with the plan's frequency and data rate for that window, decrypts and verifies
# with AppKey (1.0.3) / NwkKey (1.1) on the simulated device and independently with
# lora-packet (tests/integration/js/lwjoin.js), and the device's first uplink activates the
# session: a join_accept result, then its uplink at FCnt 0 on lw.ns.up in its own tenant.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "OTAA joins"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need_node
lwjoin="$LWSTACK_SRC/tests/integration/js/lwjoin.js"
lw_e2e_start
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up

# (test_otaa_join_11_us915.sh runs the LoRaWAN 1.1 US915 case alone, E2E_JOIN_CONFIGS.)
IFS=';' read -r -a configs <<<"${E2E_JOIN_CONFIGS:-1.0.3 EU_863_870_TTN;1.1 EU_863_870_TTN;1.0.3 US_902_928_FSB_2}"
i=0
for cfg in "${configs[@]}"; do
    read -r ver plan <<<"$cfg"
    i=$((i + 1))
    pids=()
    for t in acme globex; do
        lw_e2e_sim $t --seed "$t-$i" --application "join$i" --otaa --lorawan-version "$ver" \
            --frequency-plan "$plan" --gateways 2 --copies 2 --devices 2 --rate 10 --duration 0 \
            --uplinks-per-device 1 --events "$LW_T_DIR/$t-$i.ev" --keys-out "$LW_T_DIR/$t-$i.keys" \
            --json >"$LW_T_DIR/$t-$i.json" &
        pids+=($!)
    done
    wait "${pids[@]}"
    for t in acme globex; do
        what="$t, $ver, $plan"
        lw_t_eq "$what: 2 joins accepted" 2 "$(jq -r .joins.accepted "$LW_T_DIR/$t-$i.json")"
        lw_t_eq "$what: join-accepts (one or more per device) in RX1 (5 s) or RX2 (6 s) on the window's frequency and data rate" "true" \
            "$(jq -c 'select(.event == "downlink" and .type == "join_accept" and .result == "ok")' "$LW_T_DIR/$t-$i.ev" |
                jq -s '(map(.dev_eui) | unique | length) == 2 and all((.window == "rx1" and .delay_us == 5000000) or (.window == "rx2" and .delay_us == 6000000)) and all(.radio_ok)')"
        # lora-packet decrypts and verifies each join-accept with the device's root key.
        ok=0
        while IFS= read -r ev; do
            eui=$(jq -r .dev_eui <<<"$ev")
            keys=$(jq -c "select(.dev_eui == \"$eui\")" "$LW_T_DIR/$t-$i.keys")
            key=$(jq -r 'if .lorawan_version == "1.1" then .nwk_key else .app_key end' <<<"$keys")
            out=$(node "$lwjoin" accept "$ver" "$key" "$(jq -r .app_key <<<"$keys")" "$(jq -r .join_eui <<<"$keys")" \
                "$eui" "$(jq -r .dev_nonce <<<"$ev")" "$(jq -r .phy <<<"$ev")")
            [ "$(jq -r '"\(.mic_ok) \(.dev_addr) \(.opt_neg)"' <<<"$out")" = \
              "true $(jq -r .dev_addr <<<"$ev") $([ "$ver" = 1.1 ] && echo true || echo false)" ] && ok=$((ok + 1))
        done < <(jq -c 'select(.event == "downlink" and .type == "join_accept" and .result == "ok")' "$LW_T_DIR/$t-$i.ev")
        lw_t_eq "$what: lora-packet verifies every join-accept (MIC, DevAddr, OptNeg)" \
            "$(jq -c 'select(.event == "downlink" and .type == "join_accept" and .result == "ok")' "$LW_T_DIR/$t-$i.ev" | wc -l)" "$ok"
        echo "note: $what: join-accepts $(jq -r 'select(.event == "downlink" and .type == "join_accept") | "\(.window)/\(.result)/lead \((.lead_us // 0) / 1000 | floor) ms"' "$LW_T_DIR/$t-$i.ev" | paste -sd' ')"
        lw_t_eq "$what: each device's first uplink sent in its new session" 2 "$(jq -r .uplinks.sent "$LW_T_DIR/$t-$i.json")"
        # A device hears its join-accept on air (RX1/RX2), not when the gateway is handed it.
        lw_t_eq "$what: no uplink before the device's join-accept is on air" 0 \
            "$(jq -s '(map(select(.event == "downlink" and .type == "join_accept" and .result == "ok")) | map({key: .dev_eui, value: (.t_us + (.lead_us // 0))}) | from_entries) as $air | [.[] | select(.event == "uplink" and $air[.dev_eui] != null and .t_us < $air[.dev_eui])] | length' "$LW_T_DIR/$t-$i.ev")"
    done
done

up='._topic == "ns.up" and .uplink_message != null'
lw_e2e_wait_bus $((4 * ${#configs[@]})) "$up" 30
for t in acme globex; do
    for i in $(seq ${#configs[@]}); do
        devs=$(jq -r '"sim-" + .dev_eui' "$LW_T_DIR/$t-$i.keys" | sort | xargs)
        addrs=$(jq -r 'select(.event == "downlink" and .type == "join_accept" and .result == "ok") | .dev_addr' "$LW_T_DIR/$t-$i.ev" | sort | xargs)
        lw_t_eq "$t join$i: a join_accept result per device on lw.ns.up" "$devs" \
            "$(lw_e2e_bus_select "._topic == \"ns.up\" and .join_accept != null and .envelope.tenant_id == \"$t\" and .end_device_ids.application_ids.application_id == \"join$i\"" | jq -r .end_device_ids.device_id | sort -u | xargs)"
        lw_t_eq "$t join$i: the first uplink (FCnt 0) of each on lw.ns.up, DevAddr as joined" "$devs|$addrs" \
            "$(lw_e2e_bus_select "$up and .envelope.tenant_id == \"$t\" and .end_device_ids.application_ids.application_id == \"join$i\" and (.uplink_message.f_cnt // 0) == 0" | jq -r .end_device_ids.device_id | sort -u | xargs)|$(lw_e2e_bus_select "$up and .envelope.tenant_id == \"$t\" and .end_device_ids.application_ids.application_id == \"join$i\"" | jq -r .end_device_ids.dev_addr | sort -u | xargs)"
    done
done
lw_t_eq "no key in the stack's log" 0 \
    "$(cat "$LW_T_DIR"/*.keys | jq -r '.app_key, (.nwk_key // empty)' | grep -ciFf - "$LW_T_DIR/stack.log" || true)"
lw_t_done
