#!/usr/bin/env bash
# ops/check-deps, the include/link check of DESIGN.md §1 (issue 7 item 3): the checkout
# passes; a copy of its source folders with one planted violation fails, naming the file,
# the line and the rule: a server including another server's header, a file including
# another module's private header, a server's CMake target linking another server's
# library, cluster including tenant, lorawan including cluster, a component calling
# lw_rt_component(). Comments and strings do not count.
. "$(dirname "$0")/lib.sh"
CHECK="$LWSTACK_SRC/ops/check-deps"

check() { # check DIR: runs the check; sets OUT (stdout), ERR (stderr), RC
    set +e
    "$CHECK" "$1" >"$LW_T_DIR/c.out" 2>"$LW_T_DIR/c.err"
    RC=$?
    set -e
    OUT=$(cat "$LW_T_DIR/c.out")
    ERR=$(cat "$LW_T_DIR/c.err")
}
tree() { # tree NAME: a fresh copy of the checkout's source folders (no build folders)
    rm -rf "${LW_T_DIR:?}/$1"
    mkdir -p "$LW_T_DIR/$1"
    (cd "$LWSTACK_SRC" && tar -c --exclude=node_modules cluster tenant components tools tests \
        $(ls -d billing 2>/dev/null)) | tar -x -C "$LW_T_DIR/$1"
    echo "$LW_T_DIR/$1"
}

t0=$(date +%s%N)
check "$LWSTACK_SRC"
t1=$(date +%s%N)
lw_t_eq "the checkout passes" "0 " "$RC $OUT"
[ $(( (t1 - t0) / 1000000 )) -lt 2000 ] && lw_t_ok "in under 2 s ($(( (t1 - t0) / 1000000 )) ms)" ||
    lw_t_fail "the check took $(( (t1 - t0) / 1000000 )) ms"

d=$(tree clean)
check "$d"
lw_t_eq "a copy of the source folders passes" "0 " "$RC $OUT"

d=$(tree server-include)
mkdir -p "$d/components/gs"
printf '/* Gateway Server */\n#include "cluster/log.h"\n#include "is/is.h"\n' >"$d/components/gs/x.c"
check "$d"
lw_t_eq "a server including another server's header fails" 1 "$RC"
lw_t_eq "the line names the file, the line, the rule and the header" \
    'components/gs/x.c:3: server-to-server: includes "is/is.h" of server is (a server may include cluster, tenant, lorawan and messages only; DESIGN.md §1)' \
    "$OUT"
lw_t_eq "and a total on stderr" \
    "check-deps: 1 violation of the dependency rules (ops/check-deps, DESIGN.md §1)" \
    "$(printf '%s\n' "$ERR" | grep -v '^check-deps: note: ')"

d=$(tree private)
printf '#include "tenant/tenant.h"\n#include "tenant/tenant_private.h"\n' >"$d/components/is/peek.c"
check "$d"
lw_t_eq "another module's private header fails" \
    '1 components/is/peek.c:2: private-header: includes "tenant/tenant_private.h", private to tenant/ (only its own files and tests/unit/tenant/, tests/fuzz/tenant/, tests/integration/tenant/ may)' \
    "$RC $OUT"

d=$(tree private-test)
printf '#include "is/is_private.h"\n' >"$d/tests/unit/tenant/test_peek.c"
check "$d"
lw_t_eq "a private header from another module's tests fails" \
    '1 tests/unit/tenant/test_peek.c:1: private-header: includes "is/is_private.h", private to components/is/ (only its own files and tests/unit/components/is/, tests/fuzz/is/, tests/integration/is/ may)' \
    "$RC $OUT"

d=$(tree link)
mkdir -p "$d/components/gs"
printf 'int gs_x(void);\nint gs_x(void) { return 0; }\n' >"$d/components/gs/x.c"
cat >"$d/components/gs/CMakeLists.txt" <<'EOF'
add_library(gs STATIC x.c)
# linking is would be wrong: servers talk through the bus
target_link_libraries(gs PUBLIC cluster tenant
                      lorawan is)
EOF
check "$d"
lw_t_eq "a server linking another server's library fails, naming the CMakeLists" \
    '1 components/gs/CMakeLists.txt:3: server-to-server: links is, the library of server is (a server links cluster, tenant, lorawan and messages only; DESIGN.md §1)' \
    "$RC $OUT"

d=$(tree layering)
printf '#include "tenant/tenant.h"\n' >>"$d/cluster/log.c"
printf '#include "cluster/log.h"\n' >>"$d/components/lorawan/hex.c"
printf '#include "is/is.h"\n' >>"$d/tenant/ids.c"
check "$d"
lw_t_eq "cluster → tenant, tenant → a component and lorawan → cluster fail" \
    "1 3 layering layering layering" \
    "$RC $(printf '%s\n' "$OUT" | wc -l) $(printf '%s\n' "$OUT" | cut -d' ' -f2 | tr -d : | tr '\n' ' ' | sed 's/ $//')"
lw_t_eq "each names its file" "cluster/log.c components/lorawan/hex.c tenant/ids.c" \
    "$(printf '%s\n' "$OUT" | cut -d: -f1 | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"

d=$(tree rt-component)
cat >"$d/components/is/peer.c" <<'EOF'
/* Not a call: lw_rt_component(rt, "tenant") in a comment,
 * nor lw_rt_component( here. */
static const char *s = "lw_rt_component(rt, \"x\") /* in a string */";
void *is_peer(void *rt);
void *is_peer(void *rt) { return lw_rt_component(rt, "tenant"); }
EOF
check "$d"
lw_t_eq "lw_rt_component() outside cluster/main fails; comments and strings do not count" \
    "1 components/is/peer.c:5: rt-component" "$RC $(printf '%s' "$OUT" | cut -d: -f1-3)"

lw_t_done
