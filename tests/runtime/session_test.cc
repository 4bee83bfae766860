// Sessions: no allocation in the forward pass, truncate, context full, bad input, context shift.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/kernels.h"
#include "model/model.h"
#include "ops/mla_decompressed.h"
#include "runtime/session.h"
#include "test_util.h"

// Replaceable global operator new for this test binary: counts every allocation, so a test can
// assert that decoding allocates nothing (design.md "No allocation in the hot path").
namespace {
std::atomic<int64_t> g_allocations{0};
void* CountedAlloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace
// Every form is replaced, so no allocation reaches the runtime's own operator new (which
// sanitizers pair with their own delete).
void* operator new(std::size_t n) { return CountedAlloc(n); }
void* operator new[](std::size_t n) { return CountedAlloc(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace mla {
namespace {

struct Loaded {
  std::unique_ptr<Model> model;
  std::vector<int32_t> tokens;
};

Loaded Load(const std::string& name = "ds3-tiny.mla") {
  Loaded l;
  auto m = Model::Load(test::Fixture("models/" + name + ".gguf"));
  EXPECT_TRUE(m.ok()) << m.status().message();
  l.model = std::move(m).value();
  l.tokens = test::ReadTokens(test::Fixture("models/" + name.substr(0, name.find('.')) + ".tokens.txt"));
  return l;
}

std::unique_ptr<Session> MakeSession(const Model& m, ThreadPool& pool, int64_t n_ctx,
                                     int64_t n_batch, bool logits_all,
                                     DType cache = DType::F32) {
  SessionOptions o;
  o.n_ctx = n_ctx;
  o.n_batch = n_batch;
  o.logits_all = logits_all;
  o.cache_type = cache;
  auto s = Session::Create(m, pool, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

TEST(Session, DecodeAllocatesNothing) {
  Loaded l = Load();
  ThreadPool pool(2);
  for (bool all : {false, true}) {
    auto s = MakeSession(*l.model, pool, 64, 8, all, DType::Q8_0);
    std::vector<float> logits(all ? 64 * 2048 : 0);
    ASSERT_TRUE(s->Decode(l.tokens.data(), 4, all ? logits.data() : nullptr).ok());  // warm up
    const int64_t before = g_allocations.load();
    ASSERT_TRUE(s->Decode(l.tokens.data() + 4, 20, all ? logits.data() : nullptr).ok());  // 3 batches
    for (int i = 24; i < 30; ++i)
      ASSERT_TRUE(s->Decode(&l.tokens[size_t(i)], 1, all ? logits.data() : nullptr).ok());
    ASSERT_TRUE(s->Truncate(10).ok());
    ASSERT_TRUE(s->Decode(l.tokens.data() + 10, 5, all ? logits.data() : nullptr).ok());
    EXPECT_EQ(g_allocations.load() - before, 0) << (all ? "logits_all" : "last logits");
  }
}

// kAuto: the decompressed form for a 64-token prefill of this small-r_kv model (fewer
// multiply-adds, spec §3.7), the absorbed one for single-token decode.
TEST(Session, AutoPicksTheCheaperAttentionForm) {
  Loaded l = Load();
  ThreadPool pool(1);
  auto s = MakeSession(*l.model, pool, 80, 64, false);
  // The prompt in one pass: the form the cost model (spec §3.7) calls cheaper, in every layer.
  const ModelConfig& c = l.model->config();
  const int64_t n = int64_t(l.tokens.size());
  std::vector<int64_t> visible(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) visible[size_t(t)] = t + 1;
  const ops::MlaCost cost = ops::EstimateMlaCost(c.n_head, c.kv_lora_rank, c.n_nope, c.n_rope, c.n_v, n, visible.data());
  const int64_t want = cost.decompressed < cost.absorbed ? c.n_layer : 0;
  ASSERT_TRUE(s->Decode(l.tokens).ok());
  EXPECT_EQ(s->decompressed_passes(), want);
  // One more token: absorbed (decompressing the whole cache for one query never pays).
  ASSERT_TRUE(s->Decode(&l.tokens[0], 1).ok());
  EXPECT_EQ(s->decompressed_passes(), want);
}

// The K-quants' interleaved kernels keep the row-major order of operations (kernels.h), so
// repacking a Q4_K_M or Q5_K_M model (Q4_K, Q5_K and Q6_K matrices) at load changes nothing in its
// logits — prompt and decode alike. (The IQ4_XS file is not one of them: its IQ4_NL matrices take
// the 32-element interleaved order, which differs in the last bits.)
TEST(Session, RepackedKQuantsGiveTheSameLogits) {
  const std::vector<int32_t> tokens = test::ReadTokens(test::Fixture("models/ds3-small.eval-tokens.txt"));
  ASSERT_GE(tokens.size(), 24u);
  for (const char* file : {"ds3-small.Q4_K_M.gguf", "ds3-small.Q5_K_M.gguf"}) {
    SCOPED_TRACE(file);
    std::vector<std::vector<float>> logits;
    for (bool repack : {true, false}) {
      LoadOptions o;
      o.repack = repack;
      auto m = Model::Load(test::Fixture(std::string("models/") + file), o);
      ASSERT_TRUE(m.ok()) << m.status().message();
      if (repack && kernels::CanInterleave(DType::Q4_K)) {
        EXPECT_GT((*m)->weights().tensors_repacked, 0);
      }
      if (!repack) {
        EXPECT_EQ((*m)->weights().tensors_repacked, 0);
      }
      ThreadPool pool(2);
      auto s = MakeSession(**m, pool, 64, 16, true, DType::F16);
      const int64_t V = (*m)->config().n_vocab;
      std::vector<float> out(size_t(24 * V));
      ASSERT_TRUE(s->Decode(tokens.data(), 20, out.data()).ok());  // two batches
      for (int64_t i = 20; i < 24; ++i) ASSERT_TRUE(s->Decode(&tokens[size_t(i)], 1, out.data() + i * V).ok());
      logits.push_back(std::move(out));
    }
    ASSERT_EQ(logits[0].size(), logits[1].size());
    EXPECT_EQ(std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * sizeof(float)), 0);
  }
}

TEST(Session, TruncateThenDecodeMatchesStraightRun) {
  Loaded l = Load();
  ThreadPool pool(2);
  const int64_t n = int64_t(l.tokens.size()), V = l.model->config().n_vocab;
  auto a = MakeSession(*l.model, pool, n, 512, true);
  std::vector<float> straight(size_t(n * V)), again(size_t(n * V));
  ASSERT_TRUE(a->Decode(l.tokens, straight.data()).ok());
  // A retry: drop the last 24 tokens and evaluate them again.
  ASSERT_TRUE(a->Truncate(40).ok());
  EXPECT_EQ(a->n_past(), 40);
  EXPECT_EQ(a->logits(), nullptr);
  ASSERT_TRUE(a->Decode(l.tokens.data() + 40, n - 40, again.data()).ok());
  for (int64_t i = 0; i < (n - 40) * V; ++i)
    ASSERT_NEAR(again[size_t(i)], straight[size_t(40 * V + i)], 1e-4) << i;
  // Multi-turn: a different continuation after the kept prefix, then the original one again.
  ASSERT_TRUE(a->Truncate(20).ok());
  ASSERT_TRUE(a->Decode(l.tokens.data() + 50, 10).ok());
  ASSERT_TRUE(a->Truncate(20).ok());
  ASSERT_TRUE(a->Decode(l.tokens.data() + 20, n - 20).ok());
  const float* last = a->logits();
  ASSERT_NE(last, nullptr);
  for (int64_t v = 0; v < V; ++v) ASSERT_NEAR(last[v], straight[size_t((n - 1) * V + v)], 1e-4);
  EXPECT_EQ(a->tokens(), l.tokens);
}

TEST(Session, ContextFullIsAnError) {
  Loaded l = Load();
  ThreadPool pool(1);
  auto s = MakeSession(*l.model, pool, 16, 4, false);
  ASSERT_TRUE(s->Decode(l.tokens.data(), 10).ok());
  const Status st = s->Decode(l.tokens.data() + 10, 7);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("context full"), std::string::npos) << st.message();
  EXPECT_EQ(s->n_past(), 10);  // nothing was evaluated
  EXPECT_TRUE(s->Decode(l.tokens.data() + 10, 6).ok());
  EXPECT_EQ(s->n_past(), 16);
  EXPECT_FALSE(s->Decode(l.tokens.data(), 1).ok());
}

TEST(Session, BadInputIsAnError) {
  Loaded l = Load();
  ThreadPool pool(1);
  auto s = MakeSession(*l.model, pool, 16, 4, false);
  const int32_t bad[2] = {5, 2048};
  Status st = s->Decode(bad, 2);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("2048"), std::string::npos) << st.message();
  EXPECT_EQ(s->n_past(), 0);
  const int32_t neg = -1;
  EXPECT_FALSE(s->Decode(&neg, 1).ok());
  EXPECT_FALSE(s->Decode(bad, 0).ok());
  std::vector<float> logits(2048);
  EXPECT_FALSE(s->Decode(bad, 1, logits.data()).ok());  // not a logits_all session
  EXPECT_FALSE(s->Truncate(1).ok());
  EXPECT_FALSE(s->Truncate(-1).ok());
  SessionOptions o;
  o.n_ctx = 0;
  EXPECT_FALSE(Session::Create(*l.model, pool, o).ok());
  o.n_ctx = 8;
  o.n_batch = 0;
  EXPECT_FALSE(Session::Create(*l.model, pool, o).ok());
  o.n_batch = 8;
  o.cache_type = DType::Q4_0;
  auto bad_cache = Session::Create(*l.model, pool, o);
  ASSERT_FALSE(bad_cache.ok());
  EXPECT_NE(bad_cache.status().message().find("q8_0"), std::string::npos);
}

// Context shift (spec §5.4): after dropping 5 tokens, layer 0's rope keys at the new positions
// equal those of a fresh run of the remaining tokens (layer 0 depends only on the token), and the
// latent part does not change.
TEST(Session, ShiftReRotatesRopeKeys) {
  Loaded l = Load();
  ThreadPool pool(1);
  const ModelConfig& c = l.model->config();
  auto s = MakeSession(*l.model, pool, 32, 32, false);
  ASSERT_TRUE(s->Decode(l.tokens.data(), 20).ok());
  std::vector<float> before(size_t(c.latent_row()));
  std::memcpy(before.data(), s->cache().Row(1, 12), before.size() * sizeof(float));
  ASSERT_TRUE(s->Shift(10, -5).ok());
  EXPECT_EQ(s->n_past(), 15);
  std::vector<int32_t> kept(l.tokens.begin(), l.tokens.begin() + 5);
  kept.insert(kept.end(), l.tokens.begin() + 10, l.tokens.begin() + 20);
  EXPECT_EQ(s->tokens(), kept);
  auto fresh = MakeSession(*l.model, pool, 32, 32, false);
  ASSERT_TRUE(fresh->Decode(kept).ok());
  for (int64_t p = 5; p < 15; ++p) {
    const float* a = reinterpret_cast<const float*>(s->cache().Row(0, p));
    const float* b = reinterpret_cast<const float*>(fresh->cache().Row(0, p));
    for (int64_t i = 0; i < c.latent_row(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << p << " " << i;
  }
  const float* moved = reinterpret_cast<const float*>(s->cache().Row(1, 7));
  for (int64_t i = 0; i < c.kv_lora_rank; ++i) EXPECT_EQ(moved[i], before[size_t(i)]);
  EXPECT_FALSE(s->Shift(3, -5).ok());
  EXPECT_FALSE(s->Shift(10, 1).ok());
}

}  // namespace
}  // namespace mla
