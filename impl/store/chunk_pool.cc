#include "store/chunk_pool.h"

#include <sys/mman.h>

#include <cstring>
#include <new>

#include "base/check.h"

namespace lmc::store {

ChunkPool::ChunkPool(std::size_t chunk_bytes, std::uint32_t chunks, std::uint32_t warm_chunks)
    : chunk_bytes_(chunk_bytes), chunks_(chunks), is_free_(chunks, true) {
  LMC_CHECK(chunk_bytes > 0 && chunk_bytes % kGranuleBytes == 0 && warm_chunks <= chunks, "a pool of ", chunks,
            " chunks of ", chunk_bytes, " bytes, ", warm_chunks, " warm");
  mapped_ = std::size_t{chunks} * chunk_bytes;
  if (mapped_ == 0) return;
  void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<std::byte*>(p);
  // Writing the pages makes them private and warm.
  std::memset(base_, 0, std::size_t{warm_chunks} * chunk_bytes);
  // The warm chunks on top of the stack, lowest first.
  free_.reserve(chunks);
  for (std::uint32_t c = chunks; c > 0; --c) free_.push_back(c - 1);
}

ChunkPool::~ChunkPool() {
  if (base_ != nullptr) munmap(base_, mapped_);
}

std::optional<std::uint32_t> ChunkPool::Take() {
  if (free_.empty()) return std::nullopt;
  const std::uint32_t c = free_.back();
  free_.pop_back();
  is_free_[c] = false;
  return c;
}

void ChunkPool::Give(std::uint32_t chunk) {
  LMC_CHECK(chunk < chunks_ && !is_free_[chunk], "giving back chunk ", chunk, " of ", chunks_,
            chunk < chunks_ ? " twice" : " (out of range)");
  is_free_[chunk] = true;
  free_.push_back(chunk);
}

void ChunkPool::CheckInvariants() const {
  std::vector<bool> seen(chunks_, false);
  for (const std::uint32_t c : free_) {
    LMC_CHECK(c < chunks_ && is_free_[c] && !seen[c], "free list entry ", c, " is out of range, in use or repeated");
    seen[c] = true;
  }
  LMC_CHECK(seen == is_free_, "the free list and the free flags disagree");
}

}  // namespace lmc::store
