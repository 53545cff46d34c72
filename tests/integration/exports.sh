#!/bin/sh
# libperfshim.so exports exactly the interposed functions listed in preload/exports.map.
. "$top_srcdir/tests/integration/lib.sh"
want=$(sed -n '/global:/,/local:/p' "$top_srcdir/preload/exports.map" | grep -v 'global:\|local:' |
    tr -d ' ' | tr ';' '\n' | grep -v '^$' | sort)
got=$(nm -D --defined-only "$PERFSHIM_LIB" | awk '$2 ~ /^[TWiV]$/ {print $3}' | sort)
same_exports() {
    [ -n "$want" ] && [ "$want" = "$got" ] || {
        echo "exported: $got"
        echo "expected: $want"
        return 1
    }
}
check "exports are exactly the interposed symbols" same_exports
finish
