#!/usr/bin/env bash
# The shared library exports exactly the C ABI: every dynamic symbol it defines
# is an ffc_* function declared in the public header, and every function the
# header declares is exported. Anything else (C++ internals, inline template
# instantiations, statically linked runtime pieces) would become part of the ABI
# by accident and clash with other libraries in the same process.
#
# usage: check_exports.sh NM LIBRARY HEADER EXPORTS_MAP
set -euo pipefail
nm=$1 lib=$2 header=$3 map=$4

# The version script's node (e.g. FLASHFFTCONV_0) shows up in `nm -D` as an
# absolute symbol: it is the version definition, not an exported object.
node=$(sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*{.*/\1/p' "$map" | head -n 1)

# "ADDRESS TYPE NAME[@@VERSION]" -> "TYPE NAME"
defined=$("$nm" -D --defined-only "$lib" | awk '{ sub(/@.*/, "", $3); print $2, $3 }' | sort -u)
[ -n "$defined" ] || { echo "FAIL: $lib defines no dynamic symbols"; exit 1; }

status=0
while read -r type name; do
  if [ "$type" = A ] && [ "$name" = "$node" ]; then continue; fi
  case "$name" in
    ffc_*) [ "$type" = T ] || { echo "FAIL: $name is exported with type $type, expected a function (T)"; status=1; } ;;
    *) echo "FAIL: unexpected exported symbol: $type $name"; status=1 ;;
  esac
done <<< "$defined"

exported=$(awk '{ print $2 }' <<< "$defined" | grep '^ffc_' | sort -u)
declared=$(grep -oE '^FFC_API[^(]*\bffc_[a-z0-9_]+\(' "$header" | grep -oE 'ffc_[a-z0-9_]+\($' | tr -d '(' | sort -u)
[ -n "$declared" ] || { echo "FAIL: no FFC_API declarations found in $header"; exit 1; }
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
[ -z "$missing" ] || { echo "FAIL: declared in the header but not exported:"; echo "$missing"; status=1; }
[ -z "$extra" ] || { echo "FAIL: exported but not declared in the header:"; echo "$extra"; status=1; }

if [ $status -eq 0 ]; then
  echo "ok: $(echo "$exported" | wc -l) ffc_* functions exported, nothing else (version node: ${node:-none})"
fi
exit $status
