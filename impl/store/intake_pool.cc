#include "store/intake_pool.h"

#include <algorithm>
#include <new>

#include "base/mutex.h"

namespace lmc::store {

struct IntakePool::State {
  mutable base::Mutex mu;
  std::size_t max_chunks = 0;
  std::size_t in_use = 0;                          // chunks handed out
  std::vector<std::unique_ptr<std::byte[]>> free;  // allocated, not handed out
};

IntakePool::IntakePool(std::size_t max_bytes) : state_(std::make_shared<State>()) {
  state_->max_chunks = max_bytes / kChunkBytes;
  // Room to keep every chunk once handed back, up to a million (1 TiB) of
  // them; a Release() never allocates (it runs in destructors).
  state_->free.reserve(std::min<std::size_t>(state_->max_chunks, std::size_t{1} << 20));
}

std::optional<IntakePool::Chunk> IntakePool::Acquire() {
  std::unique_ptr<std::byte[]> bytes;
  {
    std::lock_guard lock(state_->mu);
    if (state_->in_use >= state_->max_chunks) return std::nullopt;
    ++state_->in_use;
    if (!state_->free.empty()) {
      bytes = std::move(state_->free.back());
      state_->free.pop_back();
    }
  }
  if (!bytes) {
    // Outside the lock: a first use maps fresh memory.
    bytes.reset(new (std::nothrow) std::byte[kChunkBytes]);
    if (!bytes) {
      std::lock_guard lock(state_->mu);
      --state_->in_use;
      return std::nullopt;
    }
  }
  return Chunk(state_, std::move(bytes));
}

std::size_t IntakePool::max_bytes() const {
  std::lock_guard lock(state_->mu);
  return state_->max_chunks * kChunkBytes;
}

std::size_t IntakePool::in_use_bytes() const {
  std::lock_guard lock(state_->mu);
  return state_->in_use * kChunkBytes;
}

IntakePool::Chunk& IntakePool::Chunk::operator=(Chunk&& o) noexcept {
  if (this != &o) {
    Release();
    state_ = std::move(o.state_);
    bytes_ = std::move(o.bytes_);
  }
  return *this;
}

IntakePool::Chunk::~Chunk() { Release(); }

void IntakePool::Chunk::Release() {
  if (!state_) return;
  // Both are let go after the unlock: the last chunk may outlive the pool,
  // and then dropping `state` destroys the mutex.
  std::shared_ptr<State> state = std::move(state_);
  std::unique_ptr<std::byte[]> bytes = std::move(bytes_);
  std::lock_guard lock(state->mu);
  --state->in_use;
  if (bytes && state->free.size() < state->free.capacity()) state->free.push_back(std::move(bytes));
}

}  // namespace lmc::store
