// A loaded model: the mapped GGUF, its ModelConfig and the bound Weights. Immutable after Load;
// any number of sessions may run on it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include "model/weights.h"
#include "ops/rope.h"

namespace mla {

struct LoadOptions {
  std::vector<KvOverride> overrides;  // --override-kv
  bool repack = true;                 // --no-repack turns it off (weights.h)
  int n_threads = 0;                  // for the repacking; 0: one per hardware thread
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> Load(const std::string& path,
                                             const LoadOptions& options = {});

  const gguf::File& file() const { return *file_; }
  const ModelConfig& config() const { return config_; }
  const Weights& weights() const { return *weights_; }
  const ops::Rope& rope() const { return rope_; }

  // The load log (also written with Log(kInfo) by Load): layout, types, bytes mapped, bytes
  // allocated, cache size per token, and any defaults applied (as warnings).
  const std::vector<std::string>& load_log() const { return load_log_; }

 private:
  Model() = default;
  std::unique_ptr<gguf::File> file_;
  ModelConfig config_;
  std::unique_ptr<Weights> weights_;
  ops::Rope rope_;
  std::vector<std::string> load_log_;
};

}  // namespace mla
