// mla-quantize quality: each type quantized from ds3-small.F16.gguf and run by this engine (its
// default settings: f16 latent cache, as the peer's figures used llama.cpp's defaults) on the 512
// eval tokens must stay within 1.15 x the peer's mean KL + 1e-4 (fixtures README §8,
// ds3-small.peer-kl.tsv).
//
// On this small MoE model the mean KL of the good types is dominated by a handful of positions
// where the rounding of the weights moves a routing decision (one such position adds ~2.5e-4 to
// the mean), so a failure prints the mean without the 5 worst positions. Measured: Q5_K_M is the
// closest to its bar (1.204e-3 against 1.218e-3) because of one such position (KL 0.12); without
// the 20 worst positions it is 0.94 of the peer's own file run by this engine.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "convert/quantize.h"
#include "logits_testing.h"
#include "test_util.h"

namespace mla::test {
namespace {

std::map<std::string, double> PeerKl() {
  std::map<std::string, double> out;
  std::istringstream in(ReadFile(Fixture("models/ds3-small.peer-kl.tsv")));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string type, bytes, kl;
    std::getline(f, type, '\t');
    std::getline(f, bytes, '\t');
    std::getline(f, kl, '\t');
    out[type] = std::stod(kl);
  }
  return out;
}

class QuantizeKl : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantizeKl, WithinTheBarOfThePeer) {
  const std::string type = GetParam();
  if (kSanitized && type != "Q8_0" && type != "Q4_K_M" && type != "Q5_1")
    GTEST_SKIP() << "sanitizer build: the full KL sweep runs in the release suite";
  const double peer = PeerKl().at(type), bar = 1.15 * peer + 1e-4;
  const std::string out = TempDir() + "/" + type + ".gguf";
  convert::QuantizeOptions o;
  o.input_path = Fixture("models/ds3-small.F16.gguf");
  o.output_path = out;
  o.type = type;
  o.threads = 2;
  o.progress = false;
  auto r = convert::QuantizeGguf(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::string tokens = "models/ds3-small.eval-tokens.txt", ref = "models/ds3-small.ref.npy";
  std::vector<float> ours;
  const KlStats s = KlAgainstReference(out, tokens, ref, &ours, DType::F16);
  std::printf("%-7s mean KL %.3e  top-1 %.4f  peer %.3e  ratio %.3f  bar %.3e\n", type.c_str(), s.mean_kl, s.top1,
              peer, s.mean_kl / peer, bar);
  if (s.mean_kl <= bar) return;
  std::vector<int64_t> shape;
  const std::vector<float> refl = ReadNpyF32(Fixture(ref), &shape);
  const double trimmed = TrimmedMean(PerPositionKl(refl.data(), ours.data(), shape[0], shape[1]), 5);
  ADD_FAILURE() << type << ": mean KL " << s.mean_kl << " exceeds 1.15 x peer + 1e-4 = " << bar
                << " (without the 5 worst of the " << shape[0] << " positions: " << trimmed << ")";
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizeKl,
                         ::testing::Values("F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q5_1", "Q4_K_M", "Q4_0",
                                           "Q4_1", "Q3_K_M", "Q2_K", "IQ4_NL", "IQ4_XS"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace mla::test
