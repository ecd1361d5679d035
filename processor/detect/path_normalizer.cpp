// Path normalisation for traversal detection (see path_normalizer.h). Untrusted input: all
// indexing is checked against the view length; no recursion; bounded decode rounds.
#include "processor/detect/path_normalizer.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace ringward::detect {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

}  // namespace

bool percent_decode_once(std::string_view in, std::string& out, bool plus_as_space) {
  out.clear();
  bool changed = false;
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 < n) {
        const int h = hex_value(in[i + 1]);
        const int l = hex_value(in[i + 2]);
        if (h >= 0 && l >= 0) {
          out.push_back(static_cast<char>(h * 16 + l));
          i += 2;
          changed = true;
          continue;
        }
      }
      // IIS-style %uXXXX.
      if (i + 5 < n && (in[i + 1] == 'u' || in[i + 1] == 'U')) {
        int v = 0;
        bool ok = true;
        for (std::size_t k = 2; k < 6; ++k) {
          const int d = hex_value(in[i + k]);
          if (d < 0) {
            ok = false;
            break;
          }
          v = v * 16 + d;
        }
        if (ok) {
          append_utf8(out, static_cast<std::uint32_t>(v));
          i += 5;
          changed = true;
          continue;
        }
      }
      out.push_back(c);
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
      changed = true;
    } else {
      out.push_back(c);
    }
  }
  return changed;
}

bool fold_unicode_lookalikes(std::string_view in, std::string& out) {
  out.clear();
  bool changed = false;
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) {
    const auto b0 = static_cast<unsigned char>(in[i]);
    if (b0 < 0xC0) {
      out.push_back(in[i]);
      continue;
    }
    // Overlong 2-byte form of ASCII: C0/C1 xx.
    if ((b0 == 0xC0 || b0 == 0xC1) && i + 1 < n && is_cont(static_cast<unsigned char>(in[i + 1]))) {
      const auto b1 = static_cast<unsigned char>(in[i + 1]);
      out.push_back(static_cast<char>(((b0 & 0x1F) << 6) | (b1 & 0x3F)));
      i += 1;
      changed = true;
      continue;
    }
    if (b0 == 0xE0 && i + 2 < n) {
      const auto b1 = static_cast<unsigned char>(in[i + 1]);
      const auto b2 = static_cast<unsigned char>(in[i + 2]);
      // Overlong 3-byte form of a code point below 0x800: E0 80..9F xx.
      if (b1 >= 0x80 && b1 <= 0x9F && is_cont(b2)) {
        const std::uint32_t cp = ((b1 & 0x3Fu) << 6) | (b2 & 0x3Fu);
        if (cp < 0x80) {
          out.push_back(static_cast<char>(cp));
        } else {
          append_utf8(out, cp);
        }
        i += 2;
        changed = true;
        continue;
      }
    }
    if (b0 == 0xF0 && i + 3 < n) {
      const auto b1 = static_cast<unsigned char>(in[i + 1]);
      const auto b2 = static_cast<unsigned char>(in[i + 2]);
      const auto b3 = static_cast<unsigned char>(in[i + 3]);
      // Overlong 4-byte form: F0 80..8F xx xx.
      if (b1 >= 0x80 && b1 <= 0x8F && is_cont(b2) && is_cont(b3)) {
        const std::uint32_t cp = ((b1 & 0x3Fu) << 12) | ((b2 & 0x3Fu) << 6) | (b3 & 0x3Fu);
        if (cp < 0x80) {
          out.push_back(static_cast<char>(cp));
        } else {
          append_utf8(out, cp);
        }
        i += 3;
        changed = true;
        continue;
      }
    }
    if (i + 2 < n) {
      const auto b1 = static_cast<unsigned char>(in[i + 1]);
      const auto b2 = static_cast<unsigned char>(in[i + 2]);
      // Look-alikes some servers fold: U+FF0E (．) U+FF0F (／) U+FF3C (＼) U+2215 (∕) U+2216 (∖).
      char mapped = 0;
      if (b0 == 0xEF && b1 == 0xBC && b2 == 0x8E) mapped = '.';
      if (b0 == 0xEF && b1 == 0xBC && b2 == 0x8F) mapped = '/';
      if (b0 == 0xEF && b1 == 0xBC && b2 == 0xBC) mapped = '\\';
      if (b0 == 0xE2 && b1 == 0x88 && b2 == 0x95) mapped = '/';
      if (b0 == 0xE2 && b1 == 0x88 && b2 == 0x96) mapped = '\\';
      if (mapped != 0) {
        out.push_back(mapped);
        i += 2;
        changed = true;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return changed;
}

PathNormalizer::PathNormalizer(std::size_t max_input, int max_rounds)
    : max_input_(max_input), max_rounds_(std::max(1, max_rounds)) {}

std::string_view PathNormalizer::decode(std::string_view raw, bool percent_decode,
                                        bool plus_as_space, PathAnalysis& analysis) {
  if (raw.size() > max_input_) {
    raw = raw.substr(0, max_input_);
    analysis.truncated = true;
  }
  // Count path-structure bytes before decoding; if decoding adds any, the traversal was
  // disguised. Comparing counts (not positions) is enough because decoding only ever turns an
  // encoded form into one byte.
  const auto count_path_chars = [](std::string_view s) {
    std::size_t dots = 0, slashes = 0, backslashes = 0;
    for (char c : s) {
      dots += c == '.';
      slashes += c == '/';
      backslashes += c == '\\';
    }
    return std::array<std::size_t, 3>{dots, slashes, backslashes};
  };
  const auto before = count_path_chars(raw);

  buf_a_.assign(raw.data(), raw.size());
  bool plus = plus_as_space;
  int round = 0;
  for (;;) {
    bool changed = false;
    if (percent_decode) {
      changed |= percent_decode_once(buf_a_, buf_b_, plus);
      buf_a_.swap(buf_b_);
      plus = false;  // '+' means space only in the first (form) layer.
    }
    changed |= fold_unicode_lookalikes(buf_a_, buf_b_);
    buf_a_.swap(buf_b_);
    if (!changed) break;
    if (++round >= max_rounds_) {
      // One more look: if another pass would still change it, say so (layered encoding
      // beyond the bound is itself an evasion signal).
      if (percent_decode && percent_decode_once(buf_a_, buf_b_, false)) {
        analysis.decode_rounds_exhausted = true;
      }
      break;
    }
  }
  const auto after = count_path_chars(buf_a_);
  if (after[0] > before[0] || after[1] > before[1] || after[2] > before[2]) {
    analysis.disguised = true;
  }
  if (before[2] > 0 || after[2] > 0) {
    // Backslash is a separator for Windows back ends and for many path-joining bugs.
    analysis.disguised = analysis.disguised || after[2] > 0;
    std::replace(buf_a_.begin(), buf_a_.end(), '\\', '/');
  }
  const std::size_t nul = buf_a_.find('\0');
  if (nul != std::string::npos) {
    analysis.nul_byte = true;
    buf_a_.resize(nul);
  }
  return buf_a_;
}

std::string_view PathNormalizer::analyse(std::string_view raw, bool percent_decode,
                                         bool plus_as_space, PathAnalysis& analysis) {
  const std::string_view decoded = decode(raw, percent_decode, plus_as_space, analysis);
  resolved_.clear();
  resolved_.push_back('/');
  segment_starts_.clear();
  std::size_t i = 0;
  const std::size_t n = decoded.size();
  while (i < n) {
    while (i < n && decoded[i] == '/') ++i;
    std::size_t j = i;
    while (j < n && decoded[j] != '/') ++j;
    std::string_view seg = decoded.substr(i, j - i);
    // Windows back ends strip trailing spaces and dots from a segment, so ".. " and "...."
    // behave as ".."; treat a segment of two or more dots followed only by spaces/dots as "..".
    bool parent = false;
    if (seg.size() >= 2 && seg[0] == '.' && seg[1] == '.') {
      parent = std::all_of(seg.begin(), seg.end(), [](char c) { return c == '.' || c == ' '; });
      if (parent && seg.size() > 3 && seg.find(' ') == std::string_view::npos) {
        // "...." without separators is an ordinary (odd) name on POSIX; only ".." ".. " "..."
        // are treated as parent references.
        parent = false;
      }
    }
    if (seg.empty() || seg == ".") {
      // nothing
    } else if (parent) {
      ++analysis.parent_segments;
      if (segment_starts_.empty()) {
        ++analysis.escape_depth;
      } else {
        resolved_.resize(segment_starts_.back());
        segment_starts_.pop_back();
      }
    } else {
      if (resolved_.size() > 1) resolved_.push_back('/');
      segment_starts_.push_back(resolved_.size() > 1 ? resolved_.size() - 1 : 1);
      resolved_.append(seg.data(), seg.size());
    }
    i = j;
  }
  return resolved_;
}

bool is_sensitive_target(std::string_view resolved, const std::vector<std::string>& targets) {
  for (const std::string& t : targets) {
    if (t.empty() || t.size() > resolved.size()) continue;
    const std::string_view tail = resolved.substr(resolved.size() - t.size());
    bool eq = true;
    for (std::size_t k = 0; k < t.size(); ++k) {
      if (ascii_lower(tail[k]) != ascii_lower(t[k])) {
        eq = false;
        break;
      }
    }
    if (!eq) continue;
    // Whole-segment match: the suffix starts right after a '/'.
    const std::size_t start = resolved.size() - t.size();
    if (start == 0 || resolved[start - 1] == '/') return true;
  }
  return false;
}

}  // namespace ringward::detect
