// Counted staging buffers: the serde wrapper's serialised blobs on their way
// to and from L2 (LMCache's temporary L1 objects, serde.md §5.2). A batch is
// reserved all or nothing under a byte budget, every buffer goes back when
// its handle dies, and the pool counts what is out so tests can assert that
// nothing is outstanding after each batch, success or failure.
//
// Freed storage is kept for reuse (up to the budget): freshly mapped memory
// is about ten times slower to write than warm memory here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "base/mutex.h"

namespace lmc::l2 {

class TempPool : public std::enable_shared_from_this<TempPool> {
  struct Storage {
    std::unique_ptr<std::byte[]> bytes;
    std::size_t capacity = 0;
  };

 public:
  static std::shared_ptr<TempPool> Create(std::size_t budget_bytes);

  class Buffer {
   public:
    Buffer() = default;
    Buffer(Buffer&&) noexcept = default;
    Buffer& operator=(Buffer&& other) noexcept {
      Release();
      pool_ = std::move(other.pool_);
      storage_ = std::move(other.storage_);
      size_ = other.size_;
      return *this;
    }
    ~Buffer() { Release(); }
    std::span<std::byte> data() const { return {storage_.bytes.get(), size_}; }

   private:
    friend class TempPool;
    void Release();
    std::shared_ptr<TempPool> pool_;
    Storage storage_;
    std::size_t size_ = 0;
  };

  // One buffer per size, or nullopt (nothing held) if the batch would take
  // the outstanding bytes over the budget.
  [[nodiscard]] std::optional<std::vector<Buffer>> ReserveBatch(const std::vector<std::size_t>& sizes);

  std::size_t outstanding() const;
  std::size_t outstanding_bytes() const;
  std::uint64_t reserve_failures() const;
  std::size_t budget_bytes() const { return budget_; }

 private:
  explicit TempPool(std::size_t budget) : budget_(budget) {}
  void Return(Storage s, std::size_t size);

  const std::size_t budget_;
  mutable base::Mutex mu_;
  std::size_t outstanding_ = 0;
  std::size_t outstanding_bytes_ = 0;
  std::uint64_t reserve_failures_ = 0;
  std::multimap<std::size_t, Storage> free_;  // by capacity
  std::size_t free_bytes_ = 0;
};

}  // namespace lmc::l2
