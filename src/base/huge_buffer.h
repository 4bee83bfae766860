// Anonymous memory for large, long-lived arrays (weights repacked at load): mapped directly, with
// transparent huge pages requested so that streaming gigabytes through it costs few TLB misses.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/status.h"

namespace mla {

class HugeBuffer {
 public:
  HugeBuffer() = default;
  static Result<HugeBuffer> Allocate(size_t n);
  ~HugeBuffer();
  HugeBuffer(HugeBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; o.size_ = 0; }
  HugeBuffer& operator=(HugeBuffer&& o) noexcept;
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Drops this process's mapping of the whole pages inside [p, p + n) of a read-only file mapping
// (they come back from the page cache if touched again): after repacking a tensor elsewhere its
// original pages need not stay resident in the process.
void ReleaseMappedPages(const uint8_t* p, size_t n);

}  // namespace mla
