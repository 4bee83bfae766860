#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <vector>

#include "base/dtype.h"
#include "base/fp16.h"
#include "base/status.h"
#include "base/thread_pool.h"

namespace mla {
namespace {

TEST(Fp16, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = F16ToF32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(f))));
      continue;
    }
    EXPECT_EQ(F32ToF16(f), h) << h;
  }
}

TEST(Fp16, KnownValues) {
  EXPECT_EQ(F16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(F16ToF32(0xc000), -2.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(F32ToF16(65504.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);          // rounds to infinity
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie to even
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);         // tie to even (zero)
  EXPECT_EQ(F32ToF16(std::ldexp(1.5f, -25)), 0x0001);
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3f80);
  EXPECT_EQ(BF16ToF32(0x3f80), 1.0f);
  EXPECT_EQ(F32ToBF16(Bits2F32(0x3f808000)), 0x3f80);  // tie, even stays
  EXPECT_EQ(F32ToBF16(Bits2F32(0x3f818000)), 0x3f82);  // tie, odd rounds up
  EXPECT_TRUE(std::isnan(BF16ToF32(F32ToBF16(NAN))));
}

TEST(DType, TableMatchesSpec) {
  EXPECT_EQ(Info(DType::Q4_K).block_bytes, 144u);
  EXPECT_EQ(Info(DType::IQ4_XS).block_elems, 256);
  EXPECT_EQ(RowBytes(DType::Q8_0, 64), 68u);
  EXPECT_EQ(FindDType(4), nullptr);
  EXPECT_EQ(DTypeFromName("Q6_K"), DType::Q6_K);
  EXPECT_FALSE(DTypeFromName("q7_0").has_value());
}

TEST(Status, ResultCarriesValueOrError) {
  Result<int> good(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  Result<int> bad(Errorf("expected %d, found %d", 1, 2));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "expected 1, found 2");
}

TEST(ThreadPool, RunsEveryTaskOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int round = 0; round < 50; ++round) {
      std::vector<std::atomic<int>> hits(37);
      pool.Run(37, [&](int64_t i, int t) {
        EXPECT_LT(t, threads);
        hits[i]++;
      });
      for (auto& h : hits) EXPECT_EQ(h.load(), 1);
    }
  }
}

}  // namespace
}  // namespace mla
