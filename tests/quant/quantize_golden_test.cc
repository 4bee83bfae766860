// Without importance, the legacy quantizers (and the f16/bf16 conversions) must produce the
// bytes of ggml's reference quantizers: tests/golden/gen_quantize_goldens.py hashed what the PyPI
// gguf package writes for a deterministic set of rows that this test rebuilds bit for bit. IQ4_NL
// likewise, against the generator's numpy re-implementation of ggml's IQ4_NL search (gguf has no
// IQ4_NL quantizer).
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "quant/quant.h"
#include "quant/sha256.h"
#include "test_util.h"

namespace mla::quant {
namespace {

constexpr int kRows = 17, kN = 1024;

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Same rows as make_rows() in gen_quantize_goldens.py (every value exact in f32).
std::vector<float> MakeRows() {
  std::vector<float> rows(size_t(kRows) * kN, 0.f);
  uint64_t state = 12345;
  for (int r = 0; r < 16; ++r) {
    const int e = (r % 5) - 3;
    for (int i = 0; i < kN; ++i) {
      const int64_t u = int64_t(SplitMix64(&state) >> 40);
      float v = float(u - (1 << 23)) * std::ldexp(1.f, e - 23);
      switch (r % 4) {
        case 1:
          if (i % 64 == 17) v *= 32.f;
          break;
        case 2:
          v = float(u) * std::ldexp(1.f, e - 24);
          break;
        case 3:
          v = std::trunc(float(u - (1 << 23)) * std::ldexp(1.f, -20)) * std::ldexp(1.f, e - 3);
          break;
      }
      rows[size_t(r) * kN + i] = v;
    }
  }
  return rows;  // row 16 stays all zero
}

TEST(QuantizeGolden, ReferenceBitExact) {
  const std::vector<float> rows = MakeRows();
  std::istringstream in(test::ReadFile(test::SourcePath("tests/golden/quantize_goldens.tsv")));
  std::string line;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream f(line);
    std::string type_name, want, want_input;
    int n_rows, n;
    f >> type_name >> n_rows >> n >> want >> want_input;
    ASSERT_EQ(n_rows, kRows);
    ASSERT_EQ(n, kN);
    ASSERT_EQ(test::Sha256Hex(rows.data(), rows.size() * sizeof(float)), want_input)
        << "the test's input rows differ from the generator's";
    const std::optional<DType> type = DTypeFromName(type_name);
    ASSERT_TRUE(type.has_value()) << type_name;
    std::vector<uint8_t> out(RowBytes(*type, kN) * kRows);
    for (int r = 0; r < kRows; ++r)
      EXPECT_EQ(QuantizeRow(*type, rows.data() + size_t(r) * kN, out.data() + RowBytes(*type, kN) * r, kN),
                RowBytes(*type, kN));
    EXPECT_EQ(test::Sha256Hex(out.data(), out.size()), want) << type_name;
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

}  // namespace
}  // namespace mla::quant
