#include "l2/temp_pool.h"

#include <new>
#include <utility>

#include "base/check.h"

namespace lmc::l2 {

std::shared_ptr<TempPool> TempPool::Create(std::size_t budget_bytes) {
  return std::shared_ptr<TempPool>(new TempPool(budget_bytes));
}

void TempPool::Buffer::Release() {
  if (pool_) std::exchange(pool_, nullptr)->Return(std::move(storage_), size_);
}

std::optional<std::vector<TempPool::Buffer>> TempPool::ReserveBatch(const std::vector<std::size_t>& sizes) {
  std::size_t total = 0;
  for (std::size_t s : sizes) {
    if (s > budget_ - total) {
      std::lock_guard lock(mu_);
      ++reserve_failures_;
      return std::nullopt;
    }
    total += s;
  }
  std::vector<Buffer> out(sizes.size());
  std::lock_guard lock(mu_);
  if (total > budget_ - outstanding_bytes_) {
    ++reserve_failures_;
    return std::nullopt;
  }
  outstanding_ += sizes.size();
  outstanding_bytes_ += total;
  LMC_DCHECK(outstanding_bytes_ <= budget_, outstanding_bytes_, " bytes out of a ", budget_, "-byte budget");
  const auto self = shared_from_this();
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    Buffer& b = out[i];
    b.pool_ = self;
    b.size_ = sizes[i];
    // Reuse the smallest free storage that fits and wastes at most half.
    auto it = free_.lower_bound(sizes[i]);
    if (it != free_.end() && it->first / 2 <= sizes[i]) {
      free_bytes_ -= it->first;
      b.storage_ = std::move(it->second);
      free_.erase(it);
    } else {
      // Allocated under the lock: rare once the pool is warm.
      b.storage_.bytes.reset(new (std::nothrow) std::byte[sizes[i] == 0 ? 1 : sizes[i]]);
      b.storage_.capacity = sizes[i];
      if (!b.storage_.bytes) {
        // Out of memory: undo the batch by hand (Return would take mu_ again).
        for (Buffer& undo : out) {
          undo.pool_ = nullptr;
          if (undo.storage_.bytes) {
            free_bytes_ += undo.storage_.capacity;
            free_.emplace(undo.storage_.capacity, std::move(undo.storage_));
          }
        }
        outstanding_ -= sizes.size();
        outstanding_bytes_ -= total;
        ++reserve_failures_;
        return std::nullopt;
      }
    }
  }
  return out;
}

void TempPool::Return(Storage s, std::size_t size) {
  std::lock_guard lock(mu_);
  LMC_CHECK(outstanding_ > 0 && outstanding_bytes_ >= size, "returning ", size, " bytes with ", outstanding_,
            " buffers of ", outstanding_bytes_, " bytes out");
  --outstanding_;
  outstanding_bytes_ -= size;
  if (free_bytes_ + s.capacity <= budget_) {
    free_bytes_ += s.capacity;
    free_.emplace(s.capacity, std::move(s));
  }
}

std::size_t TempPool::outstanding() const {
  std::lock_guard lock(mu_);
  return outstanding_;
}

std::size_t TempPool::outstanding_bytes() const {
  std::lock_guard lock(mu_);
  return outstanding_bytes_;
}

std::uint64_t TempPool::reserve_failures() const {
  std::lock_guard lock(mu_);
  return reserve_failures_;
}

}  // namespace lmc::l2
