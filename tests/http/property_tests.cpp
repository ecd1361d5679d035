// rapidcheck properties: histogram merges and sliding-window expiry conserve counts; the log
// histogram's quantile stays within its stated error; the parsers and the JSON scanner accept any
// bytes without violating their own bounds.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "processor/http/histogram.h"
#include "processor/http/http_parse.h"
#include "processor/http/json_scan.h"

namespace ringward::http {
namespace {

const std::vector<double> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

double to_seconds(uint32_t us) { return static_cast<double>(us) / 1e6; }

RC_GTEST_PROP(Properties, BucketHistogramMergeConservesCounts,
              (const std::vector<uint32_t>& a, const std::vector<uint32_t>& b)) {
  BucketHistogram ha(kBounds.size()), hb(kBounds.size()), hall(kBounds.size());
  for (uint32_t v : a) ha.observe(to_seconds(v), kBounds), hall.observe(to_seconds(v), kBounds);
  for (uint32_t v : b) hb.observe(to_seconds(v), kBounds), hall.observe(to_seconds(v), kBounds);
  ha.merge(hb);
  RC_ASSERT(ha.counts() == hall.counts());
  RC_ASSERT(ha.count() == a.size() + b.size());
  const std::vector<uint64_t> cum = ha.cumulative();
  RC_ASSERT(cum.back() == ha.count());
  RC_ASSERT(std::is_sorted(cum.begin(), cum.end()));
  // Each cumulative bucket counts exactly the observations <= its bound.
  for (size_t i = 0; i < kBounds.size(); ++i) {
    size_t expect = 0;
    for (uint32_t v : a) expect += to_seconds(v) <= kBounds[i];
    for (uint32_t v : b) expect += to_seconds(v) <= kBounds[i];
    RC_ASSERT(cum[i] == expect);
  }
}

RC_GTEST_PROP(Properties, LogHistogramMergeConservesCountsAndQuantileError,
              (const std::vector<uint64_t>& a, const std::vector<uint64_t>& b)) {
  LogHistogram ha, hb;
  for (uint64_t v : a) ha.observe(v % (1ULL << 40));
  for (uint64_t v : b) hb.observe(v % (1ULL << 40));
  ha.merge(hb);
  RC_ASSERT(ha.count() == a.size() + b.size());
  if (ha.count() == 0) return;
  std::vector<uint64_t> all;
  for (uint64_t v : a) all.push_back(v % (1ULL << 40));
  for (uint64_t v : b) all.push_back(v % (1ULL << 40));
  std::sort(all.begin(), all.end());
  for (double q : {0.5, 0.9, 0.99}) {
    const size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * all.size())));
    const double exact = static_cast<double>(all[rank - 1]);
    const double got = ha.quantile(q);
    RC_ASSERT(std::fabs(got - exact) <= exact / 64.0 + 1.0);  // half a 1/32 bucket
  }
}

RC_GTEST_PROP(Properties, SlidingWindowExpiryConservesCounts, ()) {
  const uint32_t slots = *rc::gen::inRange<uint32_t>(1, 12);
  const uint64_t window = *rc::gen::inRange<uint64_t>(slots, 1'000'000);
  SlidingWindow w(window, slots);
  const auto steps = *rc::gen::container<std::vector<std::pair<uint32_t, uint8_t>>>(
      rc::gen::pair(rc::gen::inRange<uint32_t>(0, 400'000), rc::gen::arbitrary<uint8_t>()));
  uint64_t now = 0;
  std::vector<uint64_t> times;  // model: every observation's time
  for (const auto& [advance, n] : steps) {
    now += advance;
    for (uint8_t i = 0; i < n % 4; ++i) {
      w.add(now, i == 1, i == 2, advance);
      times.push_back(now);
    }
    const WindowCounts agg = w.aggregate(now);
    RC_ASSERT(w.total_requests() == times.size());
    RC_ASSERT(agg.requests + w.expired_requests(now) == times.size());
    RC_ASSERT(agg.latency_us.count() == agg.requests);
    // Exactly the observations whose slot is one of the last `slots` slots are in the window.
    const uint64_t slot = w.slot_ns();
    uint64_t in_window = 0;
    for (uint64_t t : times) in_window += (now / slot - t / slot) < slots;
    RC_ASSERT(agg.requests == in_window);
  }
  // Far in the future everything has expired, and still nothing is lost.
  const uint64_t later = now + 2 * window + slots;
  RC_ASSERT(w.aggregate(later).requests == 0u);
  RC_ASSERT(w.expired_requests(later) == times.size());
}

// A header value is refused exactly when (after trimming blanks) it holds a control byte other
// than HT, or DEL; any other byte, obs-text (>= 0x80) included, is accepted. Values of every
// length cross the eight-byte words the check reads.
RC_GTEST_PROP(Properties, HeaderValueBytesAreJudgedOneByOne, ()) {
  // Mostly valid bytes (visible ASCII, blanks, obs-text) and at most one other byte anywhere.
  const auto ints = *rc::gen::container<std::vector<int>>(
      rc::gen::weightedOneOf<int>({{20, rc::gen::inRange<int>(0x20, 0x7f)},
                                   {5, rc::gen::inRange<int>(0x80, 0x100)},
                                   {1, rc::gen::just<int>('\t')}}));
  std::string value;
  for (int c : ints) value.push_back(static_cast<char>(c));
  if (*rc::gen::arbitrary<bool>()) {
    const int odd = *rc::gen::element<int>(0x00, 0x01, 0x0b, 0x1f, 0x7f);
    value.insert(value.begin() + *rc::gen::inRange<size_t>(0, value.size() + 1), static_cast<char>(odd));
  }
  std::string_view trimmed = value;
  while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\t')) trimmed.remove_prefix(1);
  while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\t')) trimmed.remove_suffix(1);
  const bool bad = std::any_of(trimmed.begin(), trimmed.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
  const auto r = parse_requests("GET / HTTP/1.1\r\nX-V: " + value + "\r\n\r\n", ParseLimits{});
  RC_ASSERT(r.error.has_value() == bad);
  if (bad) RC_ASSERT(*r.error == Malformed::kBadHeader);
  else RC_ASSERT(r.messages.size() == 1u);
}

RC_GTEST_PROP(Properties, ParsersStayInBoundsOnAnyBytes, (const std::string& bytes)) {
  ParseLimits limits;
  limits.max_body_prefix = 64;
  const auto r = parse_requests(bytes, limits);
  RC_ASSERT(r.consumed <= bytes.size());
  RC_ASSERT(r.messages.size() <= limits.max_messages_per_buffer);
  const auto s = parse_responses("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + bytes,
                                 limits);
  for (const auto& m : s.messages) RC_ASSERT(m.body.size() <= limits.max_body_prefix);
  const JsonScan j = scan_json_object("{" + bytes);
  RC_ASSERT(j.members.size() <= JsonScanLimits{}.max_members);
}

}  // namespace
}  // namespace ringward::http
