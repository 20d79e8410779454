// A fixed region of memory, mapped and pre-faulted once, carved into
// variable-size blocks by a best-fit allocator with coalescing. This is the
// L1 store's byte budget: writing into freshly mapped pages is about ten times
// slower than into warm ones here, so the pages are touched at start-up and
// then reused for the life of the process (as LMCache's own L1 does).
//
// Not thread-safe: the owner serialises calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>

namespace lmc::store {

class Arena {
 public:
  // Blocks are aligned to, and sized in multiples of, this many bytes.
  static constexpr std::size_t kGranuleBytes = 64;

  // Maps and pre-faults `capacity_bytes` (rounded up to a granule). Throws
  // std::bad_alloc if the mapping fails: this is start-up configuration.
  explicit Arena(std::size_t capacity_bytes);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  struct Block {
    std::size_t offset = 0;
    std::size_t bytes = 0;  // rounded up to a granule
  };

  // The smallest free block that fits `bytes` (> 0), or nullopt.
  [[nodiscard]] std::optional<Block> Allocate(std::size_t bytes);
  // Returns a block from Allocate; neighbours coalesce.
  void Free(Block b);

  std::byte* At(std::size_t offset) const { return base_ + offset; }
  std::size_t capacity_bytes() const { return capacity_; }
  std::size_t used_bytes() const { return used_; }
  // The largest block Allocate could return now.
  std::size_t largest_free_bytes() const;
  // The free blocks: offset -> bytes, in address order.
  const std::map<std::size_t, std::size_t>& free_blocks() const { return free_by_offset_; }
  // What Allocate(bytes) takes: `bytes` rounded up to a granule.
  static std::size_t BlockBytes(std::size_t bytes) {
    return (bytes + kGranuleBytes - 1) / kGranuleBytes * kGranuleBytes;
  }
  // Walks the free lists and aborts (LMC_CHECK) unless they agree: the same
  // blocks by offset and by size, none overlapping or touching (neighbours
  // coalesce), all inside the region, adding up to capacity - used. O(free
  // blocks): for tests and the simulator.
  void CheckInvariants() const;

 private:
  void InsertFree(std::size_t offset, std::size_t bytes);
  void EraseFree(std::map<std::size_t, std::size_t>::iterator it);

  std::byte* base_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::map<std::size_t, std::size_t> free_by_offset_;     // offset -> bytes
  std::multimap<std::size_t, std::size_t> free_by_size_;  // bytes -> offset
};

}  // namespace lmc::store
