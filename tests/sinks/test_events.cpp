// Builds real event records for the sink tests. Trust: test only.
#include "tests/sinks/test_events.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

namespace ringward::shipper::sinks::test {

OutEvent make_event(const EventSpec& s) {
  capnp::MallocMessageBuilder mb;
  auto e = mb.initRoot<schema::Event>();
  e.setId(s.id);
  e.setWallNs(s.wall_ns);
  e.setMonoNs(12345);
  e.setHost(s.host);
  e.setPid(s.pid);
  e.setTid(s.pid);
  e.setPriority(s.priority);
  e.setVerdict(s.verdict);
  auto rules = e.initRuleIds(static_cast<unsigned>(s.rule_ids.size()));
  for (unsigned i = 0; i < s.rule_ids.size(); ++i) rules.set(i, s.rule_ids[i]);
  auto exec = e.getKind().initProcessExec();
  exec.setFilename(capnp::Data::Reader(reinterpret_cast<const kj::byte*>(s.exec_filename.data()), s.exec_filename.size()));
  auto words = capnp::messageToFlatArray(mb);
  auto bytes = words.asBytes();
  OutEvent out;
  out.id = s.id;
  out.priority = s.priority;
  out.wall_ns = s.wall_ns;
  out.record.assign(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  return out;
}

std::vector<OutEvent> make_events(size_t n, uint64_t first_id) {
  std::vector<OutEvent> v;
  for (size_t i = 0; i < n; ++i) {
    EventSpec s;
    s.id = first_id + i;
    s.wall_ns += i * 1000;
    s.pid = static_cast<uint32_t>(1000 + i);
    v.push_back(make_event(s));
  }
  return v;
}

}  // namespace ringward::shipper::sinks::test
