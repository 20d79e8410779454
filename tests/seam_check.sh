#!/usr/bin/env bash
# The runtime seam is the only way to the world (impl/runtime/env.h): no
# file of impl/ outside the seam's production implementation makes threads,
# waits on condition variables or futures, sleeps, reads a clock, draws OS
# randomness, polls descriptors or calls the file system. Comments are not
# code and are ignored.
#
# Allowed, and why:
#   impl/runtime/process_env.*, impl/runtime/job_pool.*  the production Env
#   impl/net/asio_transport.*                            the production network
#   impl/tools/*_main.cc   a program's main() is the process edge: it makes
#                          the production Env, reads the files its command
#                          line names, handles signals, and times itself
#   impl/tools/bench_driver.*  lmcache-bench's main() split off: it drives a
#                          server from outside, on real threads and clocks
#   *_test.cc, impl/runtime/testing.h, impl/serde/fp8_fp32_exhaustive.cc
#                          tests, which drive the code from outside
#
# usage: seam_check.sh SOURCE_DIR          check the tree; exit 1 on a violation
#        seam_check.sh --self-test SOURCE_DIR
#                          plant one violation of each kind in a copy of
#                          impl/ and check that every one is caught
set -euo pipefail

# name|extended regular expression
rules=(
  'thread|std::(j)?thread\b|pthread_create|std::async\b'
  'wait primitive|condition_variable|std::(shared_)?future\b|std::promise\b'
  'sleep|sleep_for|sleep_until|\busleep\(|nanosleep|\bsleep\('
  'clock|(steady|system|high_resolution)_clock::now|Clock::now\(|clock_gettime|gettimeofday|\btime\(nullptr\)'
  'OS randomness|random_device|RAND_bytes|getrandom|arc4random|std::rand\(|\bsrand\(|/dev/u?random'
  'file call|::open\(|::openat\(|\bfopen\(|fstream|std::filesystem|::unlink\(|::rename|renameat|::mkdir\(|opendir\(|::fsync\(|::stat\(|::lstat\(|::fstat\(|::read\(|::write\(|::close\('
  'descriptor poll|\bpoll\(|epoll_|\bselect\(|eventfd'
)

allowed() {
  case "$1" in
    impl/runtime/process_env.* | impl/runtime/job_pool.* | impl/net/asio_transport.*) return 0 ;;
    impl/tools/*_main.cc | impl/tools/bench_driver.* | *_test.cc | impl/runtime/testing.h | impl/serde/fp8_fp32_exhaustive.cc) return 0 ;;
  esac
  return 1
}

# check ROOT: prints each violation as FILE:LINE: KIND: TEXT; exit 1 if any.
check() {
  local root="$1" found=0 file rule name re stripped
  stripped="$(mktemp -d)"
  # A copy of every checked file without its // comments (line numbers kept).
  while IFS= read -r file; do
    allowed "$file" && continue
    mkdir -p "$stripped/$(dirname "$file")"
    sed 's#//.*##' "$root/$file" >"$stripped/$file"
  done < <(cd "$root" && find impl -type f \( -name '*.cc' -o -name '*.h' \) | sort)
  for rule in "${rules[@]}"; do
    name="${rule%%|*}"
    re="${rule#*|}"
    while IFS= read -r hit; do
      [[ -z "$hit" ]] && continue
      found=1
      file="${hit%%:*}"
      hit="${hit#*:}"
      echo "$file:${hit%%:*}: $name: ${hit#*:}"
    done < <(cd "$stripped" && grep -rnE -e "$re" impl || true)
  done
  rm -rf "$stripped"
  return "$found"
}

if [[ "${1:-}" == "--self-test" ]]; then
  src="$2"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cp -r "$src/impl" "$work/impl"
  if ! (check "$work" >/dev/null); then
    echo "self-test: the clean tree already fails"
    exit 1
  fi
  plants=(
    'std::thread t([] {});'
    'std::condition_variable cv;'
    'std::this_thread::sleep_for(std::chrono::milliseconds(1));'
    'auto t0 = std::chrono::steady_clock::now();'
    'std::random_device entropy;'
    'int fd = ::open("x", 0);'
    'pollfd p{}; ::poll(&p, 1, 0);'
  )
  failed=0
  for plant in "${plants[@]}"; do
    cp "$src/impl/tier/tier.cc" "$work/impl/tier/tier.cc"
    echo "$plant" >>"$work/impl/tier/tier.cc"
    if (check "$work" >/dev/null); then
      echo "self-test: not caught: $plant"
      failed=1
    fi
  done
  # A comment naming a forbidden call is not a violation.
  cp "$src/impl/tier/tier.cc" "$work/impl/tier/tier.cc"
  echo '// never std::this_thread::sleep_for here' >>"$work/impl/tier/tier.cc"
  if ! (check "$work" >/dev/null); then
    echo "self-test: a comment was taken for code"
    failed=1
  fi
  [[ "$failed" == 0 ]] && echo "self-test: ${#plants[@]} planted violations caught, comments ignored"
  exit "$failed"
fi

if check "$1"; then
  echo "seam check: impl/ reaches the world only through the runtime seam"
else
  echo "seam check: the lines above bypass the runtime seam (impl/runtime/env.h)"
  exit 1
fi
