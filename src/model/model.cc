#include "model/model.h"

#include <algorithm>
#include <cinttypes>
#include <thread>

#include "base/log.h"
#include "model/latent_cache.h"

namespace mla {
namespace {

std::string Bytes(size_t n) {
  if (n >= (size_t(1) << 30)) return Format("%.2f GiB", double(n) / double(size_t(1) << 30));
  if (n >= (size_t(1) << 20)) return Format("%.2f MiB", double(n) / double(size_t(1) << 20));
  if (n >= 1024) return Format("%.1f KiB", double(n) / 1024.0);
  return Format("%zu B", n);
}

}  // namespace

Result<std::unique_ptr<Model>> Model::Load(const std::string& path, const LoadOptions& options) {
  std::unique_ptr<Model> m(new Model());
  auto file = gguf::File::Open(path);
  if (!file.ok()) return file.status();
  m->file_ = std::move(file).value();
  auto config = LoadConfig(*m->file_, options.overrides);
  if (!config.ok()) return config.status().Wrap(path);
  m->config_ = std::move(config).value();
  BindOptions bind;
  bind.repack = options.repack;
  bind.n_threads = options.n_threads > 0 ? options.n_threads
                                         : int(std::max(1u, std::thread::hardware_concurrency()));
  auto weights = BindWeights(*m->file_, m->config_, bind);
  if (!weights.ok()) return weights.status().Wrap(path);
  m->weights_ = std::move(weights).value();
  m->rope_ = ops::Rope(m->config_.rope);

  const ModelConfig& c = m->config_;
  const Weights& w = *m->weights_;
  auto& log = m->load_log_;
  log.push_back(Format("loaded %s (%s, %d shard%s)", path.c_str(),
                       Bytes(m->file_->file_bytes()).c_str(), m->file_->shard_count(),
                       m->file_->shard_count() == 1 ? "" : "s"));
  log.push_back(DescribeConfig(c));
  std::string types = "tensor types:";
  for (const auto& [type, n] : w.type_counts) types += Format(" %s %d,", Name(type), n);
  types.pop_back();
  log.push_back(types);
  if (w.derived)
    log.push_back(Format("layout %s: attn_k_b/attn_v_b derived from attn_kv_b at load, kept as %s",
                         LayoutName(c.layout), Name(w.derived_type)));
  else
    log.push_back(Format("layout %s: attn_k_b/attn_v_b used from the file", LayoutName(c.layout)));
  log.push_back(Format("weights: %s mapped (used in place), %s allocated", Bytes(w.bytes_mapped).c_str(),
                       Bytes(w.bytes_allocated).c_str()));
  if (w.tensors_repacked > 0)
    log.push_back(Format("repacked %d tensors, %s, into 16-row interleaved blocks (they replace the "
                         "mapping's pages of those tensors)",
                         w.tensors_repacked, Bytes(w.bytes_repacked).c_str()));
  log.push_back(Format("latent cache per token (%" PRId64 " layers x %" PRId64 " values): f32 %zu B, f16/bf16 %zu B, q8_0 %zu B",
                       c.n_layer, c.latent_row(), LatentCache::BytesPerToken(c, DType::F32),
                       LatentCache::BytesPerToken(c, DType::F16),
                       LatentCache::BytesPerToken(c, DType::Q8_0)));
  for (const std::string& line : log) Log(LogLevel::kInfo, "%s", line.c_str());
  for (const std::string& warn : c.warnings) {
    Log(LogLevel::kWarn, "%s", warn.c_str());
    log.push_back("warning: " + warn);
  }
  return m;
}

}  // namespace mla
