// The mla-tokenize tool: llama-tokenize's flags and output format, detokenize, chat, errors.
#include <gtest/gtest.h>

#include <fstream>

#include "gguf/gguf.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace mla {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct ToolRun {
  int status;
  std::string out;
};

ToolRun Tool(const std::string& args) {
  ToolRun r;
  r.status = test::RunCommand(Quote(test::ToolPath("mla-tokenize")) + " " + args + " 2>&1", &r.out);
  return r;
}

std::string IdList(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]\n";
}

class MlaTokenize : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = test::Fixture("models/ds3-tiny.mla.gguf");
    auto f = gguf::File::Open(model_);
    ASSERT_TRUE(f.ok());
    auto t = Tokenizer::FromGguf(**f);
    ASSERT_TRUE(t.ok());
    tok_ = std::move(t).value();
  }
  std::string model_;
  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(MlaTokenize, IdsMatchTheLibrary) {
  const std::string text = "Hello world, 123 <｜User｜> 你好";
  ToolRun r = Tool("-m " + Quote(model_) + " -p " + Quote(text) + " --ids");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, IdList(*tok_->Encode(text, true, true)));
  r = Tool("-m " + Quote(model_) + " -p " + Quote(text) + " --ids --no-bos --no-parse-special");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, IdList(*tok_->Encode(text, false, false)));
}

TEST_F(MlaTokenize, PiecesAndCount) {
  ToolRun r = Tool("-m " + Quote(model_) + " -p 'Hi\\nthere' --show-count");
  ASSERT_EQ(r.status, 0) << r.out;
  auto ids = *tok_->Encode("Hi\nthere", true, true);  // escapes processed by default
  std::string expected;
  for (int32_t id : ids) {
    char head[32];
    std::snprintf(head, sizeof head, "%6d -> '", id);
    expected += head + tok_->TokenToPiece(id, true) + "'\n";
  }
  expected += "Total number of tokens: " + std::to_string(ids.size()) + "\n";
  EXPECT_EQ(r.out, expected);
  // --no-escape keeps the backslash.
  r = Tool("-m " + Quote(model_) + " -p 'a\\nb' --ids --no-escape --no-bos");
  EXPECT_EQ(r.out, IdList(*tok_->Encode("a\\nb", false, true)));
}

TEST_F(MlaTokenize, FileStdinAndDetokenize) {
  const std::string path = test::TempDir() + "/in.txt";
  const std::string text = "line one\nline two\n\t café 🚀";
  std::ofstream(path, std::ios::binary) << text;
  ToolRun r = Tool("-m " + Quote(model_) + " -f " + Quote(path) + " --ids --no-escape");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, IdList(*tok_->Encode(text, true, true)));
  r = Tool("-m " + Quote(model_) + " --stdin --ids --no-escape < " + Quote(path));
  EXPECT_EQ(r.out, IdList(*tok_->Encode(text, true, true)));
  // Round trip through --detokenize (special tokens rendered).
  std::string ids = IdList(*tok_->Encode(text, true, true));
  ids.pop_back();
  r = Tool("-m " + Quote(model_) + " --detokenize -p " + Quote(ids));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "<｜begin▁of▁sentence｜>" + text + "\n");
  r = Tool("-m " + Quote(model_) + " --detokenize --no-parse-special -p " + Quote(ids));
  EXPECT_EQ(r.out, text + "\n");
}

TEST_F(MlaTokenize, Chat) {
  const std::string path = test::TempDir() + "/chat.json";
  std::ofstream(path) << R"([{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hello"}])";
  ToolRun r = Tool("-m " + Quote(model_) + " --chat " + Quote(path) + " --render");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "<｜begin▁of▁sentence｜>Be brief<｜User｜>Hello<｜Assistant｜>\n");
  r = Tool("-m " + Quote(model_) + " --chat " + Quote(path) + " --chat-template deepseek2 --render");
  EXPECT_EQ(r.out, "<｜begin▁of▁sentence｜>Be brief\n\nUser: Hello\n\nAssistant:\n");
  r = Tool("-m " + Quote(model_) + " --chat " + Quote(path) + " --ids");
  EXPECT_EQ(r.out, IdList(*tok_->Encode("<｜begin▁of▁sentence｜>Be brief<｜User｜>Hello<｜Assistant｜>", false, true)));
}

TEST_F(MlaTokenize, ErrorsAreOneLineAndNonZero) {
  const std::string missing = test::TempDir() + "/missing.gguf";
  const std::string cases[] = {
      "-m " + Quote(missing) + " -p x",
      "-m " + Quote(model_),
      "-m " + Quote(model_) + " -p x -f y",
      "-m " + Quote(model_) + " --bogus",
      "-m " + Quote(model_) + " --detokenize -p '1, 99999'",
      "-m " + Quote(model_) + " --detokenize -p 'a b c'",
      "-m " + Quote(model_) + " --chat " + Quote(missing),
      "-m " + Quote(model_) + " --chat " + Quote(test::Fixture("models/ds3-tiny.prompt.txt")),
      "-m " + Quote(model_) + " --chat x.json --chat-template nope",
      "-m " + Quote(test::Fixture("models/ds3-tiny.prompt.txt")) + " -p x",
  };
  for (const std::string& args : cases) {
    ToolRun r = Tool(args);
    EXPECT_NE(r.status, 0) << args;
    EXPECT_EQ(r.out.rfind("mla-tokenize: ", 0), 0u) << args << " -> " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << " -> " << r.out;
  }
}

}  // namespace
}  // namespace mla
