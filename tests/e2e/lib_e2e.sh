# Helpers of the e2e tests (bash), sourced after tests/integration/lib.sh.
#
# lw_e2e_skip MESSAGE: the test cannot run yet (a part of the stack is missing): prints why
# and exits 77, which ctest reports as skipped (never as passed).
lw_e2e_skip() {
    echo "SKIPPED: $*" >&2
    exit 77
}

# The components this lwstack was built with (from `lwstack help`).
lw_e2e_components() {
    "$LWSTACK_BIN" help 2>&1 | sed -n 's/^components://p'
}

# lw_e2e_need COMPONENT WHAT...: skips unless lwstack has COMPONENT.
lw_e2e_need() {
    local c=$1; shift
    case " $(lw_e2e_components) " in
        *" $c "*) ;;
        *) lw_e2e_skip "needs the $c component ($*), which this lwstack was built without" ;;
    esac
}

lw_e2e_need_node() {
    command -v node >/dev/null 2>&1 || lw_e2e_skip "node is not installed (ops/install installs it)"
    [ -f "$LWSTACK_SRC/tests/crosscheck/node_modules/lora-packet/package.json" ] ||
        lw_e2e_skip "tests/crosscheck/node_modules is missing: run 'npm ci' in tests/crosscheck"
}
