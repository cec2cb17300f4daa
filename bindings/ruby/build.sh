#!/usr/bin/env bash
# Build the Ruby binding's native part (magnus + rb-sys against Debian's
# ruby-dev) into lib/vpsos/vpsos_native.so, so that
#   ruby -I bindings/ruby/lib -e 'require "vpsos"'
# works without RubyGems. Installs what it needs (run as root).
set -euo pipefail
cd "$(dirname "$0")"
missing=()
for p in ruby ruby-dev libclang-dev ruby-minitest libseccomp-dev pkg-config gcc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
cargo build --release
target=$(cargo metadata --format-version 1 --no-deps | ruby -rjson -e 'puts JSON.parse($stdin.read)["target_directory"]')
install -m 0755 "$target/release/libvpsos_native.so" lib/vpsos/vpsos_native.so
echo "bindings/ruby: lib/vpsos/vpsos_native.so built"
