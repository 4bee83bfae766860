#include "convert/upgrade.h"

#include <algorithm>
#include <cinttypes>
#include <thread>

#include "base/thread_pool.h"
#include "convert/encode.h"
#include "convert/progress.h"
#include "convert/size_label.h"
#include "gguf/gguf.h"
#include "quant/quant.h"

namespace mla::convert {

namespace {

constexpr const char* kArch = "deepseek2";

struct Geometry {
  int64_t H = 0, dn = 0, dv = 0, dr = 0, rkv = 0;
  int64_t P() const { return dn + dv; }
};

Result<Geometry> ReadGeometry(const gguf::File& f) {
  auto key = [](const char* k) { return std::string(kArch) + "." + k; };
  Geometry g;
  MLA_ASSIGN_OR_RETURN(const uint64_t H, f.GetU64(key("attention.head_count")));
  MLA_ASSIGN_OR_RETURN(const uint64_t dqk, f.GetU64(key("attention.key_length")));
  MLA_ASSIGN_OR_RETURN(const uint64_t dv, f.GetU64(key("attention.value_length")));
  MLA_ASSIGN_OR_RETURN(const uint64_t dr, f.GetU64(key("rope.dimension_count")));
  MLA_ASSIGN_OR_RETURN(const uint64_t rkv, f.GetU64(key("attention.kv_lora_rank")));
  if (H < 1 || H > 65536 || dv < 1 || dv > 65536 || rkv < 1 || rkv > 65536 || dqk > 65536)
    return Errorf("attention sizes out of range: head_count %" PRIu64 ", value_length %" PRIu64
                  ", kv_lora_rank %" PRIu64 ", key_length %" PRIu64,
                  H, dv, rkv, dqk);
  if (dr >= dqk)
    return Errorf("key_length %" PRIu64 " must exceed rope.dimension_count %" PRIu64 " (no nope part)", dqk, dr);
  g.H = int64_t(H);
  g.dn = int64_t(dqk - dr);
  g.dv = int64_t(dv);
  g.dr = int64_t(dr);
  g.rkv = int64_t(rkv);
  return g;
}

// "blk.N.<suffix>" -> N, or -1.
int64_t BlockOf(const std::string& name, const std::string& suffix) {
  if (name.compare(0, 4, "blk.") != 0 || name.size() <= 4 + suffix.size() + 1) return -1;
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return -1;
  const std::string mid = name.substr(4, name.size() - 4 - suffix.size());
  if (mid.size() < 2 || mid.back() != '.') return -1;
  int64_t v = 0;
  for (size_t i = 0; i + 1 < mid.size(); ++i) {
    if (mid[i] < '0' || mid[i] > '9' || i > 8) return -1;
    v = v * 10 + (mid[i] - '0');
  }
  return v;
}

DType DerivedType(const std::string& option, DType source, int64_t ne0, Status* st) {
  DType t;
  if (option == "auto") {
    t = (source == DType::F32 || source == DType::F16 || source == DType::BF16) ? source : DType::Q8_0;
  } else {
    const auto parsed = DTypeFromName(option);
    if (!parsed || *parsed == DType::Q8_1 || *parsed == DType::Q8_K) {
      *st = Errorf("derived type '%s': expected auto or a tensor type such as f16, bf16, q8_0", option.c_str());
      return source;
    }
    t = *parsed;
  }
  return ne0 % Info(t).block_elems == 0 ? t : DType::F16;
}

struct OutTensor {
  std::string name;
  DType type;
  int n_dims;
  int64_t ne[4];
  enum Kind { kCopy, kDeriveK, kDeriveV } kind = kCopy;
  const gguf::TensorInfo* src = nullptr;  // the copied tensor, or attn_kv_b
};

}  // namespace

Result<UpgradeReport> UpgradeToMla(const UpgradeOptions& o) {
  MLA_ASSIGN_OR_RETURN(auto in, gguf::File::Open(o.input_path));
  MLA_ASSIGN_OR_RETURN(const std::string arch, in->GetString("general.architecture"));
  if (arch != kArch) return Errorf("expected a deepseek2 model, found architecture '%s'", arch.c_str());
  MLA_ASSIGN_OR_RETURN(const uint64_t kmla, in->GetU64Or(std::string(kArch) + ".attention.key_length_mla", 0));
  MLA_ASSIGN_OR_RETURN(const uint64_t vmla, in->GetU64Or(std::string(kArch) + ".attention.value_length_mla", 0));
  if (kmla && vmla) return Errorf("'%s' already has the MLA layout (key_length_mla is set)", o.input_path.c_str());
  MLA_ASSIGN_OR_RETURN(const Geometry g, ReadGeometry(*in));

  UpgradeReport report;
  std::vector<OutTensor> out;
  for (const gguf::TensorInfo& t : in->tensors()) {
    OutTensor ot{t.name, t.type, t.n_dims, {t.ne[0], t.ne[1], t.ne[2], t.ne[3]}, OutTensor::kCopy, &t};
    const int64_t kv_block = BlockOf(t.name, "attn_kv_b.weight");
    const int64_t k_block = BlockOf(t.name, "attn_k_b.weight");
    const int64_t v_block = BlockOf(t.name, "attn_v_b.weight");
    if (kv_block >= 0) {
      if (t.n_dims != 2 || t.ne[0] != g.rkv || t.ne[1] != g.H * g.P())
        return Errorf("%s: shape %s, expected {%" PRId64 ", %" PRId64 "} (kv_lora_rank, head_count * "
                      "(key_length - rope.dimension_count + value_length))",
                      t.name.c_str(), t.ShapeString().c_str(), g.rkv, g.H * g.P());
      if (!quant::CanDequantize(t.type)) return Errorf("%s: type %s cannot be read", t.name.c_str(), Name(t.type));
      const std::string blk = "blk." + std::to_string(kv_block) + ".";
      if (in->FindTensor(blk + "attn_k_b.weight") || in->FindTensor(blk + "attn_v_b.weight")) {
        report.from_split2d = true;
        continue;  // split2d: the 2-D tensors carry the data already
      }
      Status st;
      OutTensor k{blk + "attn_k_b.weight", DerivedType(o.derived_type, t.type, g.dn, &st), 3, {g.dn, g.rkv, g.H, 1},
                  OutTensor::kDeriveK, &t};
      OutTensor v{blk + "attn_v_b.weight", DerivedType(o.derived_type, t.type, g.rkv, &st), 3, {g.rkv, g.dv, g.H, 1},
                  OutTensor::kDeriveV, &t};
      MLA_RETURN_IF_ERROR(st);
      report.k_b_type = k.type;
      report.v_b_type = v.type;
      out.push_back(k);
      out.push_back(v);
      ++report.layers;
      continue;
    }
    if (k_block >= 0 || v_block >= 0) {
      // split2d: same bytes, 3-D shape (spec §2.4 (b)).
      const bool is_k = k_block >= 0;
      const int64_t want0 = is_k ? g.dn : g.rkv, want1 = is_k ? g.H * g.rkv : g.H * g.dv;
      if (t.n_dims != 2 || t.ne[0] != want0 || t.ne[1] != want1)
        return Errorf("%s: shape %s, expected the 2-D form {%" PRId64 ", %" PRId64 "}", t.name.c_str(),
                      t.ShapeString().c_str(), want0, want1);
      ot.n_dims = 3;
      ot.ne[1] = is_k ? g.rkv : g.dv;
      ot.ne[2] = g.H;
      (is_k ? report.k_b_type : report.v_b_type) = t.type;
      if (is_k) ++report.layers;
    }
    out.push_back(ot);
  }
  if (report.layers == 0)
    return Errorf("'%s' has no attn_kv_b or 2-D attn_k_b tensors to upgrade", o.input_path.c_str());

  gguf::WriterOptions wo;
  wo.alignment = in->alignment();
  MLA_ASSIGN_OR_RETURN(auto writer, gguf::Writer::Create(o.output_path, wo));
  const std::string p = std::string(kArch) + ".attention.";
  std::vector<ShapeEntry> shapes;
  for (const OutTensor& t : out) shapes.push_back({t.name, t.n_dims, {t.ne[0], t.ne[1], t.ne[2], t.ne[3]}});
  for (const auto& [k, v] : in->metadata()) {
    if (k.compare(0, 6, "split.") == 0 || k == "general.alignment") continue;
    if (k == "general.size_label") {
      // Recounted: a split2d file counted attn_kv_b and the split pair both.
      writer->Set(k, gguf::Value::String(SizeLabel(shapes)));
    } else if (k == p + "head_count_kv") {
      writer->Set(k, gguf::Value::U32(1));
    } else if (k == p + "key_length") {
      writer->Set(k, gguf::Value::U32(uint32_t(g.rkv + g.dr)));
    } else if (k == p + "value_length") {
      writer->Set(k, gguf::Value::U32(uint32_t(g.rkv)));
      writer->Set(p + "key_length_mla", gguf::Value::U32(uint32_t(g.dn + g.dr)));
      writer->Set(p + "value_length_mla", gguf::Value::U32(uint32_t(g.dv)));
    } else {
      writer->Set(k, v);
    }
  }
  if (!in->Has(p + "head_count_kv")) writer->Set(p + "head_count_kv", gguf::Value::U32(1));
  uint64_t total = 0;
  for (const OutTensor& t : out) {
    MLA_RETURN_IF_ERROR(writer->AddTensor(t.name, t.type, t.n_dims, t.ne));
    total += RowBytes(t.type, t.ne[0]) * uint64_t(t.ne[1] * t.ne[2] * t.ne[3]);
  }

  const int threads = o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
  ThreadPool pool(threads);
  Progress progress("upgrading", total, o.progress);
  std::vector<uint8_t> buffer;
  const int64_t P = g.P();
  for (const OutTensor& t : out) {
    if (t.kind == OutTensor::kCopy) {
      MLA_RETURN_IF_ERROR(writer->WriteTensor(t.name, t.src->data, t.src->nbytes));
      progress.Add(t.src->nbytes, t.name);
      continue;
    }
    const gguf::TensorInfo& kvb = *t.src;
    const size_t kv_row = kvb.row_bytes();
    RowReader read;
    if (t.kind == OutTensor::kDeriveV) {
      // v_b row h * d_v + j = attn_kv_b row h * P + d_n + j (spec §2.5).
      read = [&](int64_t row0, int64_t n, float* dst) {
        for (int64_t r = row0; r < row0 + n; ++r) {
          const int64_t h = r / g.dv, j = r % g.dv;
          quant::DequantizeRow(kvb.type, kvb.data + size_t(h * P + g.dn + j) * kv_row, dst + (r - row0) * g.rkv, g.rkv);
        }
        return Status::Ok();
      };
    } else {
      // k_b[d, c, h] = kvb[c, h * P + d]: dequantize the head's d_n rows and transpose.
      read = [&](int64_t row0, int64_t n, float* dst) {
        std::vector<float> slab(static_cast<size_t>(g.dn * g.rkv));
        int64_t have = -1;
        for (int64_t r = row0; r < row0 + n; ++r) {
          const int64_t h = r / g.rkv, c = r % g.rkv;
          if (h != have) {
            for (int64_t d = 0; d < g.dn; ++d)
              quant::DequantizeRow(kvb.type, kvb.data + size_t(h * P + d) * kv_row, slab.data() + d * g.rkv, g.rkv);
            have = h;
          }
          for (int64_t d = 0; d < g.dn; ++d) dst[(r - row0) * g.dn + d] = slab[size_t(d * g.rkv + c)];
        }
        return Status::Ok();
      };
    }
    MLA_RETURN_IF_ERROR(EncodeTensor(t.type, t.ne[0], t.ne[1] * t.ne[2], read, pool, &buffer,
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
