#include "convert/encode.h"

#include <algorithm>
#include <cinttypes>

#include "quant/quant.h"

namespace mla::convert {

namespace {
constexpr int64_t kTaskElems = int64_t(1) << 20;  // 4 MB of f32 scratch per thread
}

Status EncodeTensor(DType type, int64_t ne0, int64_t nrows, const RowReader& read, ThreadPool& pool,
                    std::vector<uint8_t>* out, const std::function<void(uint64_t)>& progress) {
  if (ne0 <= 0 || nrows < 0) return Errorf("cannot encode a tensor of %" PRId64 " x %" PRId64, ne0, nrows);
  if (ne0 % Info(type).block_elems != 0)
    return Errorf("rows of %" PRId64 " elements do not hold whole %s blocks of %" PRId64, ne0, Name(type),
                  Info(type).block_elems);
  if (!quant::CanQuantize(type)) return Errorf("writing %s tensors is not supported", Name(type));
  const size_t row_bytes = RowBytes(type, ne0);
  const size_t total = row_bytes * size_t(nrows);
  if (out->capacity() < total) {
    // Free the old buffer before growing: vector growth would copy it and briefly hold both,
    // and the peak memory of a conversion is this buffer (the largest tensor).
    std::vector<uint8_t>().swap(*out);
  }
  out->resize(total);
  const int64_t rows_per_task = std::max<int64_t>(1, kTaskElems / ne0);
  const int64_t n_tasks = (nrows + rows_per_task - 1) / rows_per_task;
  std::vector<std::vector<float>> scratch(static_cast<size_t>(pool.size()));
  std::vector<Status> errors(static_cast<size_t>(n_tasks));
  uint8_t* dst = out->data();
  pool.Run(n_tasks, [&](int64_t task, int thread) {
    const int64_t r0 = task * rows_per_task, n = std::min(rows_per_task, nrows - r0);
    std::vector<float>& buf = scratch[size_t(thread)];
    buf.resize(size_t(n * ne0));
    Status st = read(r0, n, buf.data());
    if (!st.ok()) {
      errors[size_t(task)] = st;
      return;
    }
    for (int64_t r = 0; r < n; ++r)
      quant::QuantizeRow(type, buf.data() + r * ne0, dst + size_t(r0 + r) * row_bytes, ne0);
    if (progress) progress(uint64_t(n) * row_bytes);
  });
  for (const Status& st : errors) MLA_RETURN_IF_ERROR(st);
  return Status::Ok();
}

}  // namespace mla::convert
