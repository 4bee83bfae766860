// Turning f32 rows into the bytes of an output tensor, in parallel and deterministically (each row
// is quantized by exactly one task, independently of the others). Shared by mla-convert,
// mla-quantize and the layout upgrade.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "base/dtype.h"
#include "base/status.h"
#include "base/thread_pool.h"

namespace mla::convert {

// Fills `nrows` rows (ne0 floats each) starting at `row0`; must be safe to call from several
// threads at once for disjoint ranges.
using RowReader = std::function<Status(int64_t row0, int64_t nrows, float* dst)>;

// Encodes a tensor of `nrows` rows of `ne0` elements into `type`: `out` receives
// nrows * RowBytes(type, ne0) bytes. Rows are read and encoded in tasks of about a million
// elements; `progress(bytes)` is called after each task with the bytes it produced.
Status EncodeTensor(DType type, int64_t ne0, int64_t nrows, const RowReader& read, ThreadPool& pool,
                    std::vector<uint8_t>* out, const std::function<void(uint64_t)>& progress = {});

}  // namespace mla::convert
