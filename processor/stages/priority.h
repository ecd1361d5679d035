// Stage 3, priority: which events survive overload first. Pure function of the validated event
// and the detection verdict; the rule table is in priority.cpp.
// Trust: sandboxed processor; input already validated.
#pragma once

#include "event.capnp.h"

namespace ringward::processor {

// Priority of `event` given the detection verdict (suspicious or malicious => Critical). The
// priority field the record arrived with is ignored: capture's bytes must not buy immunity from
// shedding.
schema::Priority assign_priority(schema::Event::Reader event, schema::Verdict verdict);
// Same, with the verdict the event carries.
inline schema::Priority assign_priority(schema::Event::Reader event) {
  return assign_priority(event, event.getVerdict());
}

}  // namespace ringward::processor
