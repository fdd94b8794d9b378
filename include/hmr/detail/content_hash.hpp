// A fast digest of a file's content, to tell whether a build output really changed (a
// build that rewrites an identical file, or only touches it, is no change: mtimes lie).
// Not cryptographic: it detects accidental differences, never adversarial ones.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hmr::detail {

/// The size and a 64-bit hash of a file's bytes. Equal digests mean equal content (with
/// the odds of a 64-bit collision).
struct content_digest {
  std::uint64_t size = 0;  ///< bytes read
  std::uint64_t hash = 0;  ///< the hash of those bytes

  /// Member-wise equality.
  friend bool operator==(const content_digest&, const content_digest&) = default;
};

/// An incremental hash over bytes: four independent 64-bit lanes over 32-byte stripes (the
/// multiplications pipeline, several GB/s), then a mix of the lanes, the tail and the
/// length. Feeding the same bytes in any split gives the same value.
///
/// @code
///   hmr::detail::content_hasher h;
///   h.update(bytes_a);
///   h.update(bytes_b);
///   std::uint64_t value = h.finish();
/// @endcode
class content_hasher {
 public:
  /// Adds `bytes` to the hash.
  void update(std::string_view bytes) noexcept {
    const char* p = bytes.data();
    std::size_t n = bytes.size();
    total_ += n;
    if (buffered_ > 0) {  // complete the pending stripe first
      const std::size_t take = n < stripe - buffered_ ? n : stripe - buffered_;
      std::memcpy(buffer_ + buffered_, p, take);
      buffered_ += take;
      p += take;
      n -= take;
      if (buffered_ < stripe) return;
      consume(buffer_);
      buffered_ = 0;
    }
    while (n >= stripe) {
      consume(p);
      p += stripe;
      n -= stripe;
    }
    std::memcpy(buffer_, p, n);
    buffered_ = n;
  }

  /// The hash of everything added so far (the hasher may be updated further).
  [[nodiscard]] std::uint64_t finish() const noexcept {
    std::uint64_t h = rotl(lanes_[0], 1) + rotl(lanes_[1], 7) + rotl(lanes_[2], 12) + rotl(lanes_[3], 18);
    for (const std::uint64_t lane : lanes_) h = (h ^ round(0, lane)) * prime1 + prime4;
    h += total_;
    std::size_t i = 0;
    for (; i + 8 <= buffered_; i += 8) h = rotl(h ^ round(0, load(buffer_ + i)), 27) * prime1 + prime4;
    for (; i < buffered_; ++i) {
      h ^= static_cast<std::uint64_t>(static_cast<unsigned char>(buffer_[i])) * prime5;
      h = rotl(h, 11) * prime1;
    }
    h ^= h >> 33;  // final avalanche
    h *= prime2;
    h ^= h >> 29;
    h *= prime3;
    h ^= h >> 32;
    return h;
  }

 private:
  static constexpr std::size_t stripe = 32;
  static constexpr std::uint64_t prime1 = 0x9E3779B185EBCA87ULL;
  static constexpr std::uint64_t prime2 = 0xC2B2AE3D27D4EB4FULL;
  static constexpr std::uint64_t prime3 = 0x165667B19E3779F9ULL;
  static constexpr std::uint64_t prime4 = 0x85EBCA77C2B2AE63ULL;
  static constexpr std::uint64_t prime5 = 0x27D4EB2F165667C5ULL;

  static constexpr std::uint64_t rotl(std::uint64_t x, int r) noexcept { return (x << r) | (x >> (64 - r)); }
  static constexpr std::uint64_t round(std::uint64_t acc, std::uint64_t input) noexcept {
    return rotl(acc + input * prime2, 31) * prime1;
  }
  static std::uint64_t load(const char* p) noexcept {  // little-endian, whatever the host
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
  }
  void consume(const char* p) noexcept {
    for (int lane = 0; lane < 4; ++lane) lanes_[lane] = round(lanes_[lane], load(p + 8 * lane));
  }

  std::uint64_t lanes_[4] = {prime1 + prime2, prime2, 0, 0 - prime1};
  char buffer_[stripe] = {};
  std::size_t buffered_ = 0;
  std::uint64_t total_ = 0;
};

/// The digest of `bytes` (for tests and small inputs).
inline content_digest hash_bytes(std::string_view bytes) noexcept {
  content_hasher h;
  h.update(bytes);
  return {bytes.size(), h.finish()};
}

/// The digest of the file at `path`, read with read(2) in 256 KiB blocks; nothing when it
/// cannot be opened or read (missing, a directory, no permission).
inline std::optional<content_digest> hash_file(const std::string& path) {
  std::vector<char> block(std::size_t{256} * 1024);  // before open: a throw leaks no fd
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  content_hasher h;
  std::uint64_t size = 0;
  for (;;) {
    const ssize_t n = ::read(fd, block.data(), block.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return std::nullopt;
    }
    h.update(std::string_view(block.data(), static_cast<std::size_t>(n)));
    size += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return content_digest{size, h.finish()};
}

/// Closes `fd` when it is open (for descriptors not owned by a wrapper).
inline void close_descriptor(int fd) noexcept {
  if (fd >= 0) ::close(fd);
}

}  // namespace hmr::detail
