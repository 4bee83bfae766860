// mla-quantize end to end on ds3-small.F16.gguf: same metadata, tensor types and sizes as
// llama-quantize's files, values close to the input, determinism, requantization guard.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "convert/quantize.h"
#include "convert_testing.h"
#include "quant/quant.h"
#include "test_util.h"

namespace mla::test {
namespace {

using convert::QuantizeGguf;
using convert::QuantizeOptions;

QuantizeOptions Options(const std::string& in, const std::string& out, const std::string& type) {
  QuantizeOptions o;
  o.input_path = in;
  o.output_path = out;
  o.type = type;
  o.threads = 2;
  o.progress = false;
  return o;
}

// Relative RMS error of a tensor against its F16 original.
double RelRms(const gguf::TensorInfo& a, const gguf::TensorInfo& b) {
  std::vector<float> x(static_cast<size_t>(a.ne[0])), y(static_cast<size_t>(b.ne[0]));
  double num = 0, den = 0;
  for (int64_t r = 0; r < a.nrows(); ++r) {
    quant::DequantizeRow(a.type, a.data + r * a.row_bytes(), x.data(), a.ne[0]);
    quant::DequantizeRow(b.type, b.data + r * b.row_bytes(), y.data(), b.ne[0]);
    for (int64_t k = 0; k < a.ne[0]; ++k) {
      num += (double(x[k]) - y[k]) * (double(x[k]) - y[k]);
      den += double(y[k]) * y[k];
    }
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

TEST(Quantize, MatchesLlamaQuantizeFilesExceptTheQuantizedBytes) {
  const std::string dir = TempDir();
  const std::string in = Fixture("models/ds3-small.F16.gguf");
  auto src = OpenGguf(in);
  ASSERT_TRUE(src);
  // Relative RMS error bounds per type (generous: a broken encoder is off by orders of magnitude).
  const std::pair<const char*, double> cases[] = {{"Q8_0", 0.01}, {"Q4_K_M", 0.12}, {"Q5_1", 0.06}, {"Q2_K", 0.45}};
  for (const auto& [type, bound] : cases) {
    const std::string out = dir + "/" + type + ".gguf";
    auto r = QuantizeGguf(Options(in, out, type));
    ASSERT_TRUE(r.ok()) << r.status().message();
    auto mine = OpenGguf(out);
    auto ref = OpenGguf(Fixture(std::string("models/ds3-small.") + type + ".gguf"));
    ASSERT_TRUE(mine && ref);
    EXPECT_EQ(std::filesystem::file_size(out), std::filesystem::file_size(Fixture(std::string("models/ds3-small.") + type + ".gguf")));
    const MetaDiff d = DiffMetadata(*mine, *ref);
    EXPECT_TRUE(d.only_a.empty() && d.only_b.empty() && d.differ.empty()) << type;
    EXPECT_TRUE(d.same_order) << type;
    ASSERT_EQ(mine->tensors().size(), ref->tensors().size());
    for (size_t i = 0; i < mine->tensors().size(); ++i) {
      const auto& a = mine->tensors()[i];
      const auto& b = ref->tensors()[i];
      EXPECT_EQ(a.name, b.name);
      EXPECT_EQ(a.type, b.type) << type << " " << a.name;
      EXPECT_EQ(a.offset, b.offset) << a.name;
      const gguf::TensorInfo* s = src->FindTensor(a.name);
      ASSERT_NE(s, nullptr);
      if (a.type == s->type) {
        EXPECT_EQ(0, std::memcmp(a.data, s->data, s->nbytes)) << a.name << " is copied unchanged";
      } else {
        EXPECT_LT(RelRms(a, *s), bound) << type << " " << a.name;
      }
    }
  }
}

TEST(Quantize, DeterministicAcrossThreadCounts) {
  const std::string dir = TempDir();
  auto a = Options(Fixture("models/ds3-small.F16.gguf"), dir + "/a.gguf", "Q3_K_M");
  a.threads = 1;
  auto b = a;
  b.output_path = dir + "/b.gguf";
  b.threads = 3;
  ASSERT_TRUE(QuantizeGguf(a).ok());
  ASSERT_TRUE(QuantizeGguf(b).ok());
  EXPECT_TRUE(ReadFile(a.output_path) == ReadFile(b.output_path));
}

TEST(Quantize, OverridesDryRunAndRequantizeGuard) {
  const std::string dir = TempDir();
  auto o = Options(Fixture("models/ds3-small.F16.gguf"), dir + "/o.gguf", "Q4_K_M");
  o.tensor_types = {"attn_k_b=bf16", "ffn_up_exps=q8_0"};
  o.token_embedding_type = "q6_k";
  o.dry_run = true;
  auto r = QuantizeGguf(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(std::filesystem::exists(o.output_path));
  int seen = 0;
  for (const auto& t : r->tensors) {
    if (t.name.find("attn_k_b") != std::string::npos) {
      EXPECT_EQ(t.to, DType::BF16);
      ++seen;
    }
    if (t.name.find("ffn_up_exps") != std::string::npos) {
      EXPECT_EQ(t.to, DType::Q8_0);
      ++seen;
    }
    if (t.name == "token_embd.weight") {
      EXPECT_EQ(t.to, DType::Q6_K);
      ++seen;
    }
    if (t.name.find("ffn_gate_inp") != std::string::npos) {
      EXPECT_EQ(t.reason, "kept");
    }
  }
  EXPECT_EQ(seen, 4);

  auto re = Options(Fixture("models/ds3-small.Q8_0.gguf"), dir + "/re.gguf", "Q4_K_M");
  auto refused = QuantizeGguf(re);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--allow-requantize"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(re.output_path));
  re.allow_requantize = true;
  ASSERT_TRUE(QuantizeGguf(re).ok());
  auto f = OpenGguf(re.output_path);
  EXPECT_EQ(f->FindTensor("blk.1.ffn_down_exps.weight")->type, DType::Q6_K);

  EXPECT_FALSE(QuantizeGguf(Options(Fixture("models/ds3-small.F16.gguf"), dir + "/x.gguf", "Q9_K")).ok());
  EXPECT_FALSE(QuantizeGguf(Options(dir + "/missing.gguf", dir + "/x.gguf", "Q8_0")).ok());
}

TEST(Quantize, ToolUsage) {
  const std::string dir = TempDir();
  std::string out;
  const std::string tool = ToolPath("mla-quantize");
  EXPECT_EQ(RunCommand(tool + " " + Fixture("models/ds3-small.F16.gguf") + " " + dir + "/q.gguf q5_0 2", &out), 0) << out;
  EXPECT_NE(out.find("quantizing ["), std::string::npos) << out;
  auto f = OpenGguf(dir + "/q.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f->GetU64("general.file_type"), 8u);
  EXPECT_NE(RunCommand(tool + " " + Fixture("models/ds3-small.F16.gguf") + " " + dir + "/r.gguf Q4_X", &out), 0);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("mla-quantize: unknown type 'Q4_X'"), std::string::npos) << out;
  EXPECT_EQ(RunCommand(tool + " --dry-run " + Fixture("models/ds3-small.F16.gguf") + " " + dir + "/s.gguf Q4_K_M", &out), 0);
  EXPECT_NE(out.find("blk.1.ffn_down_exps.weight"), std::string::npos) << out;
  EXPECT_NE(out.find("q6_K"), std::string::npos) << out;
}

}  // namespace
}  // namespace mla::test
