# Sourced by ./hub: builds llama-cpp-python (the local LLM's runtime) portably and installs it.
#
# pip would compile llama.cpp for the build machine's CPU (GGML_NATIVE: -march=native, which
# brings AVX-512 and AMX kernels where the CPU advertises them) and cache that wheel under a
# key that ignores the build flags, so a wheel built on one machine could reach another CPU.
# Instead:
#   - the instruction-set level is chosen by *running* instructions (a tiny C probe), never by
#     CPUID alone: x86-64-v3 (AVX2, FMA, F16C, BMI2), else x86-64-v2 (SSE4.2), else the plain
#     x86-64 baseline; on other CPUs the architecture's baseline. AVX-512 and AMX are never
#     compiled in (docs/benchmarks.md has the speed with and without them);
#   - the wheel is built with GGML_NATIVE=OFF and those flags, without pip's cache, into
#     $HYPERHUB_WHEELS/llama-cpp-python-<version>-<level>/, and installed from there;
#   - $VENV/.hyperhub-llama records what is installed, so a venv that holds another build
#     (an older native one, say) gets the portable one.
# The version is the one pyproject.toml pins, the only place it is written.

LLAMA_MARK="$VENV/.hyperhub-llama"
HYPERHUB_WHEELS="${HYPERHUB_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/hyperhub/wheels}"

llama_version() {
  grep -oE 'llama-cpp-python==[0-9][0-9a-z.]*' "$ROOT/pyproject.toml" | head -1 | cut -d= -f3
}

# The highest level whose instructions this CPU really executes (prints v3, v2, v1 or generic).
llama_level() {
  case "$(uname -m)" in x86_64 | amd64) ;; *) echo generic; return 0 ;; esac
  local dir cc
  cc=$(command -v cc || command -v gcc || true)
  [ -n "$cc" ] || { echo v1; return 0; }
  dir=$(mktemp -d)
  cat > "$dir/v3.c" <<'EOF'
#include <immintrin.h>
volatile float x = 1.5f, y = 2.0f; volatile int n = 3; volatile unsigned short h = 0x3c00;
int main(void) {
  __m256 c = _mm256_fmadd_ps(_mm256_set1_ps(x), _mm256_set1_ps(y), _mm256_set1_ps(x)); /* FMA */
  __m256i i = _mm256_add_epi32(_mm256_set1_epi32(n), _mm256_set1_epi32(n));           /* AVX2 */
  __m128 f = _mm_cvtph_ps(_mm_set1_epi16((short)h));                                  /* F16C */
  unsigned p = _pdep_u32((unsigned)n, 0xF0u);                                         /* BMI2 */
  return (_mm256_cvtss_f32(c) == 4.5f && _mm256_extract_epi32(i, 0) == 6
          && _mm_cvtss_f32(f) == 1.0f && p == 0x30u) ? 0 : 1;
}
EOF
  cat > "$dir/v2.c" <<'EOF'
#include <nmmintrin.h>
volatile unsigned v = 7;
int main(void) { return _mm_crc32_u32(0, v) != 0 && __builtin_popcount(v) == 3 ? 0 : 1; }
EOF
  local level=v1
  if "$cc" -O0 -mavx2 -mfma -mf16c -mbmi2 "$dir/v3.c" -o "$dir/v3" 2>/dev/null && "$dir/v3" 2>/dev/null; then
    level=v3
  elif "$cc" -O0 -msse4.2 -mpopcnt "$dir/v2.c" -o "$dir/v2" 2>/dev/null && "$dir/v2" 2>/dev/null; then
    level=v2
  fi
  rm -rf "$dir"
  echo "$level"
}

# CMake options for a level: never native, never AVX-512 or AMX.
llama_cmake_args() {
  local off="-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF"
  off="$off -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  local base="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF"
  case "$1" in
    v3) echo "$base $off -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" ;;
    v2) echo "$base $off -DGGML_SSE42=ON -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF" ;;
    v1) echo "$base $off -DGGML_SSE42=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF" ;;
    *) echo "$base" ;;  # other architectures: GGML_NATIVE=OFF is their baseline
  esac
}

# Install the portable llama-cpp-python into the venv unless it is there already; leaves the
# level it found in LLAMA_LEVEL (the probe compiles C: once per set-up is enough).
LLAMA_LEVEL=""
ensure_llama() {
  local version level want dir wheel
  version=$(llama_version)
  [ -n "$version" ] || { say "pyproject.toml pins no llama-cpp-python version"; exit 1; }
  level=$(llama_level)
  LLAMA_LEVEL=$level
  want="llama-cpp-python $version $level portable"
  if [ -f "$LLAMA_MARK" ] && [ "$(cat "$LLAMA_MARK")" = "$want" ]; then return 0; fi
  dir="$HYPERHUB_WHEELS/llama-cpp-python-$version-$level"
  wheel=$(ls "$dir"/llama_cpp_python-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$wheel" ]; then
    say "compiling llama-cpp-python $version for any CPU of level $level (about 4 minutes on 2 cores, once; kept in $dir)"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    CMAKE_ARGS="$(llama_cmake_args "$level")" "$VENV/bin/python" -m pip wheel -q \
      --disable-pip-version-check --no-cache-dir --no-deps --no-binary llama-cpp-python \
      -w "$dir.tmp" "llama-cpp-python==$version"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    wheel=$(ls "$dir"/llama_cpp_python-*.whl | head -1)
  fi
  say "installing the portable llama-cpp-python $version ($level)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel"
  echo "$want" > "$LLAMA_MARK"
}
