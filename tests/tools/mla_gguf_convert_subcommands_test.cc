// mla-gguf's subcommands that call the convert layer: `upgrade` (legacy -> MLA layout without the
// checkpoint) and `synth` (random-weight models of real shapes), run as a user would.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mla {
namespace {

nlohmann::json InfoJson(const std::string& path) {
  std::string out;
  EXPECT_EQ(test::RunCommand(test::ToolPath("mla-gguf") + " info --json " + path + " 2>/dev/null",
                             &out),
            0);
  return nlohmann::json::parse(out);
}

TEST(MlaGgufUpgrade, LegacyFileBecomesMlaLayoutWithTheSameLogits) {
  const std::string dir = test::TempDir();
  const std::string out_path = dir + "/up.gguf";
  std::string out;
  ASSERT_EQ(test::RunCommand(test::ToolPath("mla-gguf") + " upgrade --no-progress " +
                                 test::Fixture("models/ds3-tiny.legacy.gguf") + " " + out_path,
                             &out),
            0)
      << out;
  EXPECT_EQ(InfoJson(out_path)["layout"], "mla");
  // The upgraded file evaluates the fixture tokens like the reference.
  const std::string npy = dir + "/logits.npy";
  std::string tokens = test::ReadFile(test::Fixture("models/ds3-tiny.tokens.txt"));
  while (!tokens.empty() && (tokens.back() == '\n' || tokens.back() == ' ')) tokens.pop_back();
  ASSERT_EQ(test::RunCommand(test::ToolPath("mla-cli") + " -m " + out_path + " --tokens " + tokens +
                                 " --cache-type f32 --logits-out " + npy,
                             &out),
            0)
      << out;
  std::vector<int64_t> shape, ref_shape;
  const auto logits = test::ReadNpyF32(npy, &shape);
  const auto ref = test::ReadNpyF32(test::Fixture("models/ds3-tiny.ref.npy"), &ref_shape);
  ASSERT_EQ(shape, ref_shape);
  const auto st = test::CompareLogits(ref.data(), logits.data(), shape[0], shape[1]);
  EXPECT_LT(st.mean_kl, 1e-4);
  EXPECT_EQ(st.top1, 1.0);
}

TEST(MlaGgufSynth, WritesALoadableRealShapeModel) {
  const std::string path = test::TempDir() + "/syn.gguf";
  std::string out;
  ASSERT_EQ(test::RunCommand(test::ToolPath("mla-gguf") +
                                 " synth --no-progress --shape v2-lite --type q4_0 --layers 2 "
                                 "--vocab 512 -o " + path,
                             &out),
            0)
      << out;
  const nlohmann::json info = InfoJson(path);
  EXPECT_EQ(info["layout"], "mla");
  ASSERT_EQ(test::RunCommand(test::ToolPath("mla-cli") + " -m " + path + " --tokens 1,2,3 -n 0",
                             &out),
            0)
      << out;
}

TEST(MlaGgufSubcommands, BadInputIsOneErrorLine) {
  std::string out;
  EXPECT_NE(test::RunCommand(test::ToolPath("mla-gguf") + " upgrade /nonexistent.gguf /tmp/x.gguf",
                             &out),
            0);
  EXPECT_NE(out.find("mla-gguf:"), std::string::npos) << out;
  EXPECT_NE(test::RunCommand(test::ToolPath("mla-gguf") + " synth --shape v9 -o /tmp/x.gguf", &out),
            0);
  EXPECT_NE(out.find("mla-gguf:"), std::string::npos) << out;
}

}  // namespace
}  // namespace mla
