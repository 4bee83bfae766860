// Context shift through the library API (spec §5.4), on every tiny fixture layout with an f32
// cache: (a) re-positioning a whole sequence gives the logits of evaluating it at the new
// positions; (b) after dropping a span, the latent part of every kept row is untouched and its
// rope part equals the key rotated directly for the new position.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "model/model.h"
#include "runtime/session.h"
#include "test_util.h"

namespace mla {
namespace {

class Shift : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto m = Model::Load(test::Fixture("models/" + GetParam() + ".gguf"));
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(m).value();
    const std::string base = GetParam().substr(0, GetParam().find('.'));
    tokens_ = test::ReadTokens(test::Fixture("models/" + base + ".tokens.txt"));
    ASSERT_GE(tokens_.size(), 17u);
  }
  std::unique_ptr<Session> NewSession(int64_t n_ctx) {
    SessionOptions o;
    o.n_ctx = n_ctx;
    o.n_batch = 64;
    o.cache_type = DType::F32;
    auto s = Session::Create(*model_, pool_, o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(s).value();
  }
  ThreadPool pool_{2};
  std::unique_ptr<Model> model_;
  std::vector<int32_t> tokens_;
};

// (a) Prompt at positions 1000.., shifted by −1000, then one more token: its logits equal those
// of the same prompt evaluated from position 0.
TEST_P(Shift, RepositionMatchesEvaluationAtNewPositions) {
  const std::vector<int32_t> prompt(tokens_.begin(), tokens_.begin() + 16);
  const int32_t next = tokens_[16];
  auto moved = NewSession(64);
  ASSERT_TRUE(moved->StartAt(1000).ok());
  ASSERT_TRUE(moved->Decode(prompt).ok());
  ASSERT_TRUE(moved->Reposition(-1000).ok());
  EXPECT_EQ(moved->pos0(), 0);
  ASSERT_TRUE(moved->Decode(&next, 1).ok());
  auto direct = NewSession(64);
  ASSERT_TRUE(direct->Decode(prompt).ok());
  ASSERT_TRUE(direct->Decode(&next, 1).ok());
  const int64_t V = model_->config().n_vocab;
  double worst = 0;
  for (int64_t i = 0; i < V; ++i)
    worst = std::max(worst, double(std::fabs(moved->logits()[i] - direct->logits()[i])));
  EXPECT_LT(worst, 1e-4);
  EXPECT_FALSE(moved->Reposition(-1).ok());  // position −1 does not exist
}

// (b) Keep the first 4 tokens, drop the next 6, move the remaining 10 by −6.
TEST_P(Shift, DroppedSpanKeepsLatentAndReRotatesRope) {
  const ModelConfig& c = model_->config();
  const int64_t n = 20, keep = 4, drop = 6, row = c.latent_row(), r_kv = c.kv_lora_rank;
  std::vector<int32_t> prompt(n);
  for (int64_t i = 0; i < n; ++i) prompt[size_t(i)] = tokens_[size_t(i % int64_t(tokens_.size()))];
  auto s = NewSession(64);
  ASSERT_TRUE(s->Decode(prompt).ok());
  std::vector<float> before(size_t(c.n_layer * n * row));
  for (int64_t il = 0; il < c.n_layer; ++il)
    for (int64_t p = 0; p < n; ++p)
      std::memcpy(&before[size_t((il * n + p) * row)], s->cache().Row(il, p), size_t(row) * sizeof(float));
  ASSERT_TRUE(s->Shift(keep + drop, -drop).ok());
  ASSERT_EQ(s->n_past(), n - drop);

  const ops::Rope& rope = model_->rope();
  const int64_t half = c.n_rope / 2;
  std::vector<float> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half)),
      expect(static_cast<size_t>(c.n_rope));
  for (int64_t old_pos = keep + drop; old_pos < n; ++old_pos) {
    const int64_t new_pos = old_pos - drop;
    // Layer 0's row depends only on the token: compute it fresh at the new position.
    auto fresh = NewSession(8);
    ASSERT_TRUE(fresh->StartAt(new_pos).ok());
    ASSERT_TRUE(fresh->Decode(&prompt[size_t(old_pos)], 1).ok());
    for (int64_t il = 0; il < c.n_layer; ++il) {
      const float* old_row = &before[size_t((il * n + old_pos) * row)];
      const float* now = reinterpret_cast<const float*>(s->cache().Row(il, new_pos));
      EXPECT_EQ(std::memcmp(now, old_row, size_t(r_kv) * sizeof(float)), 0)
          << "latent part changed, layer " << il << " row " << old_pos;
      if (il == 0) {
        std::memcpy(expect.data(), reinterpret_cast<const float*>(fresh->cache().Row(0, 0)) + r_kv,
                    size_t(c.n_rope) * sizeof(float));
      } else {
        // Un-rotate by the old position, rotate by the new one.
        std::memcpy(expect.data(), old_row + r_kv, size_t(c.n_rope) * sizeof(float));
        rope.CosSin(-old_pos, cos_t.data(), sin_t.data());
        rope.Rotate(expect.data(), cos_t.data(), sin_t.data());
        rope.CosSin(new_pos, cos_t.data(), sin_t.data());
        rope.Rotate(expect.data(), cos_t.data(), sin_t.data());
      }
      for (int64_t i = 0; i < c.n_rope; ++i)
        EXPECT_NEAR(now[r_kv + i], expect[size_t(i)], 1e-5) << "layer " << il << " row " << old_pos;
    }
  }
  // The first rows are untouched.
  for (int64_t il = 0; il < c.n_layer; ++il)
    for (int64_t p = 0; p < keep; ++p)
      EXPECT_EQ(std::memcmp(s->cache().Row(il, p), &before[size_t((il * n + p) * row)],
                            size_t(row) * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Shift,
                         ::testing::Values("ds2-lite-tiny.legacy", "ds2-lite-tiny.split2d",
                                           "ds2-lite-tiny.mla", "ds3-tiny.legacy",
                                           "ds3-tiny.split2d", "ds3-tiny.mla"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s)
                             if (ch == '-' || ch == '.') ch = '_';
                           return s;
                         });

}  // namespace
}  // namespace mla
