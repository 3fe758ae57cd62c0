#include "bundle/zip_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <span>
#include <stdexcept>
#include <thread>

#include "bundle/bundle_name.hpp"
#include "common/sha256.hpp"

namespace baton::bundle {

namespace {

constexpr std::size_t kChunkBytes = 1 << 20;
constexpr std::size_t kDictionaryBytes = std::size_t{32} << 10;
constexpr std::size_t kTrialBytes = std::size_t{64} << 10;
constexpr double kStoreRatio = 0.97;
// Entries this large get Zip64 sizes up front: a deflated size can exceed the original slightly,
// and the local header must announce Zip64 before the sizes are known.
constexpr std::uint64_t kZip64EntryBytes = 0xF0000000;
constexpr std::uint32_t kMax32 = 0xffffffff;
constexpr std::uint16_t kVersionMadeBy = (3 << 8) | 45;  // Unix, spec 4.5
constexpr std::uint16_t kDosTime = 0;
constexpr std::uint16_t kDosDate = (1 << 5) | 1;  // 1980-01-01
constexpr std::uint16_t kFlagDataDescriptor = 1 << 3;
constexpr std::uint16_t kFlagUtf8 = 1 << 11;
constexpr std::size_t kOutputBufferBytes = 1 << 20;

Error file_error(const stdfs::path& file, Errc code, const std::string& what) {
  return make_error(code, file.string() + ": " + what);
}

Error os_error(const stdfs::path& file, std::string_view what, int err) {
  return make_error(Errc::io, file.string() + ": " + std::string(what) + ": " + std::strerror(err));
}

// Little-endian header bytes.
class Bytes {
 public:
  Bytes& u16(std::uint64_t value) { return put(value, 2); }
  Bytes& u32(std::uint64_t value) { return put(value, 4); }
  Bytes& u64(std::uint64_t value) { return put(value, 8); }
  Bytes& text(std::string_view value) {
    data_.insert(data_.end(), value.begin(), value.end());
    return *this;
  }
  Bytes& bytes(const Bytes& other) {
    data_.insert(data_.end(), other.data_.begin(), other.data_.end());
    return *this;
  }
  std::size_t size() const { return data_.size(); }
  const unsigned char* data() const { return data_.data(); }

 private:
  Bytes& put(std::uint64_t value, int width) {
    for (int i = 0; i < width; ++i)
      data_.push_back(static_cast<unsigned char>(value >> (8 * i)));
    return *this;
  }
  std::vector<unsigned char> data_;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads exactly `size` bytes at `offset`; fewer means the file shrank meanwhile.
Status read_exactly(const stdfs::path& file, int fd, std::uint64_t offset, unsigned char* out,
                    std::size_t size) {
  while (size > 0) {
    ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error(file, "read failed", errno);
    if (n == 0) return file_error(file, Errc::conflict, "changed while bundling (shrank)");
    out += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

class Deflater {
 public:
  explicit Deflater(int level) {
    if (deflateInit2(&stream_, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::runtime_error("zlib: deflateInit2 failed");
    }
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  ~Deflater() { deflateEnd(&stream_); }

  // Raw deflate of `input` primed with `dictionary`; Z_FINISH ends the stream, Z_SYNC_FLUSH
  // leaves it open and byte-aligned so the next chunk's output can follow it.
  std::vector<unsigned char> run(std::span<const unsigned char> dictionary,
                                 std::span<const unsigned char> input, int flush) {
    deflateReset(&stream_);
    if (!dictionary.empty()) {
      deflateSetDictionary(&stream_, dictionary.data(), static_cast<uInt>(dictionary.size()));
    }
    std::vector<unsigned char> out(deflateBound(&stream_, static_cast<uLong>(input.size())) + 64);
    stream_.next_in = const_cast<unsigned char*>(input.data());
    stream_.avail_in = static_cast<uInt>(input.size());
    std::size_t produced = 0;
    for (;;) {
      stream_.next_out = out.data() + produced;
      stream_.avail_out = static_cast<uInt>(out.size() - produced);
      int rc = deflate(&stream_, flush);
      produced = out.size() - stream_.avail_out;
      if (rc == Z_STREAM_ERROR) throw std::runtime_error("zlib: deflate failed");
      bool done =
          flush == Z_FINISH ? rc == Z_STREAM_END : stream_.avail_in == 0 && stream_.avail_out != 0;
      if (done) break;
      if (stream_.avail_out == 0) out.resize(out.size() * 2);
    }
    out.resize(produced);
    return out;
  }

 private:
  z_stream stream_{};
};

struct Planned {
  ZipEntry entry;
  std::uint64_t size = 0;  // file bytes; symlink target bytes
  std::size_t first_job = 0;
  std::size_t job_count = 0;
};

struct Job {
  std::size_t entry = 0;
  std::uint64_t offset = 0;
  std::size_t length = 0;
  bool last = false;
};

struct ChunkResult {
  std::vector<unsigned char> data;  // deflated, or the raw bytes when stored
  std::uint32_t crc = 0;
  bool stored = false;
  std::optional<Error> error;
};

enum Decision : int { kUndecided = 0, kStore = 1, kDeflate = 2 };

bool deflates_well(std::size_t original, std::size_t deflated) {
  return original > 0 &&
         static_cast<double>(deflated) <= kStoreRatio * static_cast<double>(original);
}

class Compressor {
 public:
  Compressor(const std::vector<Planned>& planned, int level,
             std::vector<std::atomic<int>>& decisions)
      : planned_(planned), deflater_(level), decisions_(decisions) {}

  ChunkResult process(const Job& job) {
    ChunkResult result;
    if (auto done = run(job, result); !done) result.error = std::move(done).error();
    return result;
  }

 private:
  Status run(const Job& job, ChunkResult& result) {
    const Planned& planned = planned_[job.entry];
    const ZipEntry& entry = planned.entry;
    std::size_t dictionary =
        static_cast<std::size_t>(std::min<std::uint64_t>(job.offset, kDictionaryBytes));
    std::span<const unsigned char> data;
    std::span<const unsigned char> primer;
    std::optional<Fd> fd;
    if (entry.content) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(entry.content->data());
      primer = {bytes + job.offset - dictionary, dictionary};
      data = {bytes + job.offset, job.length};
    } else {
      fd.emplace(::open(entry.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (fd->get() < 0) return os_error(entry.source, "cannot open", errno);
      buffer_.resize(dictionary + job.length);
      BATON_TRY(read_exactly(entry.source, fd->get(), job.offset - dictionary, buffer_.data(),
                             buffer_.size()));
      if (job.last) {
        unsigned char extra = 0;
        ssize_t n = ::pread(fd->get(), &extra, 1, static_cast<off_t>(job.offset + job.length));
        if (n != 0)
          return file_error(entry.source, Errc::conflict, "changed while bundling (grew)");
      }
      primer = {buffer_.data(), dictionary};
      data = {buffer_.data() + dictionary, job.length};
    }
    result.crc = static_cast<std::uint32_t>(crc32(0, data.data(), static_cast<uInt>(data.size())));

    if (planned.job_count == 1) {
      // The trial is the whole compression when the file is at most 64 KiB.
      std::size_t trial = std::min(data.size(), kTrialBytes);
      std::vector<unsigned char> out = deflater_.run({}, data.first(trial), Z_FINISH);
      bool deflate = deflates_well(trial, out.size());
      if (deflate && trial < data.size()) {
        out = deflater_.run({}, data, Z_FINISH);
        deflate = deflates_well(data.size(), out.size());
      }
      if (deflate) {
        result.data = std::move(out);
      } else {
        result.stored = true;
        result.data.assign(data.begin(), data.end());
      }
      return {};
    }

    // Several chunks: every chunk must agree on the method, decided by the file's first 64 KiB.
    // Whoever needs it first computes it; the outcome is the same whoever does.
    int decision = decisions_[job.entry].load(std::memory_order_acquire);
    if (decision == kUndecided) {
      std::vector<unsigned char> head;
      std::span<const unsigned char> first;
      if (job.offset == 0) {
        first = data.first(std::min(data.size(), kTrialBytes));
      } else if (entry.content) {
        first = {reinterpret_cast<const unsigned char*>(entry.content->data()), kTrialBytes};
      } else {
        head.resize(kTrialBytes);
        BATON_TRY(read_exactly(entry.source, fd->get(), 0, head.data(), head.size()));
        first = head;
      }
      decision = deflates_well(first.size(), deflater_.run({}, first, Z_FINISH).size()) ? kDeflate
                                                                                        : kStore;
      decisions_[job.entry].store(decision, std::memory_order_release);
    }
    if (decision == kStore) {
      result.stored = true;
      result.data.assign(data.begin(), data.end());
    } else {
      result.data = deflater_.run(primer, data, job.last ? Z_FINISH : Z_SYNC_FLUSH);
    }
    return {};
  }

  const std::vector<Planned>& planned_;
  Deflater deflater_;
  std::vector<std::atomic<int>>& decisions_;
  std::vector<unsigned char> buffer_;
};

// Workers compress jobs in order within a window ahead of the writer, which bounds memory.
class Pipeline {
 public:
  Pipeline(const std::vector<Planned>& planned, const std::vector<Job>& jobs, int level,
           unsigned threads)
      : planned_(planned),
        jobs_(jobs),
        decisions_(planned.size()),
        results_(jobs.size()),
        ready_(jobs.size(), 0),
        window_(4 * static_cast<std::size_t>(threads) + 4) {
    threads = static_cast<unsigned>(std::min<std::size_t>(threads, jobs.size()));
    for (unsigned i = 0; i < threads; ++i) {
      workers_.emplace_back([this, level] { work(level); });
    }
  }
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;
  ~Pipeline() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    work_ready_.notify_all();
    for (std::thread& worker : workers_)
      worker.join();
  }

  // The result of job `index`, waiting for it; jobs must be taken in order.
  ChunkResult take(std::size_t index) {
    ChunkResult result;
    {
      std::unique_lock lock(mutex_);
      result_ready_.wait(lock, [&] { return ready_[index] != 0; });
      result = std::move(results_[index]);
      taken_ = index + 1;
    }
    work_ready_.notify_all();
    return result;
  }

 private:
  void work(int level) {
    Compressor compressor(planned_, level, decisions_);
    for (;;) {
      std::size_t index = 0;
      {
        std::unique_lock lock(mutex_);
        work_ready_.wait(
            lock, [&] { return stop_ || next_ >= jobs_.size() || next_ < taken_ + window_; });
        if (stop_ || next_ >= jobs_.size()) return;
        index = next_++;
      }
      ChunkResult result = compressor.process(jobs_[index]);
      {
        std::lock_guard lock(mutex_);
        results_[index] = std::move(result);
        ready_[index] = 1;
      }
      result_ready_.notify_all();
    }
  }

  const std::vector<Planned>& planned_;
  const std::vector<Job>& jobs_;
  std::vector<std::atomic<int>> decisions_;
  std::vector<ChunkResult> results_;
  std::vector<char> ready_;
  std::size_t window_;
  std::size_t next_ = 0;
  std::size_t taken_ = 0;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable result_ready_;
  std::vector<std::thread> workers_;
};

// Buffered output that hashes exactly what it writes.
class Output {
 public:
  Output(int fd, stdfs::path path) : fd_(fd), path_(std::move(path)) {
    buffer_.reserve(kOutputBufferBytes);
  }

  void put(const unsigned char* data, std::size_t size) {
    position_ += size;
    if (buffer_.size() + size > kOutputBufferBytes) flush();
    if (size >= kOutputBufferBytes) {
      write_through(data, size);
    } else {
      buffer_.insert(buffer_.end(), data, data + size);
    }
  }
  void put(const Bytes& bytes) { put(bytes.data(), bytes.size()); }
  void put(std::string_view text) {
    put(reinterpret_cast<const unsigned char*>(text.data()), text.size());
  }

  void flush() {
    write_through(buffer_.data(), buffer_.size());
    buffer_.clear();
  }

  std::uint64_t position() const { return position_; }
  const Status& status() const { return status_; }
  std::string finish_hex() { return hash_.finish_hex(); }

 private:
  void write_through(const unsigned char* data, std::size_t size) {
    if (!status_ || size == 0) return;
    hash_.update(std::span(reinterpret_cast<const std::byte*>(data), size));
    while (size > 0) {
      ssize_t n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status_ = os_error(path_, "write failed", errno);
        return;
      }
      data += n;
      size -= static_cast<std::size_t>(n);
    }
  }

  int fd_;
  stdfs::path path_;
  std::vector<unsigned char> buffer_;
  std::uint64_t position_ = 0;
  Sha256 hash_;
  Status status_;
};

struct CentralRecord {
  std::uint16_t needed = 20;
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed = 0;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;
  std::uint32_t external = 0;
  bool zip64_sizes = false;
};

std::string zip_name(const Planned& planned) {
  return planned.entry.type == EntryType::folder ? planned.entry.path + "/" : planned.entry.path;
}

std::uint32_t external_attributes(const ZipEntry& entry) {
  std::uint32_t type = entry.type == EntryType::folder    ? S_IFDIR
                       : entry.type == EntryType::symlink ? S_IFLNK
                                                          : S_IFREG;
  std::uint32_t mode = entry.type == EntryType::symlink ? 0777 : (entry.mode & 0777);
  return ((type | mode) << 16) | (entry.type == EntryType::folder ? 0x10 : 0);
}

std::uint16_t name_flags(std::string_view name) {
  for (char c : name) {
    if (static_cast<unsigned char>(c) >= 0x80) return kFlagUtf8;
  }
  return 0;
}

// Sorted, checked entries with the missing parent folders added.
Result<std::vector<Planned>> plan(std::vector<ZipEntry> entries) {
  std::map<std::string, ZipEntry> by_path;
  for (ZipEntry& entry : entries) {
    BATON_TRY(check_entry_path(entry.path));
    if (entry.type == EntryType::symlink) BATON_TRY(check_symlink_target(entry.path, entry.target));
    std::string path = entry.path;
    if (!by_path.emplace(path, std::move(entry)).second) {
      return make_error(Errc::invalid, path + ": duplicate entry");
    }
  }
  std::vector<std::string> missing;
  for (const auto& [path, entry] : by_path) {
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string parent = path.substr(0, slash);
      auto found = by_path.find(parent);
      if (found == by_path.end()) {
        missing.push_back(parent);
      } else if (found->second.type != EntryType::folder) {
        std::string message = path;
        message += ": lies under ";
        message += parent;
        message += ", which is a ";
        message += to_string(found->second.type);
        return make_error(Errc::invalid, std::move(message));
      }
    }
  }
  for (std::string& parent : missing) {
    by_path.try_emplace(parent, ZipEntry{.path = parent, .type = EntryType::folder, .mode = 0755});
  }
  std::vector<Planned> planned;
  planned.reserve(by_path.size());
  for (auto& [path, entry] : by_path)
    planned.push_back(Planned{.entry = std::move(entry)});
  std::sort(planned.begin(), planned.end(),
            [](const Planned& a, const Planned& b) { return zip_name(a) < zip_name(b); });
  return planned;
}

}  // namespace

Result<std::vector<ZipEntry>> collect_folder(const stdfs::path& folder, std::string_view prefix) {
  std::error_code error;
  stdfs::file_status status = stdfs::status(folder, error);
  if (!stdfs::exists(status))
    return make_error(Errc::not_found, folder.string() + ": no such folder");
  if (!stdfs::is_directory(status)) {
    return make_error(Errc::invalid, folder.string() + ": not a folder");
  }
  std::vector<ZipEntry> entries;
  auto join = [&](const std::string& relative) {
    return prefix.empty() ? relative : std::string(prefix) + "/" + relative;
  };
  if (!prefix.empty()) {
    entries.push_back(ZipEntry{.path = std::string(prefix),
                               .type = EntryType::folder,
                               .mode = static_cast<std::uint32_t>(status.permissions()) & 0777});
  }
  stdfs::recursive_directory_iterator it(folder, error);
  for (; !error && it != stdfs::recursive_directory_iterator(); it.increment(error)) {
    const stdfs::path& path = it->path();
    stdfs::file_status entry_status = it->symlink_status(error);
    if (error) break;
    std::string relative = path.lexically_relative(folder).generic_string();
    auto mode = static_cast<std::uint32_t>(entry_status.permissions()) & 0777;
    if (stdfs::is_directory(entry_status)) {
      entries.push_back(ZipEntry{.path = join(relative), .type = EntryType::folder, .mode = mode});
    } else if (stdfs::is_regular_file(entry_status)) {
      entries.push_back(
          ZipEntry{.path = join(relative), .type = EntryType::file, .mode = mode, .source = path});
    } else if (stdfs::is_symlink(entry_status)) {
      stdfs::path target = stdfs::read_symlink(path, error);
      if (error) break;
      if (auto checked = check_symlink_target(relative, target.string()); !checked) {
        return std::move(checked).error().within(folder.string());
      }
      entries.push_back(
          ZipEntry{.path = join(relative), .type = EntryType::symlink, .target = target.string()});
    } else {
      return make_error(Errc::invalid, path.string() + ": not a file, folder or symlink");
    }
  }
  if (error) {
    stdfs::path where = it != stdfs::recursive_directory_iterator() ? it->path() : folder;
    return make_error(Errc::io, where.string() + ": " + error.message());
  }
  return entries;
}

Result<WrittenZip> write_zip(std::vector<ZipEntry> entries, const stdfs::path& output_folder,
                             std::string_view stem, const ZipOptions& options) {
  BATON_ASSIGN_OR_RETURN(std::vector<Planned> planned, plan(std::move(entries)));

  // Sizes first (a file that changes size later is refused by its reader), then the jobs.
  std::vector<Job> jobs;
  for (std::size_t i = 0; i < planned.size(); ++i) {
    Planned& p = planned[i];
    if (p.entry.type == EntryType::symlink) p.size = p.entry.target.size();
    if (p.entry.type != EntryType::file) continue;
    if (p.entry.content) {
      p.size = p.entry.content->size();
    } else {
      struct stat info {};
      if (::lstat(p.entry.source.c_str(), &info) != 0) {
        return os_error(p.entry.source, "cannot stat", errno);
      }
      if (!S_ISREG(info.st_mode)) {
        return file_error(p.entry.source, Errc::invalid, "not a regular file");
      }
      p.size = static_cast<std::uint64_t>(info.st_size);
    }
    p.first_job = jobs.size();
    std::uint64_t offset = 0;
    do {
      std::size_t length =
          static_cast<std::size_t>(std::min<std::uint64_t>(p.size - offset, kChunkBytes));
      jobs.push_back(
          Job{.entry = i, .offset = offset, .length = length, .last = offset + length == p.size});
      offset += length;
    } while (offset < p.size);
    p.job_count = jobs.size() - p.first_job;
  }

  std::string pattern = (output_folder / ("." + std::string(stem) + ".zip.tmp-XXXXXX")).string();
  int raw_fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (raw_fd < 0) {
    return errno == ENOENT ? file_error(output_folder, Errc::not_found, "no such folder")
                           : os_error(output_folder, "cannot create a file", errno);
  }
  Fd fd(raw_fd);
  stdfs::path temp(pattern);
  struct Unlink {
    const stdfs::path& path;
    bool armed = true;
    ~Unlink() {
      if (armed) ::unlink(path.c_str());
    }
  } unlink_temp{temp};
  ::fchmod(fd.get(), 0644);

  unsigned threads = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  Output out(fd.get(), temp);
  std::vector<CentralRecord> records(planned.size());
  {
    Pipeline pipeline(planned, jobs, options.level, std::max(threads, 1u));
    for (std::size_t i = 0; i < planned.size() && out.status(); ++i) {
      const Planned& p = planned[i];
      CentralRecord& record = records[i];
      std::string name = zip_name(p);
      record.offset = out.position();
      record.external = external_attributes(p.entry);
      record.flags = name_flags(name);
      record.size = p.size;
      auto local_header = [&](const Bytes& extra) {
        // With a data descriptor, CRC and sizes follow the data (APPNOTE 4.4.4).
        bool described_later = (record.flags & kFlagDataDescriptor) != 0;
        out.put(Bytes()
                    .u32(0x04034b50)
                    .u16(record.needed)
                    .u16(record.flags)
                    .u16(record.method)
                    .u16(kDosTime)
                    .u16(kDosDate)
                    .u32(described_later ? 0 : record.crc)
                    .u32(record.zip64_sizes ? kMax32
                         : described_later  ? 0
                                            : record.compressed)
                    .u32(record.zip64_sizes ? kMax32
                         : described_later  ? 0
                                            : record.size)
                    .u16(name.size())
                    .u16(extra.size())
                    .text(name)
                    .bytes(extra));
      };
      if (p.entry.type == EntryType::folder) {
        local_header({});
        continue;
      }
      if (p.entry.type == EntryType::symlink) {
        record.needed = 10;
        record.crc = static_cast<std::uint32_t>(
            crc32(0, reinterpret_cast<const Bytef*>(p.entry.target.data()),
                  static_cast<uInt>(p.entry.target.size())));
        record.compressed = p.size;
        local_header({});
        out.put(p.entry.target);
        continue;
      }
      ChunkResult first = pipeline.take(p.first_job);
      if (first.error) return std::move(*first.error);
      record.method = first.stored ? 0 : 8;
      record.needed = first.stored ? 10 : 20;
      if (p.job_count == 1) {
        record.crc = first.crc;
        record.compressed = first.data.size();
        local_header({});
        out.put(first.data.data(), first.data.size());
        continue;
      }
      record.flags |= kFlagDataDescriptor;
      record.zip64_sizes = p.size >= kZip64EntryBytes;
      Bytes extra;
      if (record.zip64_sizes) {
        record.needed = 45;
        extra.u16(0x0001).u16(16).u64(0).u64(0);
      }
      local_header(extra);
      record.crc = first.crc;
      record.compressed = first.data.size();
      out.put(first.data.data(), first.data.size());
      for (std::size_t j = 1; j < p.job_count && out.status(); ++j) {
        ChunkResult chunk = pipeline.take(p.first_job + j);
        if (chunk.error) return std::move(*chunk.error);
        record.crc = static_cast<std::uint32_t>(crc32_combine(
            record.crc, chunk.crc, static_cast<z_off_t>(jobs[p.first_job + j].length)));
        record.compressed += chunk.data.size();
        out.put(chunk.data.data(), chunk.data.size());
      }
      Bytes descriptor;
      descriptor.u32(0x08074b50).u32(record.crc);
      if (record.zip64_sizes) {
        descriptor.u64(record.compressed).u64(record.size);
      } else {
        descriptor.u32(record.compressed).u32(record.size);
      }
      out.put(descriptor);
    }
  }
  BATON_TRY(out.status());

  std::uint64_t directory_offset = out.position();
  for (std::size_t i = 0; i < planned.size(); ++i) {
    const CentralRecord& record = records[i];
    std::string name = zip_name(planned[i]);
    Bytes extra;
    bool big_offset = record.offset >= kMax32;
    if (record.zip64_sizes || big_offset) {
      std::uint16_t length = (record.zip64_sizes ? 16 : 0) + (big_offset ? 8 : 0);
      extra.u16(0x0001).u16(length);
      if (record.zip64_sizes) extra.u64(record.size).u64(record.compressed);
      if (big_offset) extra.u64(record.offset);
    }
    out.put(Bytes()
                .u32(0x02014b50)
                .u16(kVersionMadeBy)
                .u16(extra.size() > 0 ? 45 : record.needed)
                .u16(record.flags)
                .u16(record.method)
                .u16(kDosTime)
                .u16(kDosDate)
                .u32(record.crc)
                .u32(record.zip64_sizes ? kMax32 : record.compressed)
                .u32(record.zip64_sizes ? kMax32 : record.size)
                .u16(name.size())
                .u16(extra.size())
                .u16(0)  // comment
                .u16(0)  // disk
                .u16(0)  // internal attributes
                .u32(record.external)
                .u32(big_offset ? kMax32 : record.offset)
                .text(name)
                .bytes(extra));
  }
  std::uint64_t directory_end = out.position();
  std::uint64_t directory_size = directory_end - directory_offset;
  std::uint64_t count = planned.size();
  bool zip64 = count >= 0xffff || directory_size >= kMax32 || directory_offset >= kMax32;
  if (zip64) {
    out.put(Bytes()
                .u32(0x06064b50)
                .u64(44)
                .u16(kVersionMadeBy)
                .u16(45)
                .u32(0)
                .u32(0)
                .u64(count)
                .u64(count)
                .u64(directory_size)
                .u64(directory_offset));
    out.put(Bytes().u32(0x07064b50).u32(0).u64(directory_end).u32(1));
  }
  out.put(Bytes()
              .u32(0x06054b50)
              .u16(0)
              .u16(0)
              .u16(std::min<std::uint64_t>(count, 0xffff))
              .u16(std::min<std::uint64_t>(count, 0xffff))
              .u32(std::min<std::uint64_t>(directory_size, kMax32))
              .u32(std::min<std::uint64_t>(directory_offset, kMax32))
              .u16(0));
  out.flush();
  BATON_TRY(out.status());

  WrittenZip written{.digest = out.finish_hex(), .bytes = out.position(), .entries = count};
  written.path = output_folder / file_name(stem, written.digest);
  if (::rename(temp.c_str(), written.path.c_str()) != 0) {
    return os_error(written.path, "rename failed", errno);
  }
  unlink_temp.armed = false;
  return written;
}

}  // namespace baton::bundle
