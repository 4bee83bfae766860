// The generation loop and mla-cli end to end.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "runtime/engine.h"
#include "runtime/generate.h"
#include "test_util.h"

namespace mla {
namespace {

TEST(Generate, GreedyMatchesManualLoop) {
  EngineOptions eo;
  eo.model_path = test::Fixture("models/ds3-tiny.mla.gguf");
  eo.n_threads = 2;
  auto e = Engine::Load(eo);
  ASSERT_TRUE(e.ok()) << e.status().message();
  const std::vector<int32_t> prompt = test::ReadTokens(test::Fixture("models/ds3-tiny.tokens.txt"));
  SamplingParams sp;
  sp.temperature = 0;
  SessionOptions so;
  so.n_ctx = 128;
  auto s = (*e)->NewSession(so);
  ASSERT_TRUE(s.ok());
  Sampler sampler(sp, 2048);
  std::vector<int32_t> got;
  GenerateOptions go;
  go.n_predict = 8;
  GenerateStats stats;
  ASSERT_TRUE(Generate(**s, sampler, (*e)->tokenizer(), prompt, go,
                       [&](int32_t id) { got.push_back(id); return true; }, &stats).ok());
  EXPECT_EQ(stats.n_prompt, int64_t(prompt.size()));
  ASSERT_EQ(got.size(), 8u);
  EXPECT_EQ(stats.n_generated, 8);
  EXPECT_EQ(stats.n_decoded, 7);  // the last sampled token needs no evaluation
  // Manual: argmax, decode, repeat.
  auto m = (*e)->NewSession(so);
  ASSERT_TRUE((*m)->Decode(prompt).ok());
  for (size_t i = 0; i < got.size(); ++i) {
    const float* l = (*m)->logits();
    int32_t best = 0;
    for (int32_t v = 1; v < 2048; ++v)
      if (l[v] > l[best]) best = v;
    EXPECT_EQ(got[i], best) << i;
    ASSERT_TRUE((*m)->Decode(&best, 1).ok());
  }
}

TEST(Generate, StopsWhenTheContextIsFull) {
  EngineOptions eo;
  eo.model_path = test::Fixture("models/ds3-tiny.mla.gguf");
  eo.n_threads = 1;
  auto e = Engine::Load(eo);
  ASSERT_TRUE(e.ok());
  SessionOptions so;
  so.n_ctx = 70;
  auto s = (*e)->NewSession(so);
  ASSERT_TRUE(s.ok());
  SamplingParams sp;
  sp.seed = 1;
  Sampler sampler(sp, 2048);
  const std::vector<int32_t> prompt = test::ReadTokens(test::Fixture("models/ds3-tiny.tokens.txt"));
  GenerateStats stats;
  ASSERT_TRUE(Generate(**s, sampler, (*e)->tokenizer(), prompt, GenerateOptions{},
                       [](int32_t) { return true; }, &stats).ok());
  if (!stats.end_of_generation) {
    EXPECT_TRUE(stats.context_full);
    EXPECT_EQ((*s)->n_past(), 70);
  }
}

std::string Cli(const std::string& args, int* rc, const std::string& stdin_text = "") {
  std::string cmd = test::ToolPath("mla-cli") + " " + args;
  if (!stdin_text.empty()) {
    const std::string in = test::TempDir() + "/stdin.txt";
    std::ofstream(in) << stdin_text;
    cmd += " < " + in;
  } else {
    cmd += " < /dev/null";
  }
  std::string out;
  *rc = test::RunCommand(cmd, &out);
  return out;
}

TEST(MlaCli, TokensAndLogitsOut) {
  const std::string npy = test::TempDir() + "/logits.npy";
  std::string ids;
  for (int32_t id : test::ReadTokens(test::Fixture("models/ds3-tiny.tokens.txt")))
    ids += (ids.empty() ? "" : ",") + std::to_string(id);
  int rc;
  const std::string out = Cli("-m " + test::Fixture("models/ds3-tiny.legacy.gguf") + " --tokens " + ids +
                                  " --logits-out " + npy + " -ctk f32 -t 2 -b 16",
                              &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("layout legacy"), std::string::npos) << out;  // load log
  EXPECT_NE(out.find("timings: prompt 64 tokens"), std::string::npos) << out;
  std::vector<int64_t> shape, ref_shape;
  const auto logits = test::ReadNpyF32(npy, &shape);
  const auto ref = test::ReadNpyF32(test::Fixture("models/ds3-tiny.ref.npy"), &ref_shape);
  ASSERT_EQ(shape, ref_shape);
  const test::KlStats st = test::CompareLogits(ref.data(), logits.data(), shape[0], shape[1]);
  EXPECT_LT(st.mean_kl, 1e-9);
  EXPECT_EQ(st.top1, 1.0);
}

TEST(MlaCli, PromptAndChat) {
  int rc;
  const std::string model = test::Fixture("models/ds3-tiny.mla.gguf");
  std::string out = Cli("-m " + model + " -p \"The quick\" -n 6 --temp 0 -t 2", &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("The quick"), std::string::npos);
  EXPECT_NE(out.find("timings: generation"), std::string::npos);
  out = Cli("-m " + model + " -cnv -n 4 --temp 0 -sys \"Be brief.\"", &rc, "hello\nand again\n");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("chat format"), std::string::npos) << out;
  EXPECT_NE(out.find("timings: prompt"), std::string::npos) << out;
}

TEST(MlaCli, BadFlagsAreOneLineErrors) {
  const std::string model = test::Fixture("models/ds3-tiny.mla.gguf");
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"-m " + model + " --cache-type q4_0 -p x", "expected f32, f16, bf16 or q8_0"},
      {"-m " + model + " --tokens 1,x", "--tokens"},
      {"-m " + model + " --tokens 1,99999", "99999"},
      {"-m " + model + " --override-kv foo -p x", "KEY=TYPE:VALUE"},
      {"-m " + model + " --temp -1 -p x", "temperature"},
      {"-m /nonexistent.gguf -p x", "nonexistent"},
      {"-m " + model + " --no-such-flag", "no-such-flag"},
  };
  for (const Case& c : cases) {
    int rc;
    const std::string out = Cli(c.args + " --log-disable", &rc);
    EXPECT_NE(rc, 0) << c.args;
    EXPECT_NE(out.find(c.expect), std::string::npos) << c.args << "\n" << out;
    EXPECT_NE(out.find("mla-cli: "), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace mla
