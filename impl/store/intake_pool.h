// Where a PUT's payload waits while it arrives, when L1 has no free room for
// it: fixed-size chunks, taken one at a time as the bytes come in and given
// back when the PUT completes (its bytes then move into L1, evicting only
// now) or is cut short (nothing stored is touched). So a PUT that never
// completes costs L1 nothing, and a slow or stalled sender holds only the
// chunks its bytes filled, never the object's whole declared length.
//
// At most `max_bytes` are handed out at once; chunks are allocated on first
// use and then kept, warm, for the next PUT (the pool is memory beyond the
// L1 budget, up to `max_bytes`). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace lmc::store {

class IntakePool {
  struct State;

 public:
  static constexpr std::size_t kChunkBytes = std::size_t{1} << 20;

  // `max_bytes` is rounded down to whole chunks; 0: the pool hands out none.
  explicit IntakePool(std::size_t max_bytes);
  IntakePool(const IntakePool&) = delete;
  IntakePool& operator=(const IntakePool&) = delete;

  // kChunkBytes of memory, back in the pool when destroyed. Move-only.
  class Chunk {
   public:
    Chunk() = default;
    Chunk(Chunk&&) noexcept = default;
    Chunk& operator=(Chunk&& o) noexcept;
    ~Chunk();
    std::span<std::byte> data() const { return {bytes_.get(), bytes_ ? kChunkBytes : 0}; }

   private:
    friend class IntakePool;
    Chunk(std::shared_ptr<State> state, std::unique_ptr<std::byte[]> bytes)
        : state_(std::move(state)), bytes_(std::move(bytes)) {}
    void Release();
    std::shared_ptr<State> state_;
    std::unique_ptr<std::byte[]> bytes_;
  };

  // A chunk, or nullopt when max_bytes are handed out (or memory ran out).
  [[nodiscard]] std::optional<Chunk> Acquire();

  std::size_t max_bytes() const;
  std::size_t in_use_bytes() const;

 private:
  std::shared_ptr<State> state_;  // chunks outlive the pool through it
};

}  // namespace lmc::store
