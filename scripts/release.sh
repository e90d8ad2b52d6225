#!/usr/bin/env bash
# Builds a release of rlm: one stripped binary with the Swift runtime and Foundation linked in (its resources are
# compiled in, so it runs alone), packed as dist/rlm-VERSION-linux-ARCH.tar.gz with its .sha256, and the wheel
# dist/swift_rlm-VERSION-py3-none-manylinux_2_X_ARCH.whl that puts the same binary on PATH.
#
#   bash scripts/release.sh            # about 8-10 minutes on 2 cores from clean
#
# Environment: RLM_RELEASE_SCRATCH (build folder, default .build-release, separate from .build so a release
# build does not hold the lock of everyday builds), RLM_DIST (output folder, default dist).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${RLM_RELEASE_SCRATCH:-.build-release}
dist=${RLM_DIST:-dist}

# FoundationNetworking (URLSession) comes in with the MCP SDK (its HTTP transport and OAuth files) and calls libcurl.
# packaging/curl_loader.c stands in for libcurl: it loads libcurl.so.4 only if a URLSession ever starts (rlm starts
# none), so libcurl is not among the binary's dynamic libraries and a system without it runs rlm. Its libcurl.a
# sits in a folder searched first, so the -lcurl that FoundationNetworking asks for finds it.
loader="$scratch/curl-loader"
mkdir -p "$loader"
compiler=$(command -v cc || command -v clang)  # clang comes with the Swift toolchain
"$compiler" -O2 -fPIC -Wall -c packaging/curl_loader.c -o "$loader/curl_loader.o"
rm -f "$loader/libcurl.a" && ar rcs "$loader/libcurl.a" "$loader/curl_loader.o"

# The commit goes into `rlm --version` (the EmbedResources plugin reads RLM_BUILD_COMMIT).
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
if [ -n "$commit" ] && ! git diff --quiet HEAD -- 2>/dev/null; then commit="$commit-dirty"; fi
export RLM_BUILD_COMMIT=${RLM_BUILD_COMMIT:-$commit}

start=$SECONDS
swift build -c release --product rlm --static-swift-stdlib --scratch-path "$scratch" -Xlinker -L"$(cd "$loader" && pwd)"
echo "release.sh: built in $((SECONDS - start)) s" >&2
built="$(swift build -c release --product rlm --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/rlm"

version=$("$built" --version | cut -d' ' -f1)
arch=$(uname -m)
name="rlm-$version-linux-$arch"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name" "$dist"
strip -o "$stage/$name/rlm" "$built"
cp packaging/README.md "$stage/$name/README.md"

# The glibc floor: the newest GLIBC_ symbol version the binary needs.
glibc=$(objdump -T "$stage/$name/rlm" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)

tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$dist/$name.tar.gz" "$name"
(cd "$dist" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
rm -f "$dist"/swift_rlm-*.whl
wheel=$(python3 packaging/build_wheel.py --binary "$stage/$name/rlm" --version "$version" \
  --platform "manylinux_${glibc//./_}_$arch" --out "$dist")
(cd "$dist" && sha256sum "$(basename "$wheel")" > "$(basename "$wheel").sha256")

echo "release.sh: $("$stage/$name/rlm" --version)"
echo "release.sh: binary $(du -h "$stage/$name/rlm" | cut -f1) stripped; needs glibc $glibc"
echo "release.sh: dynamic libraries it names (readelf -d):"
readelf -d "$stage/$name/rlm" | sed -n 's/.*NEEDED.*\[\(.*\)\]/  \1/p'
echo "release.sh: ldd:"
ldd "$stage/$name/rlm" | sed 's/^/  /'
ls -l "$dist/$name.tar.gz" "$wheel" | sed 's/^/release.sh: /'
