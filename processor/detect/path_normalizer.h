// Path normalisation for traversal detection. Runs in the processor on attacker-controlled bytes
// (HTTP targets, query values, file paths): every loop is bounded by the input cap and the decode
// round limit, and the output buffers are owned by the normaliser and reused across calls so the
// hot path does not allocate once they have grown to the largest input seen.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ringward::detect {

// What normalising and resolving one path found.
struct PathAnalysis {
  // Number of ".." segments that climbed above the path's starting point (its root).
  int escape_depth = 0;
  // Number of ".." segments applied in total (popping real segments or escaping).
  int parent_segments = 0;
  // Decoding changed a dot, slash or backslash (percent, double percent, %u, overlong UTF-8,
  // full-width forms, backslash): the traversal was disguised.
  bool disguised = false;
  // Percent-decoding was still changing the input when the round limit was reached.
  bool decode_rounds_exhausted = false;
  // The decoded path contained a NUL byte (the classic "%00" extension-check bypass); resolution
  // stops there as the C library would.
  bool nul_byte = false;
  // Input longer than the cap; only the first max_input bytes were analysed.
  bool truncated = false;
};

class PathNormalizer {
 public:
  static constexpr std::size_t kDefaultMaxInput = 8192;
  static constexpr int kDefaultMaxRounds = 4;

  explicit PathNormalizer(std::size_t max_input = kDefaultMaxInput,
                          int max_rounds = kDefaultMaxRounds);

  // Decodes `raw` (percent forms iteratively up to max_rounds when `percent_decode`; overlong
  // UTF-8 and full-width dots/slashes; backslash to slash) into an internal buffer and returns a
  // view of it, valid until the next call. `plus_as_space` applies form-encoding rules.
  std::string_view decode(std::string_view raw, bool percent_decode, bool plus_as_space,
                          PathAnalysis& analysis);

  // Decodes then resolves "." and ".." against the path's own start. The resolved path (always
  // starting with '/') is returned; view valid until the next call.
  std::string_view analyse(std::string_view raw, bool percent_decode, bool plus_as_space,
                           PathAnalysis& analysis);

 private:
  std::size_t max_input_;
  int max_rounds_;
  std::string buf_a_;
  std::string buf_b_;
  std::string resolved_;
  std::vector<std::size_t> segment_starts_;
};

// One percent-decoding pass (also %uXXXX, encoded as UTF-8). Returns true if anything changed.
// Malformed escapes are copied through unchanged.
bool percent_decode_once(std::string_view in, std::string& out, bool plus_as_space);

// Replaces overlong UTF-8 encodings of ASCII and full-width/division-slash look-alikes of '.',
// '/', '\\' with the ASCII byte. Returns true if anything changed.
bool fold_unicode_lookalikes(std::string_view in, std::string& out);

// True if the resolved path (as returned by analyse) names one of the sensitive targets, each
// written without a leading slash ("etc/shadow"); comparison is ASCII case-insensitive and
// matches a whole trailing path suffix.
bool is_sensitive_target(std::string_view resolved, const std::vector<std::string>& targets);

}  // namespace ringward::detect
