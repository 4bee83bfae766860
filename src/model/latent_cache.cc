#include "model/latent_cache.h"

#include <cinttypes>
#include <cstring>
#include <utility>

#include "quant/quant.h"

namespace mla {

Result<DType> ParseCacheType(const std::string& name) {
  const auto t = DTypeFromName(name);
  if (!t || (*t != DType::F32 && *t != DType::F16 && *t != DType::BF16 && *t != DType::Q8_0))
    return Errorf("cache type: expected f32, f16, bf16 or q8_0, found '%s'", name.c_str());
  return *t;
}

int64_t LatentCache::RowElems(DType type, int64_t n_values) {
  const int64_t block = Info(type).block_elems;
  return (n_values + block - 1) / block * block;
}

size_t LatentCache::BytesPerToken(const ModelConfig& c, DType type) {
  return size_t(c.n_layer) * RowBytes(type, RowElems(type, c.latent_row()));
}

Result<std::unique_ptr<LatentCache>> LatentCache::Create(const ModelConfig& c, DType type,
                                                         int64_t n_ctx) {
  MLA_ASSIGN_OR_RETURN(DType checked, ParseCacheType(Name(type)));
  if (n_ctx <= 0) return Errorf("context size: expected > 0, found %" PRId64, n_ctx);
  std::unique_ptr<LatentCache> cache(new LatentCache());
  cache->type_ = checked;
  cache->n_ctx_ = n_ctx;
  cache->n_layer_ = c.n_layer;
  cache->n_latent_ = c.kv_lora_rank;
  cache->n_rope_ = c.n_rope;
  cache->row_elems_ = RowElems(type, c.latent_row());
  cache->row_bytes_ = RowBytes(type, cache->row_elems_);
  const size_t bytes = cache->bytes();
  if (bytes / cache->row_bytes_ / size_t(c.n_layer) != size_t(n_ctx))
    return Errorf("context size %" PRId64 " is too large for this model's cache", n_ctx);
  auto data = HugeBuffer::Allocate(bytes);
  if (!data.ok())
    return Errorf("cannot allocate the latent cache: %zu bytes for %" PRId64 " positions", bytes,
                  n_ctx);
  cache->data_ = std::move(data.value());
  return cache;
}

ops::LatentView LatentCache::Layer(int64_t layer) const {
  return ops::LatentView{type_, Row(layer, 0), row_bytes_, n_latent_, n_rope_, row_elems_};
}

void LatentCache::Write(int64_t layer, int64_t pos, const float* row, float* pad) {
  const int64_t n = n_latent_ + n_rope_;
  uint8_t* dst = Row(layer, pos);
  if (type_ == DType::F32) {
    std::memcpy(dst, row, size_t(n) * sizeof(float));
    return;
  }
  if (row_elems_ != n) {
    std::memcpy(pad, row, size_t(n) * sizeof(float));
    std::memset(pad + n, 0, size_t(row_elems_ - n) * sizeof(float));
    row = pad;
  }
  quant::QuantizeRow(type_, row, dst, row_elems_);
}

void LatentCache::Read(int64_t layer, int64_t pos, float* out) const {
  quant::DequantizeRow(type_, Row(layer, pos), out, row_elems_);
}

}  // namespace mla
