// The latent cache (spec §5.1): per layer and position one row [C (r_kv) | K_pe (d_r)] — the
// normalised latent and the rotated rope key — in f32, f16, bf16 or q8_0. Nothing per head is
// stored. q8_0 rows are padded with zeros to a whole number of 32-value blocks (576 needs none).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/dtype.h"
#include "base/huge_buffer.h"
#include "base/status.h"
#include "model/config.h"
#include "ops/mla_attention.h"

namespace mla {

// "f32", "f16", "bf16", "q8_0" (also accepted in upper case).
Result<DType> ParseCacheType(const std::string& name);

class LatentCache {
 public:
  // n_ctx positions for every layer of `config`, allocated once. Rows are written before they
  // are read (attention reads only positions already written).
  static Result<std::unique_ptr<LatentCache>> Create(const ModelConfig& config, DType type,
                                                     int64_t n_ctx);

  // Stored values per row (r_kv + d_r rounded up to the type's block) and bytes per row.
  static int64_t RowElems(DType type, int64_t n_values);
  static size_t BytesPerToken(const ModelConfig& config, DType type);  // all layers

  DType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_layer() const { return n_layer_; }
  size_t row_bytes() const { return row_bytes_; }
  size_t bytes() const { return size_t(n_layer_) * size_t(n_ctx_) * row_bytes_; }

  ops::LatentView Layer(int64_t layer) const;
  uint8_t* Row(int64_t layer, int64_t pos) {
    return data_.data() + (size_t(layer) * size_t(n_ctx_) + size_t(pos)) * row_bytes_;
  }
  const uint8_t* Row(int64_t layer, int64_t pos) const {
    return data_.data() + (size_t(layer) * size_t(n_ctx_) + size_t(pos)) * row_bytes_;
  }
  // Stores r_kv + d_r floats at (layer, pos). `pad` is RowElems floats of scratch (q8_0 only).
  void Write(int64_t layer, int64_t pos, const float* row, float* pad);
  // Reads one row back as RowElems floats.
  void Read(int64_t layer, int64_t pos, float* out) const;

 private:
  LatentCache() = default;
  DType type_ = DType::F16;
  int64_t n_ctx_ = 0, n_layer_ = 0, n_latent_ = 0, n_rope_ = 0, row_elems_ = 0;
  size_t row_bytes_ = 0;
  // In huge pages: decode at depth reads every row of every layer per token (9 MiB per layer at
  // 8192 f16 rows), and writing a new row faults a page in once per ~1800 positions, not ~3.5.
  HugeBuffer data_;
};

}  // namespace mla
