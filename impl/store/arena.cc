#include "store/arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "base/check.h"

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
  LMC_DCHECK(bytes > 0, "allocating 0 bytes");
  const std::size_t want = RoundUp(bytes);
  if (want < bytes) return std::nullopt;  // overflow
  const auto fit = free_by_size_.lower_bound(want);
  if (fit == free_by_size_.end()) return std::nullopt;
  const std::size_t offset = fit->second;
  const std::size_t have = fit->first;
  EraseFree(free_by_offset_.find(offset));
  if (have > want) InsertFree(offset + want, have - want);
  used_ += want;
  LMC_DCHECK(used_ <= capacity_, "used ", used_, " > capacity ", capacity_);
  return Block{offset, want};
}

void Arena::Free(Block b) {
  LMC_CHECK(b.bytes > 0 && b.offset + b.bytes <= capacity_ && used_ >= b.bytes, "freeing ", b.bytes, " bytes at ",
            b.offset, " with ", used_, " used of ", capacity_);
  used_ -= b.bytes;
  std::size_t offset = b.offset;
  std::size_t bytes = b.bytes;
  auto next = free_by_offset_.lower_bound(offset);
  LMC_CHECK(next == free_by_offset_.end() || next->first >= offset + bytes, "double free of the block at ", offset);
  if (next != free_by_offset_.end() && next->first == offset + bytes) {
    bytes += next->second;
    auto after = std::next(next);
    EraseFree(next);
    next = after;
  }
  if (next != free_by_offset_.begin()) {
    auto prev = std::prev(next);
    LMC_CHECK(prev->first + prev->second <= offset, "double free of the block at ", offset);
    if (prev->first + prev->second == offset) {
      offset = prev->first;
      bytes += prev->second;
      EraseFree(prev);
    }
  }
  InsertFree(offset, bytes);
}

void Arena::CheckInvariants() const {
  LMC_CHECK(used_ <= capacity_, "used ", used_, " > capacity ", capacity_);
  LMC_CHECK(free_by_offset_.size() == free_by_size_.size(), free_by_offset_.size(), " free blocks by offset, ",
            free_by_size_.size(), " by size");
  std::size_t free = 0;
  std::size_t end = 0;  // of the previous free block
  for (const auto& [offset, bytes] : free_by_offset_) {
    LMC_CHECK(bytes > 0 && bytes % kGranuleBytes == 0 && offset % kGranuleBytes == 0, "free block at ", offset, " of ",
              bytes, " bytes is not whole granules");
    LMC_CHECK(free == 0 || offset > end, "free block at ", offset, " overlaps or touches the one ending at ", end);
    LMC_CHECK(offset + bytes <= capacity_, "free block at ", offset, " of ", bytes, " ends past ", capacity_);
    const auto [first, last] = free_by_size_.equal_range(bytes);
    const std::size_t at = offset;  // clang 14 cannot capture a structured binding
    LMC_CHECK(std::any_of(first, last, [at](const auto& s) { return s.second == at; }), "free block at ", offset,
              " is missing from the by-size list");
    free += bytes;
    end = offset + bytes;
  }
  LMC_CHECK(free + used_ == capacity_, "free ", free, " + used ", used_, " != capacity ", capacity_);
}

std::size_t Arena::largest_free_bytes() const { return free_by_size_.empty() ? 0 : free_by_size_.rbegin()->first; }

}  // namespace lmc::store
