# shellcheck shell=bash
# Shared set-up for .ci/demo and .ci/test (sourced, not run). Makes a fresh
# Debian 12 machine able to build: installs what is missing (as root, or with
# sudo), finds CUDA, configures and builds.
#
# Environment knobs (all optional):
#   FFC_CUDA=auto|on|off     CUDA backend: auto (default) builds it when nvcc is on
#                            PATH or at /usr/local/cuda/bin/nvcc; off builds the
#                            CPU backend only (much faster to compile).
#   FFC_CUDA_ARCHS="80;90"   CMAKE_CUDA_ARCHITECTURES for the CUDA build.
#   FFC_BUILD_DIR=build      build directory (relative to the repository root).
#   FFC_JOBS=$(nproc)        parallel build jobs.

FFC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FFC_BUILD=$FFC_ROOT/${FFC_BUILD_DIR:-build}
FFC_JOBS=${FFC_JOBS:-$(nproc)}
FFC_CUDA_ARCHS=${FFC_CUDA_ARCHS:-80;90}
export DEBIAN_FRONTEND=noninteractive
_ffc_apt_updated=0

ci_log() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# Runs a command as root: directly when we are root, else through sudo.
ci_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages among "$@" that are not installed yet; runs
# `apt-get update` once per script, and only if something is missing.
ci_apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  ci_log "apt-get install ${missing[*]}"
  if [ $_ffc_apt_updated -eq 0 ]; then
    ci_as_root apt-get update -qq
    _ffc_apt_updated=1
  fi
  ci_as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Compilers, CMake, the test framework, the fp64 oracle (FFTW) and Doxygen.
ci_build_deps() {
  ci_apt_install ca-certificates cmake make g++ binutils pkg-config catch2 libfftw3-dev doxygen
}

# numpy, ml_dtypes and pytest for the Python binding's tests, with whichever
# python3 is first on PATH.
ci_python_deps() {
  command -v python3 >/dev/null 2>&1 || ci_apt_install python3 python3-pip
  if python3 -c 'import numpy, ml_dtypes, pytest' >/dev/null 2>&1; then return 0; fi
  python3 -m pip --version >/dev/null 2>&1 || ci_apt_install python3-pip
  ci_log "pip install numpy ml_dtypes pytest"
  local pip=(python3 -m pip install -q numpy ml_dtypes pytest)
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
  # Debian's own python3 refuses system-wide installs (PEP 668); a CI machine is
  # disposable, so override that rather than fail.
  "${pip[@]}" || "${pip[@]}" --break-system-packages
}

# cargo for the Rust binding's tests: a rustup installation in ~/.cargo if there
# is one, else Debian's. Debian 12's plain `cargo` (Rust 1.63) is too old for the
# crate; `cargo-web` is the current Rust that Debian ships for bookworm.
ci_rust_deps() {
  if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
  command -v cargo >/dev/null 2>&1 || ci_apt_install cargo-web
}

# Decides whether to build the CUDA backend; sets FFC_ENABLE_CUDA (ON/OFF).
ci_cuda() {
  case "${FFC_CUDA:-auto}" in
    off|OFF|0|no|false) FFC_ENABLE_CUDA=OFF ;;
    *)
      if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
        export PATH="/usr/local/cuda/bin:$PATH"
      fi
      if command -v nvcc >/dev/null 2>&1; then
        FFC_ENABLE_CUDA=ON
      elif [ "${FFC_CUDA:-auto}" = auto ]; then
        FFC_ENABLE_CUDA=OFF
      else
        echo "FFC_CUDA=${FFC_CUDA} but no nvcc on PATH or at /usr/local/cuda/bin/nvcc" >&2
        return 1
      fi ;;
  esac
  ci_log "CUDA backend: $FFC_ENABLE_CUDA$([ $FFC_ENABLE_CUDA = ON ] && echo " (nvcc: $(command -v nvcc), archs $FFC_CUDA_ARCHS)")"
}

# Configures $FFC_BUILD (Release) and builds the given targets (all when none).
ci_configure_and_build() {
  ci_cuda || return 1
  local args=(-S "$FFC_ROOT" -B "$FFC_BUILD" -DCMAKE_BUILD_TYPE=Release -DFFC_ENABLE_CUDA="$FFC_ENABLE_CUDA")
  [ "$FFC_ENABLE_CUDA" = ON ] && args+=(-DCMAKE_CUDA_ARCHITECTURES="$FFC_CUDA_ARCHS")
  ci_log "configure: cmake ${args[*]}"
  cmake "${args[@]}" || return 1
  local build=(cmake --build "$FFC_BUILD" -j"$FFC_JOBS")
  [ $# -gt 0 ] && build+=(--target "$@")
  ci_log "build: ${build[*]}"
  "${build[@]}"
}
