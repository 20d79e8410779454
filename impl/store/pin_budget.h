// The bytes of stored objects that replies being sent may pin at once, over
// all connections. A pinned object cannot be freed, so eviction passes over
// it (L1Store::Reserve); without a bound, clients that send GETs and never
// read the replies could pin most of L1 and leave no room for PUTs. A GET
// hit that would go past the budget is answered as a miss (counted as the
// reject `pinned_full`): a cache may always miss, and nothing waits. With
// nothing pinned, one object is always let through, whatever its size: an
// object larger than the budget can still be read, one reader at a time.
//
// Lock-free; a Ticket gives its bytes back when destroyed.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>

#include "base/check.h"

namespace lmc::store {

class PinBudget {
  struct State {
    explicit State(std::size_t max) : max_bytes(max) {}
    const std::size_t max_bytes;
    std::atomic<std::size_t> in_use{0};
  };

 public:
  // 0: no bound.
  explicit PinBudget(std::size_t max_bytes) : state_(std::make_shared<State>(max_bytes)) {}

  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept : state_(std::move(o.state_)), bytes_(o.bytes_) { o.bytes_ = 0; }
    Ticket& operator=(Ticket&& o) noexcept {
      if (this != &o) {
        Release();
        state_ = std::move(o.state_);
        bytes_ = o.bytes_;
        o.bytes_ = 0;
      }
      return *this;
    }
    ~Ticket() { Release(); }

   private:
    friend class PinBudget;
    Ticket(std::shared_ptr<State> state, std::size_t bytes) : state_(std::move(state)), bytes_(bytes) {}
    void Release() {
      if (state_ == nullptr) return;
      const std::size_t before = state_->in_use.fetch_sub(bytes_, std::memory_order_acq_rel);
      LMC_CHECK(before >= bytes_, "a pin ticket of ", bytes_, " bytes returned with ", before, " in use");
      state_ = nullptr;
      bytes_ = 0;
    }
    std::shared_ptr<State> state_;
    std::size_t bytes_ = 0;
  };

  // `bytes` more pinned, or nullopt when that would pass the budget (and
  // something is pinned already).
  [[nodiscard]] std::optional<Ticket> TryTake(std::size_t bytes) {
    std::size_t now = state_->in_use.load(std::memory_order_relaxed);
    do {
      if (state_->max_bytes != 0 && now != 0 && bytes > state_->max_bytes - std::min(now, state_->max_bytes))
        return std::nullopt;
    } while (!state_->in_use.compare_exchange_weak(now, now + bytes, std::memory_order_acq_rel));
    return Ticket(state_, bytes);
  }

  std::size_t max_bytes() const { return state_->max_bytes; }
  std::size_t in_use_bytes() const { return state_->in_use.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<State> state_;  // tickets outlive the budget through it
};

}  // namespace lmc::store
