#!/usr/bin/env bash
# The composition root (cluster/main/main.c): components and subcommands are two tables.
# `lwstack start` rejects a repeated or unknown component with a usage error (exit 2) that
# names it, before anything starts, and without a sanitizer report (it used to write past
# the end of its array for `start is is is`); the usage text lists both tables.
. "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run() { # run ARGS...: lwstack without a database; sets RC, OUT, ERR
    set +e
    env -u LWSTACK_DB_URI "$LWSTACK_BIN" "$@" >"$LW_T_DIR/out" 2>"$LW_T_DIR/err"
    RC=$?
    set -e
    OUT=$(cat "$LW_T_DIR/out")
    ERR=$(cat "$LW_T_DIR/err")
}
no_sanitizer_report() { # no_sanitizer_report WHAT
    if grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' "$LW_T_DIR/err"; then
        lw_t_fail "$1: sanitizer report: $(head -5 "$LW_T_DIR/err")"
    else
        lw_t_ok "$1: no sanitizer report"
    fi
}
usage_follows() { # usage_follows WHAT: the second paragraph of stderr is the usage text
    [ "$(sed -n 3p "$LW_T_DIR/err")" = "usage: lwstack [-c FILE] [--key=value ...] COMMAND [ARGS]" ] &&
        lw_t_ok "$1: the usage text follows on stderr" ||
        lw_t_fail "$1: no usage text on stderr: $ERR"
}

run start is is is
lw_t_eq "start is is is → exit 2, nothing on stdout" "2 " "$RC $OUT"
lw_t_eq "start is is is → names the repeated component" \
    'lwstack: start: component `is` is named more than once' "$(head -1 "$LW_T_DIR/err")"
usage_follows "start is is is"
no_sanitizer_report "start is is is"

# The components of this build's table, as `help` lists them (tenant and is always first;
# the data-path servers join when built).
COMPS=$("$LWSTACK_BIN" help 2>/dev/null | sed -n 's/^components: //p')
# `simulate` is a command of builds with tools/simulate.
SIM=""
[ -d "$LWSTACK_SRC/tools/simulate" ] && SIM="simulate "
# The Application Server's payload formatter processes are `lwstack formatter-worker`.
case " $COMPS " in *" as "*) SIM="${SIM}formatter-worker " ;; esac
# The billing server's reconciliation job is `lwstack billing reconcile`.
case " $COMPS " in *" tbs "*) SIM="${SIM}billing " ;; esac
case "$COMPS" in
"tenant is"*) lw_t_ok "help lists tenant and is first" ;;
*) lw_t_fail "help lists the components [$COMPS]" ;;
esac

run start nope
lw_t_eq "start nope → exit 2" 2 "$RC"
lw_t_eq "start nope → names it and lists the components" \
    "lwstack: start: unknown component \`nope\` (components: $COMPS)" "$(head -1 "$LW_T_DIR/err")"
usage_follows "start nope"
no_sanitizer_report "start nope"

run start is nope is
lw_t_eq "the first bad name is reported" \
    "2 lwstack: start: unknown component \`nope\` (components: $COMPS)" \
    "$RC $(head -1 "$LW_T_DIR/err")"

run start all all
lw_t_eq "start all all → exit 2" \
    '2 lwstack: start: `all` runs every component: name `all` or components, once each' \
    "$RC $(head -1 "$LW_T_DIR/err")"
run start all is
lw_t_eq "start all is → exit 2: all includes is" \
    '2 lwstack: start: component `is` is named more than once (`all` includes it)' \
    "$RC $(head -1 "$LW_T_DIR/err")"
no_sanitizer_report "start all is"
run start --frobnicate
lw_t_eq "start --frobnicate → exit 2" "2 lwstack: start: unknown flag --frobnicate" \
    "$RC $(head -1 "$LW_T_DIR/err")"

# Accepted names get as far as the runtime, which wants db.uri (exit 2 naming it).
for args in "start" "start all" "start is" "start tenant" "start tenant is"; do
    run --bus.brokers embedded --http.listen 127.0.0.1:0 $args
    lw_t_eq "$args → accepted, then db.uri is missing (exit 2)" "2 yes" \
        "$RC $(grep -q 'db.uri' "$LW_T_DIR/err" && echo yes)"
done

run help
lw_t_eq "help lists the commands and components of the tables" \
    "0 start migrate config kafka-dev lorawan ${SIM}version help | components: $COMPS" \
    "$RC $(printf '%s\n' "$OUT" | sed -n '/^commands:/,/^$/p' | grep -E '^  [a-z]' |
            awk '{printf "%s ", $1}')| $(printf '%s\n' "$OUT" | grep '^components:')"
run --help
lw_t_eq "--help is help" "0 usage: lwstack [-c FILE] [--key=value ...] COMMAND [ARGS]" \
    "$RC $(printf '%s\n' "$OUT" | head -1)"
run version
lw_t_eq "version" "0 yes" "$RC $(printf '%s' "$OUT" | grep -qE '^lwstack [0-9]+\.[0-9]+\.[0-9]+$' && echo yes)"
run version extra
lw_t_eq "version takes no arguments" "2 lwstack: version takes no arguments, got extra" \
    "$RC $(head -1 "$LW_T_DIR/err")"
run frobnicate
lw_t_eq "an unknown command → exit 2 naming it" "2 lwstack: unknown command frobnicate" \
    "$RC $(head -1 "$LW_T_DIR/err")"
run kafka-dev --partitions 0
lw_t_eq "kafka-dev --partitions 0 → exit 2" \
    "2 lwstack: kafka-dev: --partitions: \`0\` is not a number from 1 to 1000" \
    "$RC $(head -1 "$LW_T_DIR/err")"
run lorawan
lw_t_eq "lorawan without a subcommand → exit 2 (the lorawan_cli library's usage)" \
    "2 usage: lwstack lorawan decode HEX [--lorawan-version 1.0|1.1]" \
    "$RC $(head -1 "$LW_T_DIR/err")"

lw_t_done
