// A synthetic event source: realistic events of every kind at a configured rate and count, fully
// determined by (seed, index) so a restarted capture regenerates exactly the events it had not yet
// handed to the pipeline. Used for tests, benchmarks and demos; trust: capture process.
#pragma once

#include <cstdint>

#include "capture/source.h"
#include "common/clock.h"

namespace ringward::capture {

class SyntheticSource final : public EventSource {
 public:
  // `total` 0 = unbounded; `rate` events/s, 0 = as fast as possible. `start_index` resumes.
  SyntheticSource(const Clock& clock, uint64_t seed, uint64_t total, uint64_t rate,
                  uint64_t start_index);
  bool pump(Emitter& out, std::chrono::milliseconds budget) override;
  std::vector<std::string> active_hooks() const override { return {"synthetic"}; }
  uint64_t next_index() const { return index_; }
  // Rewinds to an index (events before it have left capture).
  void resume_at(uint64_t index) { index_ = index; }

  // Builds event number `index` (exposed for tests and benchmarks).
  static schema::Priority make_event(uint64_t seed, uint64_t index, uint64_t mono_ns,
                                     schema::Event::Builder ev);

 private:
  const Clock& clock_;
  uint64_t seed_;
  uint64_t total_;
  uint64_t rate_;
  uint64_t index_;
  uint64_t start_mono_ = 0;
  uint64_t start_index_ = 0;
};

}  // namespace ringward::capture
