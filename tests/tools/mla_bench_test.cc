// mla-bench end to end: llama-bench's tests and formats, the sweep, the synthetic writer, errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <cstdio>
#include <string>

#include "test_util.h"

namespace mla::test {
namespace {

// Small bandwidth buffer and one pass: the tests check plumbing, not the machine.
const char* kQuick = " --bw-bytes 16777216 --bw-passes 1 -t 2";

std::string Bench() { return ToolPath("mla-bench"); }

nlohmann::json RunJson(const std::string& args) {
  const std::string out = TempDir() + "/out.json";
  std::string log;
  // The group keeps stdout (the results) apart from stderr (progress), which RunCommand captures.
  const int rc = RunCommand("{ " + Bench() + " " + args + kQuick + " > " + out + "; }", &log);
  EXPECT_EQ(rc, 0) << log;
  return nlohmann::json::parse(ReadFile(out));
}

TEST(MlaBenchTest, LlamaBenchTestsAndFields) {
  const auto j = RunJson("-m " + Fixture("models/ds3-small.Q4_0.gguf") + " -p 16 -n 4 -pg 8,2 -r 2 -o json");
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["n_prompt"], 16);
  EXPECT_EQ(j[0]["n_gen"], 0);
  EXPECT_EQ(j[1]["n_prompt"], 0);
  EXPECT_EQ(j[1]["n_gen"], 4);
  EXPECT_EQ(j[2]["n_prompt"], 8);
  EXPECT_EQ(j[2]["n_gen"], 2);
  for (const auto& r : j) {
    EXPECT_EQ(r["samples_ns"].size(), 2u);
    EXPECT_GT(r["avg_ts"].get<double>(), 0);
    EXPECT_EQ(r["model_type"], "deepseek2 5M Q4_0");
    EXPECT_EQ(r["n_threads"], 2);
    EXPECT_GT(r["measured_bw_gbs"].get<double>(), 0);
    EXPECT_GT(r["measured_peak_gmacs"].get<double>(), 0);
  }
  // pp rows carry the multiply-add rate, tg rows the effective bandwidth.
  EXPECT_GT(j[0]["gmacs"].get<double>(), 0);
  EXPECT_TRUE(j[0]["eff_gbs"].is_null());
  EXPECT_GT(j[1]["eff_gbs"].get<double>(), 0);
  EXPECT_GT(j[1]["bytes_per_rep"].get<double>(), 0);
  EXPECT_TRUE(j[1]["gmacs"].is_null());
  // t/s is llama-bench's: the mean over the samples of (p + n) tokens / sample time (not tokens over
  // the mean time, which differs when the samples do).
  double mean_ts = 0;
  for (const auto& ns : j[2]["samples_ns"]) mean_ts += 10 / (ns.get<double>() * 1e-9);
  mean_ts /= double(j[2]["samples_ns"].size());
  EXPECT_NEAR(j[2]["avg_ts"].get<double>(), mean_ts, 1e-4 * mean_ts);  // samples_ns are whole ns
}

TEST(MlaBenchTest, MarkdownCsvAndDepth) {
  const std::string m = " -m " + Fixture("models/ds3-small.Q4_0.gguf");
  std::string out;
  ASSERT_EQ(RunCommand("{ " + Bench() + m + " -p 8 -n 2 -d 0,16 -r 1" + kQuick + " 2>/dev/null; }", &out), 0) << out;
  EXPECT_NE(out.find("| model | size | params | backend | threads |"), std::string::npos) << out;
  EXPECT_NE(out.find("| pp8 |"), std::string::npos) << out;
  EXPECT_NE(out.find("| tg2 @ d16 |"), std::string::npos) << out;
  EXPECT_NE(out.find(" ± "), std::string::npos) << out;
  ASSERT_EQ(RunCommand("{ " + Bench() + m + " -p 8 -n 0 -r 1 -o csv" + kQuick + " 2>/dev/null; }", &out), 0) << out;
  EXPECT_EQ(out.rfind("model_filename,", 0), 0u) << out;
}

// --profile: after each test, the stages of the timed forward passes, per token, with their share
// of the wall time; the stages together account for most of it.
TEST(MlaBenchTest, ProfileByStage) {
  const std::string m = " -m " + Fixture("models/ds3-small.Q4_0.gguf");
  std::string err;
  const std::string log = TempDir() + "/profile.txt";
  ASSERT_EQ(RunCommand("{ " + Bench() + m + " -p 16 -n 4 -d 8 -r 2 --profile" + kQuick + " > /dev/null 2> " + log + "; }",
                       &err),
            0)
      << err;
  const std::string out = ReadFile(log);
  EXPECT_NE(out.find("profile of pp16 @ d8, 2 threads"), std::string::npos) << out;
  EXPECT_NE(out.find("profile of tg4 @ d8, 2 threads"), std::string::npos) << out;
  for (const char* stage : {"attention over cache", "experts", "router", "q/kv_a projection", "output head"})
    EXPECT_NE(out.find(stage), std::string::npos) << stage << "\n" << out;
  // The share outside the stages is small: the stages cover the forward pass.
  const size_t at = out.rfind("outside the stages");
  ASSERT_NE(at, std::string::npos) << out;
  double rest_ms = -1, rest_share = -1;
  ASSERT_EQ(std::sscanf(out.c_str() + at + 24, "%lf %lf", &rest_ms, &rest_share), 2) << out;
  EXPECT_GE(rest_ms, 0.0) << out;
  EXPECT_LT(rest_share, 50.0) << out;
}

TEST(MlaBenchTest, SweepFillsTheContext) {
  const auto j = RunJson("-m " + Fixture("models/ds3-small.Q4_0.gguf") + " --sweep -c 96 -ub 32 -o json");
  ASSERT_EQ(j.size(), 3u);  // depths 0, 32, 64
  for (size_t i = 0; i < j.size(); ++i) {
    EXPECT_EQ(j[i]["n_kv"], int64_t(32 * i));
    EXPECT_EQ(j[i]["pp"], 32);
    EXPECT_EQ(j[i]["tg"], 8);
    EXPECT_GT(j[i]["speed_pp"].get<double>(), 0);
    EXPECT_GT(j[i]["speed_tg"].get<double>(), 0);
  }
}

TEST(MlaBenchTest, SyntheticModelRuns) {
  const std::string file = TempDir() + "/synth.gguf";
  std::string log;
  ASSERT_EQ(RunCommand(Bench() + " --synthetic --write-only --shape v2-lite --type q8_0 --layers 1 --vocab 512 -m " + file, &log), 0) << log;
  const auto j = RunJson("-m " + file + " -p 4 -n 2 -r 1 -o json");
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["model_type"], "deepseek2 83M Q8_0");
  EXPECT_GT(j[1]["avg_ts"].get<double>(), 0);
}

TEST(MlaBenchTest, BadInputIsOneLine) {
  std::string out;
  EXPECT_NE(RunCommand(Bench() + " -m /nonexistent.gguf", &out), 0);
  EXPECT_NE(out.find("does not exist"), std::string::npos) << out;
  EXPECT_NE(RunCommand(Bench() + " -m " + Fixture("models/ds3-small.Q4_0.gguf") + " -p 1-x", &out), 0);
  EXPECT_NE(out.find("-p"), std::string::npos) << out;
  EXPECT_NE(RunCommand(Bench() + " -m " + Fixture("models/ds3-small.Q4_0.gguf") + " -o xml", &out), 0);
  EXPECT_NE(RunCommand(Bench() + " -m " + Fixture("models/ds3-small.Q4_0.gguf") + " -ctk q4_9", &out), 0);
  EXPECT_NE(RunCommand(Bench() + " -m " + Fixture("models/ds3-small.Q4_0.gguf") + " -pg 512", &out), 0);
  EXPECT_NE(out.find("PROMPT,GEN"), std::string::npos) << out;
}

}  // namespace
}  // namespace mla::test
