#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mla::test {

static std::string Env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string("environment variable ") + name +
                                          " is not set (run the tests through ctest)");
  return v;
}

std::string Fixture(const std::string& relative) { return Env("MLA_FIXTURES") + "/" + relative; }
std::string SourcePath(const std::string& relative) {
  return Env("MLA_SOURCE_DIR") + "/" + relative;
}
std::string ToolPath(const std::string& name) { return Env("MLA_BIN_DIR") + "/" + name; }

namespace {
struct TempDirs {
  std::vector<std::string> dirs;
  ~TempDirs() {
    std::error_code ec;
    for (auto& d : dirs) std::filesystem::remove_all(d, ec);
  }
};
TempDirs g_temp_dirs;
}  // namespace

std::string TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mla-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  g_temp_dirs.dirs.push_back(tmpl);
  return tmpl;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<float> ReadNpyF32(const std::string& path, std::vector<int64_t>* shape) {
  const std::string bytes = ReadFile(path);
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw std::runtime_error(path + ": not a .npy file");
  const int major = uint8_t(bytes[6]);
  size_t header_len, pos;
  if (major == 1) {
    header_len = uint8_t(bytes[8]) | uint8_t(bytes[9]) << 8;
    pos = 10;
  } else {
    header_len = uint32_t(uint8_t(bytes[8])) | uint32_t(uint8_t(bytes[9])) << 8 |
                 uint32_t(uint8_t(bytes[10])) << 16 | uint32_t(uint8_t(bytes[11])) << 24;
    pos = 12;
  }
  const std::string header = bytes.substr(pos, header_len);
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") ==
                                                       std::string::npos)
    throw std::runtime_error(path + ": expected little-endian float32 C-order, header " + header);
  shape->clear();
  const size_t open = header.find('(', header.find("'shape'"));
  const size_t close = header.find(')', open);
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  std::string item;
  int64_t count = 1;
  while (std::getline(dims, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    shape->push_back(std::stoll(item));
    count *= shape->back();
  }
  const size_t data_at = pos + header_len;
  if (bytes.size() - data_at != size_t(count) * 4) throw std::runtime_error(path + ": size");
  std::vector<float> out(count);
  std::memcpy(out.data(), bytes.data() + data_at, count * 4);
  return out;
}

std::vector<int32_t> ReadTokens(const std::string& path) {
  std::string text = ReadFile(path);
  for (char& c : text)
    if (c == ',') c = ' ';
  std::stringstream ss(text);
  std::vector<int32_t> ids;
  long v;
  while (ss >> v) ids.push_back(int32_t(v));
  return ids;
}

KlStats CompareLogits(const float* ref, const float* test, int64_t n_pos, int64_t n_vocab) {
  KlStats st;
  int64_t agree = 0;
  for (int64_t p = 0; p < n_pos; ++p) {
    const float* r = ref + p * n_vocab;
    const float* t = test + p * n_vocab;
    double rmax = -INFINITY, tmax = -INFINITY;
    int64_t ra = 0, ta = 0;
    for (int64_t v = 0; v < n_vocab; ++v) {
      if (r[v] > rmax) rmax = r[v], ra = v;
      if (t[v] > tmax) tmax = t[v], ta = v;
    }
    double rs = 0, ts = 0;
    for (int64_t v = 0; v < n_vocab; ++v) rs += std::exp(r[v] - rmax), ts += std::exp(t[v] - tmax);
    const double rl = std::log(rs), tl = std::log(ts);
    double kl = 0;
    for (int64_t v = 0; v < n_vocab; ++v) {
      const double lr = r[v] - rmax - rl, lt = t[v] - tmax - tl;
      kl += std::exp(lr) * (lr - lt);
    }
    st.mean_kl += kl;
    st.max_kl = std::max(st.max_kl, kl);
    agree += ra == ta;
  }
  st.mean_kl /= double(n_pos);
  st.top1 = double(agree) / double(n_pos);
  return st;
}

int RunCommand(const std::string& command, std::string* output) {
  output->clear();
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace mla::test
