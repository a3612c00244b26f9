# The local Stripe (tests/stripe-fake/server.js) for integration tests (bash). Source it
# after lib.sh:
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/stripe_lib.sh"
# lw_t_stripe_start starts it on a free port of 127.0.0.1 and the EXIT trap of lib.sh stops
# it. The API key and webhook secret are made per test (LW_T_STRIPE_KEY, LW_T_STRIPE_WHSEC):
# give them to the stack as --tbs.stripe.api-key and --tbs.stripe.endpoint-secret-key, and
# LW_T_STRIPE_URL as --tbs.stripe.api-base.

LW_T_STRIPE_KEY=${LW_T_STRIPE_KEY:-sk_test_lw$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')}
LW_T_STRIPE_WHSEC=${LW_T_STRIPE_WHSEC:-whsec_lw$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')}

# lw_t_stripe_start [WEBHOOK_URL]: starts the local Stripe (its webhooks, signed with
# LW_T_STRIPE_WHSEC, go to WEBHOOK_URL, which /_test/config can change later) and waits
# until it answers; sets LW_T_STRIPE_PORT, LW_T_STRIPE_URL and LW_T_STRIPE_PID.
lw_t_stripe_start() {
    local hook=${1:-}
    local dir="$LWSTACK_SRC/tests/stripe-fake"
    if [ ! -d "$dir/node_modules/stripe-stateful-mock" ]; then
        echo "stripe_lib.sh: $dir/node_modules is missing (run ops/install, or npm ci there)" >&2
        return 1
    fi
    local pf="$LW_T_DIR/stripe.port"
    rm -f "$pf"
    node "$dir/server.js" --port 0 --port-file "$pf" --webhook-url "$hook" \
        --webhook-secret "$LW_T_STRIPE_WHSEC" >"$LW_T_DIR/stripe.log" 2>&1 &
    LW_T_STRIPE_PID=$!
    LW_T_PIDS+=("$LW_T_STRIPE_PID")
    lw_t_wait_for "the local Stripe's port file" 20 test -s "$pf" || {
        cat "$LW_T_DIR/stripe.log" >&2
        return 1
    }
    LW_T_STRIPE_PORT=$(cat "$pf")
    LW_T_STRIPE_URL="http://127.0.0.1:$LW_T_STRIPE_PORT"
    lw_t_wait_for "the local Stripe answering" 10 curl -sf -o /dev/null "$LW_T_STRIPE_URL/_test/faults"
    export LW_T_STRIPE_PORT LW_T_STRIPE_URL
}

# lw_t_stripe_api METHOD PATH [curl args...]: a Stripe API call with LW_T_STRIPE_KEY, form
# fields as curl -d args; prints "STATUS BODY" (lw_t_http).
lw_t_stripe_api() {
    local m=$1 p=$2; shift 2
    lw_t_http "$m" "$LW_T_STRIPE_URL$p" -H "Authorization: Bearer $LW_T_STRIPE_KEY" "$@"
}

# lw_t_stripe_ctl METHOD PATH [JSON]: a test control call (/_test/PATH); prints the body.
lw_t_stripe_ctl() {
    local m=$1 p=$2
    if [ $# -ge 3 ]; then
        curl -sS -X "$m" -H 'Content-Type: application/json' "$LW_T_STRIPE_URL/_test$p" -d "$3"
    else
        curl -sS -X "$m" "$LW_T_STRIPE_URL/_test$p"
    fi
}

# lw_t_stripe_sign BODY [SECRET] [T]: the Stripe-Signature header value Stripe sends for
# BODY at unix time T (default now) with SECRET (default LW_T_STRIPE_WHSEC).
lw_t_stripe_sign() {
    local body=$1 secret=${2:-$LW_T_STRIPE_WHSEC} t=${3:-$(date +%s)}
    local mac
    mac=$(printf '%s' "$t.$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')
    printf 't=%s,v1=%s' "$t" "$mac"
}

# lw_t_stripe_event TYPE OBJECT_JSON [OPTIONS_JSON]: makes the local Stripe send the event
# (signed; options as /_test/events takes them: secret, age, timestamp, duplicate, id, url,
# no_signature, signature, previous_attributes); prints its answer
# {"event":…,"deliveries":[{"status","body"}…]}.
lw_t_stripe_event() {
    local type=$1 obj=$2 opts=${3:-'{}'}
    lw_t_stripe_ctl POST /events "$(jq -cn --arg t "$type" --argjson o "$obj" --argjson x "$opts" \
        '$x + {type: $t, object: $o}')"
}

# lw_t_stripe_status SUB STATUS [OPTIONS_JSON]: sets a subscription's status at the local
# Stripe and sends the matching customer.subscription.updated|deleted event.
lw_t_stripe_status() {
    local sub=$1 status=$2 opts=${3:-'{}'}
    lw_t_stripe_ctl POST "/subscriptions/$sub/status" \
        "$(jq -cn --arg s "$status" --argjson x "$opts" '$x + {status: $s}')"
}

# lw_t_stripe_fault JSON: the next answers of a route, e.g.
#   lw_t_stripe_fault '{"method":"POST","path":"/usage_records$","count":3,"status":429}'
lw_t_stripe_fault() { lw_t_stripe_ctl POST /faults "$1" >/dev/null; }

# lw_t_stripe_count METHOD PATH_REGEX [STATUS]: how many such requests the local Stripe
# received (answered STATUS, when given).
lw_t_stripe_count() {
    local m=$1 p=$2 s=${3:-}
    curl -sS -G "$LW_T_STRIPE_URL/_test/requests" --data-urlencode "method=$m" \
        --data-urlencode "path=$p" |
        jq --arg s "$s" '[.requests[] | select($s == "" or (.status | tostring) == $s)] | length'
}

# lw_t_stripe_customer EMAIL: a customer's id (made at the local Stripe).
lw_t_stripe_customer() {
    local r
    r=$(lw_t_stripe_api POST /v1/customers -d "email=$1")
    lw_t_body "$r" | jq -r .id
}

# lw_t_stripe_plan ID USAGE_TYPE [AMOUNT] [AGGREGATE] [METADATA...]: a plan with that id
# (USAGE_TYPE licensed|metered) and its product; METADATA as k=v (e.g. max-end-devices=10).
lw_t_stripe_plan() {
    local id=$1 usage=$2 amount=${3:-100} agg=${4:-sum}; shift 4 2>/dev/null || shift $#
    local md=() kv
    for kv in "$@"; do md+=(-d "metadata[${kv%%=*}]=${kv#*=}"); done
    lw_t_stripe_api POST /v1/plans -d "id=$id" -d "product[name]=$id" -d currency=eur \
        -d "amount=$amount" -d interval=month -d "usage_type=$usage" \
        $([ "$usage" = metered ] && echo "-d aggregate_usage=$agg") "${md[@]}" >/dev/null
}

# lw_t_stripe_subscribe CUSTOMER PLAN[,PLAN...] [METADATA k=v...]: subscribes the customer
# (one item per plan); prints the subscription's JSON. The local Stripe sends
# customer.subscription.created to its webhook URL.
lw_t_stripe_subscribe() {
    local cus=$1 planlist=$2; shift 2
    local args=(-d "customer=$cus") i=0 p kv
    IFS=, read -ra ps <<<"$planlist"
    for p in "${ps[@]}"; do args+=(-d "items[$i][plan]=$p"); i=$((i + 1)); done
    for kv in "$@"; do args+=(-d "metadata[${kv%%=*}]=${kv#*=}"); done
    lw_t_body "$(lw_t_stripe_api POST /v1/subscriptions "${args[@]}")"
}

