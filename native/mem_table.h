// Mappings and their ids: shared by mman.cc, which makes and frees mappings, the argument engine
// (which refuses read-only memory as an output buffer) and the framed DMA map functions, which
// look their buffer up by id inline (mman.h).
#ifndef VFIO_NATIVE_MEM_TABLE_H
#define VFIO_NATIVE_MEM_TABLE_H

#include <napi.h>
#include <sys/random.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <vector>

namespace vfio {

class MemTable;

// A mapping (device mmap or DMA buffer) behind a handle, an ArrayBuffer and an id.
//
// Its address range lives through three states: mapped (the device's or file's pages), retired
// (unmapped by munmap()/dma_free(): the range holds private zero pages, because an ArrayBuffer
// that the detach could not reach, one made by ArrayBuffer.prototype.transfer(), may still point
// into it), and released (munmap of the range, once the ArrayBuffer's memory and the handle are
// both finalized, so nothing in JavaScript can reach it).
struct Mapping {
  enum class Kind { device, dma };
  void* addr;
  size_t length;
  Kind kind;
  bool writable;           // mapped with PROT_WRITE
  bool mapped;             // the device's or file's pages are in the range
  bool retired;            // the range holds private zero pages until it is released
  bool buffer_finalized;   // set by the ArrayBuffer's finalizer
  int holders;             // the ArrayBuffer's memory, the handle and, while wrapping, the creating call
  napi_ref buffer;         // weak: lets munmap detach the ArrayBuffer while it is alive
  MemTable* table;         // counts it until it is released
  uint64_t id;             // 0 once unmapped: the id names nothing any more
  bool suspended = false;  // device pages swapped for zero pages while the device decodes no memory
};

// The mappings of one addon instance, and their ids (its Node-API instance data; the call frame
// keeps a pointer). The framed DMA map functions name their buffer by id, a number in the call
// frame, because checking a handle's type tag costs a sixth of the native side of a map + unmap
// pair (docs/dma.md). An id is a slot and the slot's generation (slot + generation * 2^24,
// below 2^53), XORed with a random key of the instance; a fresh slot starts at a random
// generation. An id that outlives its mapping names nothing (the slot's generation has moved
// on), ids do not count up, and another instance's ids name nothing here but by a chance of
// about 2^-28.
class MemTable {
 public:
  MemTable() {
    uint64_t key = 0;
    if (getrandom(&key, sizeof key, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof key)) {
      key = reinterpret_cast<uintptr_t>(this) * 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(time(nullptr));
    }
    key_ = key & (kIdLimit - 1);
    rng_ = key | 1;
  }

  // Held by the addon instance and by each mapping until it is released: at environment teardown
  // a mapping may be released after the instance data is finalized, or before.
  void ref() { ++refs_; }
  void unref() {
    if (--refs_ == 0) delete this;
  }

  // A new mapping: counted, and given an id (0 when the table is full).
  uint64_t add(Mapping* m) {
    ref();
    m->table = this;
    mappings_++;
    if (!m->writable) readonly_.push_back(m);
    uint32_t slot;
    for (;;) {
      if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
      } else if (entries_.size() < kSlots) {
        slot = static_cast<uint32_t>(entries_.size());
        entries_.push_back({nullptr, 1 + random() % (kGenerations / 2)});
      } else {
        return 0;
      }
      uint64_t id = (entries_[slot].generation * kSlots + slot) ^ key_;
      if (id != 0) {
        entries_[slot].mapping = m;
        ids_++;
        return m->id = id;
      }
      retire_slot(slot);  // the one slot and generation whose id would be 0
    }
  }
  // The mapping `id` names, or null.
  Mapping* find(uint64_t id) const {
    uint64_t plain = id ^ key_;
    uint64_t slot = plain % kSlots;
    if (slot >= entries_.size()) return nullptr;
    const Entry& e = entries_[slot];
    return e.generation == plain / kSlots ? e.mapping : nullptr;
  }
  // The mapping's id names nothing from now on.
  void forget_id(Mapping* m) {
    if (m->id == 0 || find(m->id) != m) return;
    uint64_t slot = (m->id ^ key_) % kSlots;
    entries_[slot].mapping = nullptr;
    retire_slot(static_cast<uint32_t>(slot));
    m->id = 0;
    ids_--;
  }
  // The range now holds private zero pages (writable) instead of the device's pages.
  void retired(Mapping* m) {
    drop_readonly(m);
    retired_++;
    retired_bytes_ += m->length;
  }
  // A retired range is released.
  void unretired(Mapping* m) {
    retired_--;
    retired_bytes_ -= m->length;
  }
  // The mapping is gone (its range released): the last count of it.
  void released(Mapping* m) {
    forget_id(m);
    drop_readonly(m);
    if (m->retired) unretired(m);
    mappings_--;
    m->table = nullptr;
    unref();
  }

  // false when any byte of [data, data + bytes) lies in a read-only mapping: nothing may write
  // there (a write faults).
  bool writable(const void* data, size_t bytes) const {
    uintptr_t lo = reinterpret_cast<uintptr_t>(data), hi = lo + bytes;
    for (const Mapping* m : readonly_) {
      uintptr_t start = reinterpret_cast<uintptr_t>(m->addr), end = start + m->length;
      if (lo < end && start < hi) return false;
    }
    return true;
  }

  // For tests (`__mem_stats`): live mappings, live ids, retired ranges and their bytes.
  uint64_t mappings() const { return mappings_; }
  uint64_t ids() const { return ids_; }
  uint64_t retired_count() const { return retired_; }
  uint64_t retired_bytes() const { return retired_bytes_; }

 private:
  static constexpr uint64_t kSlots = 1ULL << 24;
  static constexpr uint64_t kGenerations = 1ULL << 29;  // kSlots * kGenerations = 2^53
  static constexpr uint64_t kIdLimit = kSlots * kGenerations;
  struct Entry {
    Mapping* mapping;
    uint64_t generation;
  };
  // A slot whose generation would take ids past 2^53 is retired rather than reused.
  void retire_slot(uint32_t slot) {
    if (++entries_[slot].generation < kGenerations) free_.push_back(slot);
  }
  // xorshift64*: spreads fresh slots' first generations, so ids do not count up.
  uint64_t random() {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545f4914f6cdd1dULL;
  }
  void drop_readonly(const Mapping* m) {
    readonly_.erase(std::remove(readonly_.begin(), readonly_.end(), m), readonly_.end());
  }

  std::vector<Entry> entries_;
  std::vector<uint32_t> free_;
  std::vector<const Mapping*> readonly_;  // mapped without PROT_WRITE: no output buffer may lie there
  uint64_t key_ = 0;
  uint64_t rng_ = 1;
  uint64_t mappings_ = 0, ids_ = 0, retired_ = 0, retired_bytes_ = 0;
  int refs_ = 1;  // the instance's
};

}  // namespace vfio

#endif  // VFIO_NATIVE_MEM_TABLE_H
