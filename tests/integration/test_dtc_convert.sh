#!/usr/bin/env bash
# The Things Stack's template converter API on a running stack (issue 12):
# GET /api/v3/edtc/formats and POST /api/v3/edtc/convert with The Things Stack's own test files
# (read in place from ../shared/fixtures/the-things-stack/) → its templates and masks, as
# newline-delimited {"result": ...} chunks (or blank-line separated with Accept:
# text/event-stream); an error before the first template → its 4xx with one {"error": ...};
# after k templates → 200, the k templates, then the {"error": ...} chunk. Two tenants: the
# answers are the same in both, an unknown tenant is refused, and converting writes nothing
# in either. A large file streams every template.
. "$(dirname "$0")/lib.sh"

SHARED=${LW_SHARED:-$LWSTACK_SRC/../shared}
FIX=$SHARED/fixtures/the-things-stack
[ -d "$FIX/devicetemplates" ] || { echo "fixtures not found in $FIX (set LW_SHARED)" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --http.max-body-bytes 8388608
api="http://127.0.0.1:$port/api/v3"
PASS='Secret-passw0rd'
for t in acme globex; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\",\"primary_email_address\":\"admin@$t.example\"}}")
    lw_t_eq "create tenant $t → 200" 200 "${r%% *}"
done

# conv TENANT FORMAT FILE [ACCEPT] [EXTRA_JSON]: status in $CODE, type in $TYPE, body in $OUT.
conv() {
    local t=$1 f=$2 file=$3 accept=${4:-application/json} extra=${5:-'{}'}
    jq -n --arg f "$f" --rawfile d <(base64 -w0 "$file") --argjson x "$extra" \
        '{format_id: $f, data: $d} + $x' >"$LW_T_DIR/req.json"
    local meta
    meta=$(curl -sS -o "$LW_T_DIR/out" -w '%{http_code} %{content_type}' -X POST \
        -H "X-Tenant-ID: $t" -H "Accept: $accept" -H 'Content-Type: application/json' \
        --data-binary @"$LW_T_DIR/req.json" "$api/edtc/convert")
    CODE=${meta%% *}
    TYPE=${meta#* }
    OUT=$(cat "$LW_T_DIR/out")
}
lines() { printf '%s\n' "$OUT" | grep -c . || true; }
line() { printf '%s\n' "$OUT" | grep . | sed -n "${1}p"; }
devs() { # the other tenant is untouched: nothing written anywhere
    lw_t_psql -c "SELECT (SELECT count(*) FROM t_acme.end_devices) + (SELECT count(*) FROM t_globex.end_devices)"
}

# ---- formats -------------------------------------------------------------------------------
for t in acme globex; do
    r=$(lw_t_http GET "$api/edtc/formats" -H "X-Tenant-ID: $t")
    lw_t_eq "$t: formats → 200" 200 "${r%% *}"
    lw_t_eq "$t: the format ids" "the-things-stack,the-things-stack-csv,vendor-kerlink-wanesy" \
        "$(lw_t_body "$r" | jq -r '.formats | keys | join(",")')"
    lw_t_eq "$t: the-things-stack as The Things Stack describes it" \
        'The Things Stack JSON|File containing end devices in The Things Stack JSON format.|.json' \
        "$(lw_t_body "$r" | jq -r '.formats["the-things-stack"] | "\(.name)|\(.description)|\(.file_extensions | join(","))"')"
    lw_t_eq "$t: the-things-stack-csv" \
        'The Things Stack CSV|File containing end devices in The Things Stack CSV format.|.csv' \
        "$(lw_t_body "$r" | jq -r '.formats["the-things-stack-csv"] | "\(.name)|\(.description)|\(.file_extensions | join(","))"')"
done
r=$(lw_t_http GET "$api/edtc/formats" -H "X-Tenant-ID: nosuch")
lw_t_eq "an unknown tenant → 404 tenant_not_found" "404 tenant_not_found" "$(lw_t_status_name "$r")"

# ---- the-things-stack-csv ------------------------------------------------------------------
for t in acme globex; do
    conv $t the-things-stack-csv "$FIX/devicetemplates/tts-csv-all_columns.csv"
    lw_t_eq "$t: all_columns.csv → 200 application/json, 3 templates" "200 application/json 3" \
        "$CODE $TYPE $(lines)"
    lw_t_eq "$t: the third template's mask (ttscsv_test.go AllColumns)" \
        "description,frequency_plan_id,ids.dev_eui,ids.device_id,ids.join_eui,lora_alliance_profile_ids.vendor_id,lora_alliance_profile_ids.vendor_profile_id,lorawan_phy_version,lorawan_version,mac_settings.rx1_delay,mac_settings.supports_32_bit_f_cnt,name,root_keys.app_key.key,root_keys.nwk_key.key,session.dev_addr,session.keys.app_s_key.key,session.keys.f_nwk_s_int_key.key,session.last_a_f_cnt_down,session.last_f_cnt_up,session.last_n_f_cnt_down,supports_class_c,supports_join,version_ids.band_id,version_ids.brand_id,version_ids.firmware_version,version_ids.hardware_version,version_ids.model_id" \
        "$(line 3 | jq -r '.result.field_mask.paths | join(",")')"
    lw_t_eq "$t: the third template's device" \
        'test-three 3333333333333333 MAC_V1_0_4 RP002_V1_0_3 5 false 01020304 12 true' \
        "$(line 3 | jq -r '.result.end_device | "\(.ids.device_id) \(.ids.dev_eui) \(.lorawan_version) \(.lorawan_phy_version) \(.mac_settings.rx1_delay) \(.mac_settings.supports_32_bit_f_cnt) \(.session.dev_addr) \(.session.last_f_cnt_up) \(.supports_join)"')"
    lw_t_eq "$t: no mapping_key for The Things Stack's formats" "null" "$(line 1 | jq -c .result.mapping_key)"
done
conv acme the-things-stack-csv "$FIX/devicetemplates/tts-csv-generate_device_id.csv"
lw_t_eq "generate_device_id.csv → eui-111111111111111a" "200 eui-111111111111111a ids.dev_eui,ids.device_id" \
    "$CODE $(line 1 | jq -r '.result.end_device.ids.device_id + " " + (.result.field_mask.paths | join(","))')"
conv acme the-things-stack-csv "$FIX/devicetemplates/tts-csv-invalid_deveui.csv"
lw_t_eq "invalid_deveui.csv → 400 with one {error}: parse_csv_field line 1 column 1" \
    "400 1 parse_csv_field 1 1 pkg/devicetemplates" \
    "$CODE $(lines) $(printf '%s' "$OUT" | jq -r '.error.details[0] | "\(.name) \(.attributes.line) \(.attributes.column) \(.namespace)"')"
lw_t_eq "its message is The Things Stack's" \
    'error:pkg/devicetemplates:parse_csv_field (parse CSV field at line `1` column `1`)' \
    "$(printf '%s' "$OUT" | jq -r .error.message)"
conv acme the-things-stack-csv "$FIX/devicetemplates/tts-csv-EmptyString.csv"
lw_t_eq "an empty file → 400 csv_header" "400 csv_header" "$CODE $(printf '%s' "$OUT" | jq -r '.error.details[0].name')"

# an error after two templates: 200, the two, then the error chunk
printf 'dev_eui;name\n1111111111111111;a\n2222222222222222;b\n3333333333333333;"x"y\n' >"$LW_T_DIR/late.csv"
conv globex the-things-stack-csv "$LW_T_DIR/late.csv"
lw_t_eq "a bad quote on line 4 → 200, 2 templates, then parse_csv line 4 column 20" \
    "200 3 eui-2222222222222222 parse_csv 4 20 4" \
    "$CODE $(lines) $(line 2 | jq -r .result.end_device.ids.device_id) $(line 3 | jq -r '.error.details[0] | "\(.name) \(.attributes.line) \(.attributes.column) \(.attributes.start_line)"')"
lw_t_eq "the error chunk is The Things Stack's error shape" "3 true" \
    "$(line 3 | jq -r '"\(.error.code) \(.error.message | startswith("error:pkg/devicetemplates:parse_csv"))"')"

# end_device_version_ids: every record's version_ids, not in the mask
conv acme the-things-stack-csv "$FIX/devicetemplates/tts-csv-without_version_id.csv" application/json \
    '{"end_device_version_ids":{"brand_id":"the-things-industries","model_id":"generic-node-sensor-edition","hardware_version":"1.1","firmware_version":"1.0","band_id":"EU_863_870"}}'
lw_t_eq "end_device_version_ids set version_ids, outside the mask" \
    "200 generic-node-sensor-edition frequency_plan_id,ids.dev_eui,ids.device_id,ids.join_eui,lorawan_version,name" \
    "$CODE $(line 1 | jq -r '.result.end_device.version_ids.model_id + " " + (.result.field_mask.paths | join(","))')"

# ---- the-things-stack ----------------------------------------------------------------------
conv acme the-things-stack "$FIX/devicetemplates/tts-json-OneABPOneOTAA.json"
lw_t_eq "OneABPOneOTAA → 200, 2 templates" "200 2" "$CODE $(lines)"
lw_t_eq "the ABP device's mask" \
    "frequency_plan_id,ids.application_ids.application_id,ids.dev_eui,ids.device_id,ids.join_eui,lorawan_phy_version,lorawan_version,mac_settings,session.dev_addr" \
    "$(line 1 | jq -r '.result.field_mask.paths | join(",")')"
lw_t_eq "the OTAA device, normalised" "otaa-device MAC_V1_0_2 PHY_V1_0_2_REV_B 01020304010203040102030401020304" \
    "$(line 2 | jq -r '.result.end_device | "\(.ids.device_id) \(.lorawan_version) \(.lorawan_phy_version) \(.root_keys.app_key.key)"')"
conv globex the-things-stack "$FIX/devicetemplates/tts-json-OneOKOneError.json"
lw_t_eq "OneOKOneError → 200, the template, then json_token at line 22 column 1" \
    "200 2 abp-device json_token 22 1" \
    "$CODE $(lines) $(line 1 | jq -r .result.end_device.ids.device_id) $(line 2 | jq -r '.error.details[0] | "\(.name) \(.attributes.line) \(.attributes.column)"')"
conv globex the-things-stack "$FIX/devicetemplates/tts-json-InvalidJSON.json"
lw_t_eq "InvalidJSON → 400 json_token (InvalidArgument)" "400 json_token 3" \
    "$CODE $(printf '%s' "$OUT" | jq -r '"\(.error.details[0].name) \(.error.code)"')"
conv acme the-things-stack "$FIX/devicetemplates/tts-json-RemovesDevAddrFromRoot.json"
lw_t_eq "RemovesDevAddrFromRoot → no dev_addr anywhere" "200 0" \
    "$CODE $(printf '%s' "$OUT" | grep -c dev_addr || true)"

# ---- server-sent events ----------------------------------------------------------------------
conv acme the-things-stack "$FIX/devicetemplates/tts-json-OneABPOneOTAA.json" text/event-stream
lw_t_eq "Accept: text/event-stream → that type, chunks separated by a blank line" \
    "200 text/event-stream 2 2 2" \
    "$CODE $TYPE $(lines) $(grep -c '^$' "$LW_T_DIR/out" || true) $(grep -c '^{"result":' "$LW_T_DIR/out" || true)"

# ---- vendor CSV: the shipped Kerlink Wanesy mapping ---------------------------------------------
conv acme vendor-kerlink-wanesy "$FIX/migrate/wanesy-testdata-test.csv"
lw_t_eq "Wanesy export → 1 template with its session and mapping_key" \
    "200 1 1111111111111111 01234567 20 10 PHY_V1_0_2_REV_A 1111111111111111" \
    "$CODE $(lines) $(line 1 | jq -r '.result | "\(.end_device.ids.device_id) \(.end_device.session.dev_addr) \(.end_device.session.last_f_cnt_up) \(.end_device.session.last_a_f_cnt_down) \(.end_device.lorawan_phy_version) \(.mapping_key)"')"

# ---- refusals --------------------------------------------------------------------------------
conv acme nope "$FIX/devicetemplates/tts-csv-appeui.csv"
lw_t_eq "an unknown format → 404 converter naming it" "404 converter nope" \
    "$CODE $(printf '%s' "$OUT" | jq -r '.error.details[0] | "\(.name) \(.attributes.id)"')"
r=$(lw_t_http POST "$api/edtc/convert" -H "X-Tenant-ID: acme" -d '{"format_id":"the-things-stack","data":"!!!"}')
lw_t_eq "data that is not base64 → 400 invalid_field" "400 invalid_field" "$(lw_t_status_name "$r")"
r=$(lw_t_http POST "$api/edtc/convert" -H "X-Tenant-ID: acme" -d '{"format_id":')
lw_t_eq "a body that is not JSON → 400" 400 "${r%% *}"
r=$(lw_t_http POST "$api/edtc/convert" -H "X-Tenant-ID: nosuch" -d '{"format_id":"the-things-stack","data":""}')
lw_t_eq "convert for an unknown tenant → 404 tenant_not_found" "404 tenant_not_found" "$(lw_t_status_name "$r")"
r=$(lw_t_http POST "$api/edtc/convert" -H "X-Tenant-ID: acme" -d '{"format_id":"the-things-stack","data":""}')
lw_t_eq "an empty JSON stream → 200, no template" "200 " "$r"

# ---- a large file streams every template --------------------------------------------------------
{
    echo "dev_eui;join_eui;app_key;frequency_plan_id"
    for i in $(seq 1 20000); do
        printf '%016X;70B3D57ED0000000;%032X;EU_863_870\n' "$i" "$i"
    done
} >"$LW_T_DIR/big.csv"
conv globex the-things-stack-csv "$LW_T_DIR/big.csv"
lw_t_eq "20000 devices → 200, 20000 templates in order" "200 20000 eui-0000000000004e20" \
    "$CODE $(lines) $(line 20000 | jq -r .result.end_device.ids.device_id)"

# a client that reads slowly gets every template too (the conversion waits for it)
curl -sS -o "$LW_T_DIR/slow" --limit-rate 1M -X POST -H "X-Tenant-ID: acme" \
    -H 'Content-Type: application/json' --data-binary @"$LW_T_DIR/req.json" "$api/edtc/convert"
lw_t_eq "a slow reader → 20000 templates, the last one last" "20000 eui-0000000000004e20" \
    "$(grep -c '^{"result"' "$LW_T_DIR/slow") $(tail -n 1 "$LW_T_DIR/slow" | jq -r .result.end_device.ids.device_id)"

lw_t_eq "converting wrote nothing in either tenant" 0 "$(devs)"
m=$(curl -sS "http://127.0.0.1:$port/metrics")
lw_t_eq "templates are counted by format" 1 \
    "$(printf '%s\n' "$m" | grep -c '^lwstack_dtc_convert_templates_total{format="the-things-stack-csv"}' || true)"
lw_t_eq "errors are counted by name" 1 \
    "$(printf '%s\n' "$m" | grep -c '^lwstack_dtc_convert_errors_total{error="parse_csv_field"}' || true)"
lw_t_done
