#!/usr/bin/env bash
# The layering of docs/architecture.md, checked: each component's sources include only the public headers
# (rote/NAME/...) of the components below it that it links, and nothing reaches into another component's
# src/. Exit 1, naming the file and the include, on the first layer broken. Run by ctest (architecture_test).
set -euo pipefail
top=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"

# folder | the header name it owns | the header names it may include besides its own (its CMake links)
layers=(
  "base|base|"
  "store|store|base"
  "vision|vision|base"
  "llm-client|llm|base vision"
  "recorder|recorder|base store vision"
  "replayer|replayer|base store vision"
  "runtime/desktop|desktop|base vision"
  "runtime/egress|egress|base"
  "runtime/liveview|liveview|base desktop sandbox"
  "runtime/sandbox|sandbox|base desktop"
  "runtime/session|session|base desktop egress sandbox"
  "runtime/witness|witness|base"
  "api|api|base store egress"
  "runtime/agent|agent|base store vision llm recorder replayer desktop egress sandbox session witness api"
  "report|report|base store vision"
  "scheduler|scheduler|base store agent"
  "server|server|base store agent report liveview desktop"
  "tools/demo-site|-|"
)

status=0
owners=" "
for layer in "${layers[@]}"; do
  IFS='|' read -r dir own allowed <<<"$layer"
  owners+="$own "
  [ -d "$dir" ] || { echo "check-layers: $dir is missing" >&2; exit 1; }
  while IFS= read -r hit; do
    file=${hit%%:*}
    name=$(sed -E 's/.*#include <rote\/([a-z_-]+)\/.*/\1/' <<<"$hit")
    case " $own $allowed " in
      *" $name "*) ;;
      *) echo "check-layers: $file includes rote/$name/, which $dir may not use (allowed: ${allowed:-none})"; status=1 ;;
    esac
  done < <(grep -rnE '#include <rote/[a-z_-]+/' "$dir" --include='*.h' --include='*.cpp' || true)
  # Its CMake links too: a rote_* library it links must be one of the allowed (rote_llm is llm-client's).
  if [ -f "$dir/CMakeLists.txt" ]; then
    for target in $(awk '/target_link_libraries\(/,/\)/' "$dir/CMakeLists.txt" | grep -oE 'rote_[a-z_]+' | sort -u); do
      name=${target#rote_}
      [ "$name" = demo_sites ] && continue
      case " $own $allowed " in
        *" $name "*) ;;
        *) echo "check-layers: $dir/CMakeLists.txt links $target, which $dir may not use (allowed: ${allowed:-none})"; status=1 ;;
      esac
    done
  fi
  # A component's private headers are its own: no other folder names its src/ in an include.
  if grep -rnE "#include \"(\.\./)+[a-z-]+/src/" "$dir" --include='*.h' --include='*.cpp'; then
    echo "check-layers: $dir includes another component's private header"; status=1
  fi
done

# Every folder with a public include/rote/NAME is in the list above (a new component is added there too).
while IFS= read -r inc; do
  name=$(basename "$inc")
  case "$owners" in
    *" $name "*) ;;
    *) echo "check-layers: $inc is not in tests/architecture/check-layers.sh's layers (nor docs/architecture.md)"; status=1 ;;
  esac
done < <(find . -path ./build -prune -o -path './build-*' -prune -o -path '*/include/rote/*' -type d -print | grep -E '/include/rote/[a-z_-]+$')

[ "$status" -eq 0 ] && echo "check-layers: ${#layers[@]} components, every include points down"
exit "$status"
