// Event record decoding and naming for the network sinks (see event_view.h). Trust: the record is
// hostile input; reads are bounded by the traversal limit and exceptions become error values.
#include "shipper/sinks/event_view.h"

#include <kj/exception.h>

#include <cstring>
#include <exception>
#include <stdexcept>

#include "common/event_json.h"

namespace ringward::shipper::sinks {

// The names and the JSON rendering are common/event_json's, so every output of ringward (NDJSON
// file, HEC, OTLP, JetStream) agrees on them.
std::string_view priority_name(schema::Priority p) { return ringward::priority_name(p); }
std::string_view verdict_name(schema::Verdict v) { return ringward::verdict_name(v); }
std::string_view kind_name(schema::Event::Reader e) { return ringward::event_type_name(e); }
void append_event_json_object(schema::Event::Reader e, std::string& out) {
  // The sinks treat a throw as "corrupt event record" (rejected to the DLQ with the reason).
  if (!ringward::append_event_json(e, out))
    throw std::runtime_error("malformed record: a field has the wrong pointer kind");
}

namespace detail {

RecordReader::RecordReader(std::string_view bytes)
    : words_(kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word))) {
  std::memcpy(words_.begin(), bytes.data(), words_.size() * sizeof(capnp::word));
  capnp::ReaderOptions opts;
  opts.traversalLimitInWords = kEventTraversalWords;
  opts.nestingLimit = 16;
  reader_ = std::make_unique<capnp::FlatArrayMessageReader>(words_.asPtr(), opts);
}

schema::Event::Reader RecordReader::root() { return reader_->getRoot<schema::Event>(); }

std::string describe_current_exception() {
  try {
    throw;
  } catch (const kj::Exception& e) {
    return std::string("corrupt event record: ") + e.getDescription().cStr();
  } catch (const std::exception& e) {
    return std::string("corrupt event record: ") + e.what();
  }
}

}  // namespace detail
}  // namespace ringward::shipper::sinks
