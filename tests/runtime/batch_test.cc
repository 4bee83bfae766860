// Continuous batching is invisible (spec §5.2): four prompts decoded together — prefill chunks
// of some interleaved with decode steps of others in one pass — give the same greedy tokens as
// each prompt run alone (NOTES: while the lone run's top-2 gap exceeds 1e-3; logits within 1e-3
// where it does not).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "runtime/batch.h"
#include "runtime/engine.h"
#include "test_util.h"

namespace mla {
namespace {

struct GreedyRun {
  std::vector<int32_t> tokens;
  std::vector<std::vector<float>> logits;  // the distribution each token was picked from
};

int32_t Argmax(const float* x, int64_t n) { return int32_t(std::max_element(x, x + n) - x); }

TEST(Batch, ConcurrentGreedyMatchesOneAtATime) {
  EngineOptions eo;
  eo.model_path = test::Fixture("models/ds3-demo.Q4_K_M.gguf");
  eo.n_threads = 2;
  auto engine = Engine::Load(eo);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  Engine& e = **engine;
  const int64_t V = e.model().config().n_vocab;
  const char* texts[] = {"The license of this software", "Once upon a time, in a",
                         "def fibonacci(n):", "Paris is the capital of"};
  std::vector<std::vector<int32_t>> prompts;
  for (const char* t : texts) {
    auto ids = e.tokenizer().Encode(t, true, false);
    ASSERT_TRUE(ids.ok());
    prompts.push_back(*ids);
  }
  const int n_gen = 12;

  std::vector<GreedyRun> alone(4);
  for (int k = 0; k < 4; ++k) {
    SessionOptions so;
    so.n_ctx = 128;
    so.cache_type = DType::F32;
    auto s = e.NewSession(so);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Decode(prompts[size_t(k)]).ok());
    for (int i = 0; i < n_gen; ++i) {
      const float* l = (*s)->logits();
      alone[size_t(k)].logits.emplace_back(l, l + V);
      const int32_t next = Argmax(l, V);
      alone[size_t(k)].tokens.push_back(next);
      ASSERT_TRUE((*s)->Decode(&next, 1).ok());
    }
  }

  // Together: prompt k joins at step k, its prefill in chunks of 3 tokens sharing the pass with
  // the others' decode tokens.
  auto batch = Batch::Create(e.model(), e.pool(), 16, 4);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  std::vector<std::unique_ptr<Session>> seqs;
  for (int k = 0; k < 4; ++k) {
    SessionOptions so;
    so.n_ctx = 128;
    so.cache_type = DType::F32;
    so.own_workspace = false;
    auto s = e.NewSession(so);
    ASSERT_TRUE(s.ok());
    seqs.push_back(std::move(s).value());
  }
  std::vector<GreedyRun> together(4);
  std::vector<size_t> fed(4, 0);
  std::vector<int32_t> pending(4, -1);
  int64_t passes = 0;
  for (int step = 0; passes < 200; ++step) {
    std::vector<BatchItem> items;
    for (int k = 0; k < 4 && k <= step; ++k) {
      const auto& p = prompts[size_t(k)];
      if (together[size_t(k)].tokens.size() == size_t(n_gen)) continue;
      BatchItem it;
      it.session = seqs[size_t(k)].get();
      if (fed[size_t(k)] < p.size()) {
        it.tokens = p.data() + fed[size_t(k)];
        it.n = std::min<int64_t>(3, int64_t(p.size() - fed[size_t(k)]));
        fed[size_t(k)] += size_t(it.n);
        it.logits = fed[size_t(k)] == p.size();
      } else {
        it.tokens = &pending[size_t(k)];
        it.n = 1;
        it.logits = true;
      }
      items.push_back(it);
    }
    if (items.empty()) break;
    ASSERT_TRUE((*batch)->Decode(items.data(), int64_t(items.size())).ok());
    ++passes;
    for (const BatchItem& it : items) {
      const int k = int(std::find_if(seqs.begin(), seqs.end(),
                                     [&](const auto& s) { return s.get() == it.session; }) -
                        seqs.begin());
      if (!it.logits) continue;
      const float* l = it.session->logits();
      together[size_t(k)].logits.emplace_back(l, l + V);
      pending[size_t(k)] = Argmax(l, V);
      together[size_t(k)].tokens.push_back(pending[size_t(k)]);
    }
  }
  EXPECT_EQ((*batch)->passes(), passes);

  for (int k = 0; k < 4; ++k) {
    ASSERT_EQ(together[size_t(k)].tokens.size(), size_t(n_gen));
    for (int i = 0; i < n_gen; ++i) {
      const std::vector<float>& a = alone[size_t(k)].logits[size_t(i)];
      const std::vector<float>& b = together[size_t(k)].logits[size_t(i)];
      std::vector<float> sorted = a;
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
      double worst = 0;
      for (int64_t j = 0; j < V; ++j) worst = std::max(worst, double(std::fabs(a[size_t(j)] - b[size_t(j)])));
      if (sorted[0] - sorted[1] > 1e-3) {
        ASSERT_EQ(alone[size_t(k)].tokens[size_t(i)], together[size_t(k)].tokens[size_t(i)])
            << "prompt " << k << " token " << i << " (logits differ by " << worst << ")";
      } else {
        EXPECT_LT(worst, 1e-3) << "prompt " << k << " token " << i;
        break;  // a near tie: the runs may take different tokens from here on
      }
    }
  }
}

TEST(Batch, BadInputIsAnError) {
  EngineOptions eo;
  eo.model_path = test::Fixture("models/ds3-tiny.mla.gguf");
  eo.n_threads = 1;
  auto engine = Engine::Load(eo);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  auto batch = Batch::Create((*engine)->model(), (*engine)->pool(), 8, 2);
  ASSERT_TRUE(batch.ok());
  SessionOptions so;
  so.n_ctx = 4;
  so.own_workspace = false;
  auto s = (*engine)->NewSession(so);
  ASSERT_TRUE(s.ok());
  const int32_t toks[6] = {1, 2, 3, 4, 5, 6};
  BatchItem it{s->get(), toks, 5, true};
  EXPECT_FALSE((*batch)->Decode(&it, 1).ok());  // context full
  BatchItem twice[2] = {{s->get(), toks, 1, true}, {s->get(), toks, 1, true}};
  EXPECT_FALSE((*batch)->Decode(twice, 2).ok());  // one session twice
  EXPECT_FALSE((*s)->Decode(toks, 1).ok());        // no workspace of its own
  const int32_t bad = -1;
  BatchItem neg{s->get(), &bad, 1, true};
  EXPECT_FALSE((*batch)->Decode(&neg, 1).ok());
  EXPECT_EQ((*s)->n_past(), 0);
  BatchItem ok{s->get(), toks, 2, true};
  EXPECT_TRUE((*batch)->Decode(&ok, 1).ok());
  EXPECT_EQ((*s)->n_past(), 2);
  EXPECT_NE((*s)->logits(), nullptr);
}

}  // namespace
}  // namespace mla
