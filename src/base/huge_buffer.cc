#include "base/huge_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mla {

Result<HugeBuffer> HugeBuffer::Allocate(size_t n) {
  HugeBuffer b;
  if (n == 0) return b;
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Errorf("cannot allocate %zu bytes: %s", n, std::strerror(errno));
  ::madvise(p, n, MADV_HUGEPAGE);  // a hint: without THP the buffer still works with small pages
  b.data_ = static_cast<uint8_t*>(p);
  b.size_ = n;
  return b;
}

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(data_, size_);
    data_ = o.data_;
    size_ = o.size_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

HugeBuffer::~HugeBuffer() {
  if (data_) ::munmap(data_, size_);
}

void ReleaseMappedPages(const uint8_t* p, size_t n) {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace mla
