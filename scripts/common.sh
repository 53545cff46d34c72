# common.sh -- sourced by scripts/demo, scripts/test and scripts/bench: installs what is
# missing (Debian 12, apt-get) and builds out of tree. Idempotent.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=$(nproc 2>/dev/null || echo 2)
DEPS="build-essential autoconf automake libtool pkg-config libunwind-dev libzstd-dev \
libdwarf-dev libelf-dev libjemalloc-dev libyajl-dev zstd g++ libprotobuf-c-dev \
protobuf-c-compiler zlib1g-dev libdeflate0"
# (libdeflate0: loaded at run time by the analyzer to inflate compressed debug sections twice as
# fast as zlib; without it zlib does the same work: analyzer/core/dwarfinfo.c)
# optional, for tests only: the real-program test (tests/integration/real_programs.sh) and
# fuzzing (scripts/fuzz), the HTML report's browser test (chromium); a missing one makes its
# test skip
TEST_DEPS="python3 python3-jsonschema perl git sqlite3 valgrind clang libclang-rt-14-dev strace \
golang-go chromium"

ps_install() {
    missing=""
    for p in $DEPS "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "perfshim: installing$missing" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
}

# ps_build DIR [configure args...]: configures once, then builds (make is incremental).
ps_build() {
    dir=$1
    shift
    cd "$ROOT"
    if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
        autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
    fi
    mkdir -p "$ROOT/$dir"
    cd "$ROOT/$dir"
    if [ ! -f Makefile ] || [ "$ROOT/configure" -nt Makefile ]; then
        "$ROOT/configure" -q "$@" >/dev/null
    fi
    make -s -j"$JOBS" >/dev/null
    cd "$ROOT"
}
