#include "store/arena.h"

#include <sys/mman.h>

#include <cassert>
#include <cstring>
#include <new>

namespace lmc::store {
namespace {
std::size_t RoundUp(std::size_t n) {
  return (n + Arena::kGranuleBytes - 1) / Arena::kGranuleBytes * Arena::kGranuleBytes;
}
}  // namespace

Arena::Arena(std::size_t capacity_bytes) : capacity_(RoundUp(capacity_bytes)) {
  if (capacity_ == 0) return;
  void* p = mmap(nullptr, capacity_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<std::byte*>(p);
  // MAP_POPULATE maps the pages; writing them makes them private and warm.
  std::memset(base_, 0, capacity_);
  InsertFree(0, capacity_);
}

Arena::~Arena() {
  if (base_ != nullptr) munmap(base_, capacity_);
}

// Among free blocks of one size, the most recently freed comes first (the
// hint puts it in front of its equal range), so Allocate hands out the
// warmest block: a replaced object's bytes are still in cache when the next
// PUT of that size is received into them.
void Arena::InsertFree(std::size_t offset, std::size_t bytes) {
  free_by_offset_.emplace(offset, bytes);
  free_by_size_.emplace_hint(free_by_size_.lower_bound(bytes), bytes, offset);
}

void Arena::EraseFree(std::map<std::size_t, std::size_t>::iterator it) {
  auto [first, last] = free_by_size_.equal_range(it->second);
  for (auto s = first; s != last; ++s) {
    if (s->second == it->first) {
      free_by_size_.erase(s);
      break;
    }
  }
  free_by_offset_.erase(it);
}

std::optional<Arena::Block> Arena::Allocate(std::size_t bytes) {
  assert(bytes > 0);
  const std::size_t want = RoundUp(bytes);
  if (want < bytes) return std::nullopt;  // overflow
  const auto fit = free_by_size_.lower_bound(want);
  if (fit == free_by_size_.end()) return std::nullopt;
  const std::size_t offset = fit->second;
  const std::size_t have = fit->first;
  EraseFree(free_by_offset_.find(offset));
  if (have > want) InsertFree(offset + want, have - want);
  used_ += want;
  assert(used_ <= capacity_);
  return Block{offset, want};
}

void Arena::Free(Block b) {
  assert(b.bytes > 0 && b.offset + b.bytes <= capacity_ && used_ >= b.bytes);
  used_ -= b.bytes;
  std::size_t offset = b.offset;
  std::size_t bytes = b.bytes;
  auto next = free_by_offset_.lower_bound(offset);
  assert(next == free_by_offset_.end() || next->first >= offset + bytes);  // no double free
  if (next != free_by_offset_.end() && next->first == offset + bytes) {
    bytes += next->second;
    auto after = std::next(next);
    EraseFree(next);
    next = after;
  }
  if (next != free_by_offset_.begin()) {
    auto prev = std::prev(next);
    assert(prev->first + prev->second <= offset);
    if (prev->first + prev->second == offset) {
      offset = prev->first;
      bytes += prev->second;
      EraseFree(prev);
    }
  }
  InsertFree(offset, bytes);
}

std::size_t Arena::largest_free_bytes() const { return free_by_size_.empty() ? 0 : free_by_size_.rbegin()->first; }

}  // namespace lmc::store
