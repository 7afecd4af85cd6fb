// Mappings and their ids: shared by mman.cc, which makes and frees mappings, and the framed
// DMA map functions, which look their buffer up by id inline (mman.h): under the emulated host
// every call and return on that path costs a lookup of its own.
#ifndef VFIO_NATIVE_MEM_TABLE_H
#define VFIO_NATIVE_MEM_TABLE_H

#include <napi.h>

#include <cstdint>
#include <vector>

namespace vfio {

class MemTable;

// A mapping (device mmap or DMA buffer) behind a handle, an ArrayBuffer and an id.
struct Mapping {
  void* addr;
  size_t length;
  bool mapped;
  bool buffer_finalized;  // set by the ArrayBuffer's finalizer
  int holders;            // the ArrayBuffer, the handle and, while wrapping, the creating call
  napi_ref buffer;        // weak: lets munmap detach the ArrayBuffer while it is alive
  MemTable* table;        // where its id is registered, until it is unmapped or released
  uint64_t id;
};

// The live mappings of one addon instance by id (its Node-API instance data; the call frame
// keeps a pointer for the hot path). The framed DMA map functions name their buffer by id, a
// number in the call frame, because checking a handle's type tag cost about 170 instructions
// per map: a sixth of the native side of a map + unmap pair. An id is a slot and the slot's
// generation (slot + generation * 2^24, below 2^53), so an id that outlives its mapping names
// nothing: the slot's generation has moved on. Generations start at 1, so 0 is never an id.
class MemTable {
 public:
  // Held by the addon instance and by each registered mapping: at environment teardown a
  // mapping may be released after the instance data is finalized, or before.
  void ref() { ++refs_; }
  void unref() {
    if (--refs_ == 0) delete this;
  }

  // Registers m and returns its id; 0 when the table is full.
  uint64_t add(Mapping* m) {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else if (entries_.size() < kSlots) {
      slot = static_cast<uint32_t>(entries_.size());
      entries_.push_back({nullptr, 1});
    } else {
      return 0;
    }
    entries_[slot].mapping = m;
    return entries_[slot].generation * kSlots + slot;
  }
  // The mapping `id` names, or null.
  Mapping* find(uint64_t id) const {
    uint64_t slot = id % kSlots;
    if (slot >= entries_.size()) return nullptr;
    const Entry& e = entries_[slot];
    return e.generation == id / kSlots ? e.mapping : nullptr;
  }
  void remove(uint64_t id) {
    uint64_t slot = id % kSlots;
    if (find(id) == nullptr) return;
    Entry& e = entries_[slot];
    e.mapping = nullptr;
    // A slot whose generation would take ids past 2^53 is retired rather than reused.
    if (++e.generation < kGenerations) free_.push_back(static_cast<uint32_t>(slot));
  }

 private:
  static constexpr uint64_t kSlots = 1ULL << 24;
  static constexpr uint64_t kGenerations = 1ULL << 29;  // kSlots * kGenerations = 2^53
  struct Entry {
    Mapping* mapping;
    uint64_t generation;
  };
  std::vector<Entry> entries_;
  std::vector<uint32_t> free_;
  int refs_ = 1;  // the instance's
};

}  // namespace vfio

#endif  // VFIO_NATIVE_MEM_TABLE_H
