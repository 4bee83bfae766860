#include "convert/quantize.h"

#include <algorithm>
#include <map>
#include <thread>

#include "base/log.h"
#include "base/thread_pool.h"
#include "convert/encode.h"
#include "convert/progress.h"
#include "convert/quant_mix.h"
#include "gguf/gguf.h"
#include "quant/quant.h"

namespace mla::convert {

namespace {

Result<std::optional<DType>> OptionalType(const std::string& name, const char* flag) {
  if (name.empty()) return std::optional<DType>();
  const auto t = DTypeFromName(name);
  if (!t || *t == DType::Q8_1 || *t == DType::Q8_K)
    return Errorf("%s: '%s' is not a tensor type this engine writes", flag, name.c_str());
  return std::optional<DType>(*t);
}

// The model facts the mix rules read, from {arch}.* metadata.
Result<MixModel> ModelFacts(const gguf::File& f) {
  MLA_ASSIGN_OR_RETURN(const std::string arch, f.GetString("general.architecture"));
  MixModel m;
  MLA_ASSIGN_OR_RETURN(const uint64_t n_layer, f.GetU64(arch + ".block_count"));
  MLA_ASSIGN_OR_RETURN(const uint64_t n_expert, f.GetU64Or(arch + ".expert_count", 0));
  MLA_ASSIGN_OR_RETURN(const uint64_t n_head, f.GetU64Or(arch + ".attention.head_count", 1));
  MLA_ASSIGN_OR_RETURN(const uint64_t n_head_kv, f.GetU64Or(arch + ".attention.head_count_kv", n_head));
  m.n_layer = int64_t(n_layer);
  m.n_expert = int64_t(n_expert);
  m.n_head = int64_t(n_head);
  m.n_head_kv = int64_t(n_head_kv);
  return m;
}

}  // namespace

Result<QuantizeReport> QuantizeGguf(const QuantizeOptions& o) {
  MLA_ASSIGN_OR_RETURN(auto in, gguf::File::Open(o.input_path));
  MLA_ASSIGN_OR_RETURN(const FileType ftype, ParseFileType(o.type));
  MixOptions mix;
  mix.ftype = ftype;
  mix.pure = o.pure;
  for (const std::string& spec : o.tensor_types) {
    MLA_ASSIGN_OR_RETURN(auto ov, ParseTensorTypeOverride(spec));
    mix.overrides.push_back(ov);
  }
  MLA_ASSIGN_OR_RETURN(mix.output_type, OptionalType(o.output_tensor_type, "--output-tensor-type"));
  MLA_ASSIGN_OR_RETURN(mix.token_embd_type, OptionalType(o.token_embedding_type, "--token-embedding-type"));
  MLA_ASSIGN_OR_RETURN(const MixModel model, ModelFacts(*in));

  // llama-quantize's tensor order (blocks in numeric order); the attention counters follow it.
  std::vector<std::string> names;
  std::map<std::string, const gguf::TensorInfo*> by_name;
  for (const gguf::TensorInfo& t : in->tensors()) {
    names.push_back(t.name);
    by_name[t.name] = &t;
  }
  SortLikeLlamaQuantize(&names);
  std::vector<TensorDesc> descs;
  for (const std::string& n : names) {
    const gguf::TensorInfo& t = *by_name[n];
    TensorDesc d;
    d.name = t.name;
    d.n_dims = t.n_dims;
    std::copy(t.ne, t.ne + 4, d.ne);
    d.type = t.type;
    descs.push_back(d);
  }
  MLA_ASSIGN_OR_RETURN(MixPlanner planner, MixPlanner::Create(mix, model, descs));
  QuantizeReport report;
  report.file_type = ftype.id;
  for (const TensorDesc& d : descs) {
    MLA_ASSIGN_OR_RETURN(TypeChoice c, planner.Choose(d));
    if (c.type != d.type) {
      if (!quant::CanDequantize(d.type))
        return Errorf("tensor '%s' has type %s, which cannot be read back to f32", d.name.c_str(), Name(d.type));
      if (IsBlockQuantized(d.type) && !o.allow_requantize)
        return Errorf("tensor '%s' is already %s; requantizing it to %s compounds the errors (pass "
                      "--allow-requantize to do it anyway)",
                      d.name.c_str(), Name(d.type), Name(c.type));
    }
    report.tensors.push_back({d.name, d.type, c.type, c.reason});
    const gguf::TensorInfo& t = *by_name[d.name];
    report.bytes_in += t.nbytes;
    report.bytes_out += RowBytes(c.type, t.ne[0]) * uint64_t(t.nrows());
  }
  if (o.dry_run) return report;

  // Metadata: everything but the split keys (the writer adds its own) and the alignment (the
  // writer writes the one it uses); quantization_version and file_type move to the end, as
  // llama-quantize leaves them.
  gguf::WriterOptions wo;
  wo.alignment = in->alignment();
  wo.max_shard_bytes = o.split_max_bytes;
  MLA_ASSIGN_OR_RETURN(auto writer, gguf::Writer::Create(o.output_path, wo));
  for (const auto& [k, v] : in->metadata()) {
    if (k.compare(0, 6, "split.") == 0 || k == "general.alignment" || k == "general.quantization_version" ||
        k == "general.file_type")
      continue;
    writer->Set(k, v);
  }
  writer->Set("general.quantization_version", gguf::Value::U32(2));
  writer->Set("general.file_type", gguf::Value::U32(ftype.id));
  for (const QuantizedTensor& q : report.tensors) {
    const gguf::TensorInfo& t = *by_name[q.name];
    MLA_RETURN_IF_ERROR(writer->AddTensor(t.name, q.to, t.n_dims, t.ne));
  }

  const int threads = o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
  ThreadPool pool(threads);
  Progress progress("quantizing", report.bytes_out, o.progress);
  std::vector<uint8_t> buffer;
  for (const QuantizedTensor& q : report.tensors) {
    const gguf::TensorInfo& t = *by_name[q.name];
    if (q.to == q.from) {
      MLA_RETURN_IF_ERROR(writer->WriteTensor(t.name, t.data, t.nbytes));
      progress.Add(t.nbytes, t.name);
      continue;
    }
    const size_t in_row = t.row_bytes();
    const RowReader read = [&](int64_t row0, int64_t n, float* dst) {
      for (int64_t r = 0; r < n; ++r)
        quant::DequantizeRow(t.type, t.data + size_t(row0 + r) * in_row, dst + r * t.ne[0], t.ne[0]);
      return Status::Ok();
    };
    MLA_RETURN_IF_ERROR(EncodeTensor(q.to, t.ne[0], t.nrows(), read, pool, &buffer,
                                     [&](uint64_t b) { progress.Add(b, t.name); })
                            .Wrap(t.name));
    MLA_RETURN_IF_ERROR(writer->WriteTensor(t.name, buffer.data(), buffer.size()));
  }
  MLA_RETURN_IF_ERROR(writer->Finish());
  progress.Finish();
  report.outputs = writer->outputs();
  return report;
}

}  // namespace mla::convert
