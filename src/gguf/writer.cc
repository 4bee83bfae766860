// Streaming GGUF writer (version 3). The header of a shard (metadata and tensor infos) is fully
// known once every tensor is declared, so it is written first and each tensor's bytes follow as
// they are produced, padded to the alignment. With max_shard_bytes the tensors are cut into
// shards named and keyed as llama.cpp's gguf-split does (split.no u16, split.count u16,
// split.tensors.count i32; all metadata in the first shard).
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "gguf/encode.h"
#include "gguf/gguf.h"

namespace mla::gguf {

namespace {

struct Decl {
  std::string name;
  DType type;
  int n_dims;
  int64_t ne[4];
  uint64_t nbytes;
  uint64_t offset = 0;  // within its shard's data section
  int shard = 0;
};

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

struct Writer::Impl {
  std::string path;
  WriterOptions options;
  std::vector<std::pair<std::string, Value>> kv;
  std::vector<Decl> tensors;
  std::unordered_set<std::string> names;
  std::vector<std::string> outputs;

  bool started = false;  // headers are fixed once the first shard is opened
  bool finished = false;
  Status sticky;         // first misuse (metadata changed after start) reported by later calls
  size_t next = 0;       // next tensor to write
  int shard = -1;        // shard currently open
  int shard_count = 1;
  FILE* out = nullptr;
  uint64_t written = 0;  // bytes written to the open shard
  uint64_t part_done = 0;  // bytes of tensors[next] already written by WriteTensorPart

  ~Impl() {
    if (out) std::fclose(out);
    if (!finished) {  // never leave a half-written model behind
      std::error_code ec;
      for (const auto& p : outputs) std::filesystem::remove(p, ec);
    }
  }

  Status Write(const void* data, size_t n) {
    if (n && std::fwrite(data, 1, n, out) != n)
      return Errorf("writing '%s': %s", outputs.back().c_str(), std::strerror(errno));
    written += n;
    return Status::Ok();
  }

  Status Pad() {
    static const uint8_t kZeros[256] = {};
    uint64_t pad = AlignUp(written, options.alignment) - written;
    while (pad) {
      const size_t n = pad < sizeof kZeros ? size_t(pad) : sizeof kZeros;
      MLA_RETURN_IF_ERROR(Write(kZeros, n));
      pad -= n;
    }
    return Status::Ok();
  }

  // Assigns tensors to shards and their offsets within each shard's data section.
  void Plan() {
    int s = 0;
    uint64_t used = 0;
    bool empty = true;
    for (auto& t : tensors) {
      const uint64_t padded = AlignUp(t.nbytes, options.alignment);
      if (options.max_shard_bytes && !empty && used + padded > options.max_shard_bytes) {
        ++s;
        used = 0;
      }
      t.shard = s;
      t.offset = used;
      used += padded;
      empty = false;
    }
    shard_count = s + 1;
  }

  std::string ShardPath(int s) const {
    if (!options.max_shard_bytes) return path;
    return SplitPath(path.substr(0, path.size() - 5), s + 1, shard_count);  // drop ".gguf"
  }

  std::vector<std::pair<std::string, Value>> ShardMetadata(int s) const {
    std::vector<std::pair<std::string, Value>> meta;
    auto set = [&meta](const std::string& key, Value v) {
      for (auto& [k, old] : meta)
        if (k == key) {
          old = std::move(v);
          return;
        }
      meta.emplace_back(key, std::move(v));
    };
    if (s == 0) meta = kv;
    // The alignment key always matches what the data really uses.
    bool has_alignment = false;
    for (const auto& [k, v] : meta) has_alignment |= k == "general.alignment";
    if (has_alignment || options.alignment != 32)
      set("general.alignment", Value::U32(uint32_t(options.alignment)));
    if (options.max_shard_bytes) {
      set("split.no", Value::U16(uint16_t(s)));
      set("split.count", Value::U16(uint16_t(shard_count)));
      set("split.tensors.count", Value::I32(int32_t(tensors.size())));
    }
    return meta;
  }

  Status OpenShard(int s) {
    if (out) {
      FILE* f = out;
      out = nullptr;
      if (std::fclose(f) != 0)
        return Errorf("closing '%s': %s", outputs.back().c_str(), std::strerror(errno));
    }
    shard = s;
    const std::string p = ShardPath(s);
    out = std::fopen(p.c_str(), "wb");
    if (!out) return Errorf("cannot create '%s': %s", p.c_str(), std::strerror(errno));
    outputs.push_back(p);
    written = 0;

    std::string header = "GGUF";
    AppendPod(&header, uint32_t(3));
    uint64_t n_tensors = 0;
    for (const auto& t : tensors) n_tensors += t.shard == s;
    const auto meta = ShardMetadata(s);
    AppendPod(&header, n_tensors);
    AppendPod(&header, uint64_t(meta.size()));
    for (const auto& [k, v] : meta) AppendKv(&header, k, v);
    for (const auto& t : tensors) {
      if (t.shard != s) continue;
      AppendString(&header, t.name);
      AppendPod(&header, uint32_t(t.n_dims));
      for (int d = 0; d < t.n_dims; ++d) AppendPod(&header, uint64_t(t.ne[d]));
      AppendPod(&header, uint32_t(t.type));
      AppendPod(&header, t.offset);
    }
    MLA_RETURN_IF_ERROR(Write(header.data(), header.size()));
    if (n_tensors) MLA_RETURN_IF_ERROR(Pad());
    return Status::Ok();
  }

  Status Start() {
    if (started) return Status::Ok();
    started = true;
    Plan();
    if (options.max_shard_bytes && shard_count > 65535)
      return Errorf("splitting into %d shards: expected at most 65535 (split.count is u16)",
                    shard_count);
    return OpenShard(0);
  }
};

Result<std::unique_ptr<Writer>> Writer::Create(const std::string& path, WriterOptions options) {
  if (options.alignment == 0 || (options.alignment & (options.alignment - 1)) != 0 ||
      options.alignment > (1u << 30))
    return Errorf("writer alignment: expected a power of two up to 2^30, found %" PRIu64,
                  options.alignment);
  if (options.max_shard_bytes &&
      (path.size() < 5 || path.compare(path.size() - 5, 5, ".gguf") != 0))
    return Errorf("split output '%s': expected a path ending in .gguf", path.c_str());
  std::unique_ptr<Writer> w(new Writer());
  w->impl_ = std::make_unique<Impl>();
  w->impl_->path = path;
  w->impl_->options = options;
  return w;
}

Writer::~Writer() = default;

void Writer::Set(const std::string& key, Value value) {
  Impl& m = *impl_;
  if (m.started) {
    if (m.sticky.ok()) m.sticky = Errorf("metadata '%s' set after tensor data was started", key.c_str());
    return;
  }
  for (auto& [k, v] : m.kv)
    if (k == key) {
      v = std::move(value);
      return;
    }
  m.kv.emplace_back(key, std::move(value));
}

void Writer::Remove(const std::string& key) {
  Impl& m = *impl_;
  if (m.started) {
    if (m.sticky.ok()) m.sticky = Errorf("metadata '%s' removed after tensor data was started", key.c_str());
    return;
  }
  for (size_t k = 0; k < m.kv.size(); ++k)
    if (m.kv[k].first == key) {
      m.kv.erase(m.kv.begin() + k);
      return;
    }
}

Status Writer::AddTensor(const std::string& name, DType type, int n_dims, const int64_t* ne) {
  Impl& m = *impl_;
  if (m.started) return Errorf("tensor '%s' declared after tensor data was started", name.c_str());
  if (name.empty()) return Status::Error("tensor name: expected a non-empty name");
  if (m.names.count(name)) return Errorf("duplicate tensor name '%s'", name.c_str());
  if (n_dims < 1 || n_dims > 4)
    return Errorf("tensor '%s': expected 1 to 4 dimensions, found %d", name.c_str(), n_dims);
  Decl d{name, type, n_dims, {1, 1, 1, 1}, 0};
  int64_t elements = 1;
  for (int k = 0; k < n_dims; ++k) {
    if (ne[k] < 1)
      return Errorf("tensor '%s': dimension %d is %" PRId64 ", expected >= 1", name.c_str(), k,
                    ne[k]);
    d.ne[k] = ne[k];
    if (__builtin_mul_overflow(elements, ne[k], &elements))
      return Errorf("tensor '%s': element count overflows 64 bits", name.c_str());
  }
  const DTypeInfo& info = Info(type);
  if (d.ne[0] % info.block_elems != 0)
    return Errorf("tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRId64,
                  name.c_str(), d.ne[0], info.name, info.block_elems);
  uint64_t row = 0;
  if (__builtin_mul_overflow(uint64_t(d.ne[0] / info.block_elems), uint64_t(info.block_bytes),
                             &row) ||
      __builtin_mul_overflow(row, uint64_t(d.ne[1] * d.ne[2] * d.ne[3]), &d.nbytes))
    return Errorf("tensor '%s': byte size overflows 64 bits", name.c_str());
  m.names.insert(name);
  m.tensors.push_back(std::move(d));
  return Status::Ok();
}

Status Writer::WriteTensor(const std::string& name, const void* data, size_t nbytes) {
  Impl& m = *impl_;
  MLA_RETURN_IF_ERROR(m.sticky);
  if (m.finished) return Errorf("tensor '%s' written after Finish", name.c_str());
  if (m.next >= m.tensors.size())
    return Errorf("tensor '%s' written but all %zu declared tensors are already written",
                  name.c_str(), m.tensors.size());
  const Decl& d = m.tensors[m.next];
  if (name != d.name)
    return Errorf("expected tensor '%s' (declaration order), found '%s'", d.name.c_str(),
                  name.c_str());
  if (m.part_done)
    return Errorf("tensor '%s': written whole after %" PRIu64 " bytes were written in parts",
                  name.c_str(), m.part_done);
  if (nbytes != d.nbytes)
    return Errorf("tensor '%s': expected %" PRIu64 " bytes, found %zu", name.c_str(), d.nbytes,
                  nbytes);
  MLA_RETURN_IF_ERROR(m.Start());
  if (d.shard != m.shard) MLA_RETURN_IF_ERROR(m.OpenShard(d.shard));
  MLA_RETURN_IF_ERROR(m.Write(data, nbytes));
  MLA_RETURN_IF_ERROR(m.Pad());
  ++m.next;
  return Status::Ok();
}

Status Writer::WriteTensorPart(const std::string& name, const void* data, size_t nbytes) {
  Impl& m = *impl_;
  MLA_RETURN_IF_ERROR(m.sticky);
  if (m.finished) return Errorf("tensor '%s' written after Finish", name.c_str());
  if (m.next >= m.tensors.size())
    return Errorf("tensor '%s' written but all %zu declared tensors are already written",
                  name.c_str(), m.tensors.size());
  const Decl& d = m.tensors[m.next];
  if (name != d.name)
    return Errorf("expected tensor '%s' (declaration order), found '%s'", d.name.c_str(),
                  name.c_str());
  if (nbytes > d.nbytes - m.part_done)
    return Errorf("tensor '%s': part of %zu bytes after %" PRIu64 " exceeds its %" PRIu64 " bytes",
                  name.c_str(), nbytes, m.part_done, d.nbytes);
  MLA_RETURN_IF_ERROR(m.Start());
  if (d.shard != m.shard) MLA_RETURN_IF_ERROR(m.OpenShard(d.shard));
  MLA_RETURN_IF_ERROR(m.Write(data, nbytes));
  m.part_done += nbytes;
  if (m.part_done == d.nbytes) {
    MLA_RETURN_IF_ERROR(m.Pad());
    m.part_done = 0;
    ++m.next;
  }
  return Status::Ok();
}

Status Writer::Finish() {
  Impl& m = *impl_;
  MLA_RETURN_IF_ERROR(m.sticky);
  if (m.finished) return Status::Ok();
  if (m.next < m.tensors.size())
    return Errorf("Finish: tensor '%s' was declared but not written (%zu of %zu written)",
                  m.tensors[m.next].name.c_str(), m.next, m.tensors.size());
  MLA_RETURN_IF_ERROR(m.Start());  // a file without tensors still needs its header
  FILE* f = m.out;
  m.out = nullptr;
  if (std::fclose(f) != 0)
    return Errorf("closing '%s': %s", m.outputs.back().c_str(), std::strerror(errno));
  m.finished = true;
  return Status::Ok();
}

const std::vector<std::string>& Writer::outputs() const { return impl_->outputs; }

}  // namespace mla::gguf
