#include "convert/convert.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include "base/log.h"
#include "base/thread_pool.h"
#include "convert/encode.h"
#include "convert/hf_vocab.h"
#include "convert/progress.h"
#include "convert/quant_mix.h"
#include "convert/safetensors.h"
#include "convert/size_label.h"
#include "convert/tensor_plan.h"
#include "gguf/gguf.h"

namespace mla::convert {

namespace {

std::string FolderName(const std::string& dir) {
  std::filesystem::path p(dir);
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

Result<ConvertReport> ConvertCheckpoint(const ConvertOptions& o) {
  if (o.output_path.empty()) return Errorf("no output path given");
  MLA_ASSIGN_OR_RETURN(const HfConfig cfg, ReadHfConfig(o.input_dir));
  MLA_ASSIGN_OR_RETURN(auto ckpt, Checkpoint::Open(o.input_dir));
  MLA_ASSIGN_OR_RETURN(TensorPlan plan, PlanTensors(cfg, *ckpt, PlanOptions{o.layout, o.keep_mtp}));

  // Output file type.
  std::string outtype = o.outtype;
  if (outtype == "auto")
    outtype = plan.has_source_fp8 || plan.has_source_bf16 ? "bf16" : plan.has_source_f16 ? "f16" : "f32";
  MLA_ASSIGN_OR_RETURN(const FileType ftype, ParseFileType(outtype));
  MixOptions mix;
  mix.ftype = ftype;
  for (const std::string& spec : o.tensor_types) {
    MLA_ASSIGN_OR_RETURN(auto ov, ParseTensorTypeOverride(spec));
    mix.overrides.push_back(ov);
  }
  MixModel model;
  model.n_layer = cfg.num_hidden_layers + plan.mtp_layers_kept;
  model.n_expert = cfg.n_routed_experts;
  model.n_head = cfg.num_attention_heads;
  model.n_head_kv = o.layout == Layout::kMla ? 1 : cfg.num_key_value_heads;
  // Every tensor starts as F32 (the converter computes in f32), so tensors the rules keep stay F32.
  std::vector<TensorDesc> descs;
  for (const PlannedTensor& t : plan.tensors) {
    TensorDesc d;
    d.name = t.name;
    d.n_dims = t.n_dims;
    std::copy(t.ne, t.ne + 4, d.ne);
    d.type = DType::F32;
    descs.push_back(d);
  }
  MLA_ASSIGN_OR_RETURN(MixPlanner planner, MixPlanner::Create(mix, model, descs));
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    MLA_ASSIGN_OR_RETURN(TypeChoice choice, planner.Choose(descs[i]));
    plan.tensors[i].type = choice.type;
    if (choice.fallback) Log(LogLevel::kInfo, "%s: %s -> %s", descs[i].name.c_str(), choice.reason.c_str(), Name(choice.type));
  }

  // Metadata.
  ModelKeyOptions mk;
  mk.layout = o.layout;
  mk.name = o.name.empty() ? FolderName(o.input_dir) : o.name;
  mk.file_type = ftype.id;
  mk.mtp_layers = plan.mtp_layers_kept;
  auto kv = ModelKeys(cfg, mk);
  VocabOptions vo;
  vo.vocab_size = cfg.vocab_size;
  vo.pre_override = o.tokenizer_pre;
  vo.config_bos = cfg.bos_token_id;
  vo.config_eos = cfg.eos_token_id;
  MLA_ASSIGN_OR_RETURN(auto tok, TokenizerKeys(o.input_dir, vo));
  kv.insert(kv.end(), tok.begin(), tok.end());
  kv.emplace_back("general.quantization_version", gguf::Value::U32(2));
  std::vector<ShapeEntry> shapes;
  for (const PlannedTensor& t : plan.tensors) {
    ShapeEntry s;
    s.name = t.name;
    s.n_dims = t.n_dims;
    std::copy(t.ne, t.ne + 4, s.ne);
    shapes.push_back(s);
  }
  kv.emplace_back("general.size_label", gguf::Value::String(SizeLabel(shapes)));

  gguf::WriterOptions wo;
  wo.max_shard_bytes = o.split_max_bytes;
  MLA_ASSIGN_OR_RETURN(auto writer, gguf::Writer::Create(o.output_path, wo));
  for (auto& [k, v] : kv) writer->Set(k, std::move(v));
  ConvertReport report;
  for (const PlannedTensor& t : plan.tensors) {
    MLA_RETURN_IF_ERROR(writer->AddTensor(t.name, t.type, t.n_dims, t.ne));
    const uint64_t bytes = RowBytes(t.type, t.ne[0]) * uint64_t(t.nrows());
    report.bytes_written += bytes;
    report.largest_tensor_bytes = std::max(report.largest_tensor_bytes, bytes);
  }
  Log(LogLevel::kInfo, "%s: %zu tensors, layout %s, type %s, %s of tensor data (largest tensor %s)",
      o.output_path.c_str(), plan.tensors.size(), LayoutName(o.layout), ftype.name,
      Progress::Bytes(double(report.bytes_written)).c_str(),
      Progress::Bytes(double(report.largest_tensor_bytes)).c_str());

  const int threads = o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
  ThreadPool pool(threads);
  Progress progress("converting", report.bytes_written, o.progress);
  std::vector<uint8_t> buffer;
  for (const PlannedTensor& t : plan.tensors) {
    const RowReader read = [&](int64_t row0, int64_t n, float* dst) { return ReadRows(t, cfg, row0, n, dst); };
    MLA_RETURN_IF_ERROR(EncodeTensor(t.type, t.ne[0], t.nrows(), read, pool, &buffer,
                                     [&](uint64_t b) { progress.Add(b, t.name); })
                            .Wrap(t.name));
    MLA_RETURN_IF_ERROR(writer->WriteTensor(t.name, buffer.data(), buffer.size()));
  }
  MLA_RETURN_IF_ERROR(writer->Finish());
  progress.Finish();
  report.n_tensors = int64_t(plan.tensors.size());
  report.mtp_tensors_dropped = plan.hf_tensors_dropped;
  report.file_type = ftype.name;
  report.outputs = writer->outputs();
  return report;
}

}  // namespace mla::convert
