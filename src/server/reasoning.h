// R1-style reasoning: text inside <think>…</think> is reasoning_content, the rest content. Works
// on streamed text: a tag split over two pieces is held back until it is complete.
#pragma once

#include <string>
#include <string_view>

namespace mla::server {

class ThinkSplitter {
 public:
  // in_think: the prompt already opened <think> (the R1 templates end with "<think>\n").
  explicit ThinkSplitter(bool in_think = false) : in_think_(in_think) {}
  // Appends a piece; returns what became definite in *reasoning and *content.
  void Push(std::string_view text, std::string* reasoning, std::string* content);
  // Everything still held.
  void Flush(std::string* reasoning, std::string* content);

 private:
  bool in_think_;
  bool seen_text_ = false;  // <think> only opens reasoning at the start of the answer
  std::string held_;
};

}  // namespace mla::server
