// The L1 store's memory: one mapped region cut into chunks of one size.
// Any free chunk serves any request, so freeing N chunks always makes room
// for N more: there is no fragmentation between chunks. Objects are made of
// whole chunks plus one tail piece; the L1 store packs tails (and small
// objects) into shared chunks it calls pages (see l1_store.h).
//
// The first `warm_chunks` are pre-faulted (writing into freshly mapped pages
// is about ten times slower than into warm ones here) and handed out first;
// the rest are faulted in on first use and then kept. Free chunks are handed
// out last-freed first, so a PUT lands in bytes still warm in cache.
//
// Not thread-safe: the owner serialises calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace lmc::store {

class ChunkPool {
 public:
  // Pieces inside a page are aligned to, and sized in multiples of, this.
  static constexpr std::size_t kGranuleBytes = 64;
  static std::size_t Granules(std::size_t bytes) { return (bytes + kGranuleBytes - 1) / kGranuleBytes * kGranuleBytes; }

  // `chunk_bytes` is a positive multiple of kGranuleBytes. Throws
  // std::bad_alloc if the mapping fails: this is start-up configuration.
  ChunkPool(std::size_t chunk_bytes, std::uint32_t chunks, std::uint32_t warm_chunks);
  ~ChunkPool();
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  // A free chunk, or nullopt when none is left.
  [[nodiscard]] std::optional<std::uint32_t> Take();
  // Gives back a chunk from Take (checked: not already free).
  void Give(std::uint32_t chunk);

  std::byte* At(std::uint32_t chunk) const { return base_ + std::size_t{chunk} * chunk_bytes_; }
  std::size_t chunk_bytes() const { return chunk_bytes_; }
  std::uint32_t chunks() const { return chunks_; }
  std::uint32_t free_chunks() const { return static_cast<std::uint32_t>(free_.size()); }
  // The free list holds each free chunk once and no chunk in use. O(chunks).
  void CheckInvariants() const;

 private:
  std::byte* base_ = nullptr;
  std::size_t chunk_bytes_;
  std::uint32_t chunks_;
  std::size_t mapped_ = 0;
  std::vector<std::uint32_t> free_;  // a stack: the back is handed out next
  std::vector<bool> is_free_;
};

}  // namespace lmc::store
