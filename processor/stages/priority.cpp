// Priority rules. First matching row wins; the verdict row is checked before all others.
//
// | Priority | Rule                                                                  | Why                          |
// |----------|-----------------------------------------------------------------------|------------------------------|
// | Critical | detection verdict suspicious or malicious                             | security violation           |
// | High     | privilegeChange (any uid/gid/caps change, set-uid exec)               | escalation context           |
// | High     | http status >= 500, or timed out (no response)                        | server errors                |
// | High     | http status 401 or 403                                                | auth failures                |
// | High     | http businessError set by http analysis (rate_limit, auth_failure...) | business errors              |
// | High     | validationFailure, lost                                               | our own loss/attack evidence |
// | High     | endpointHealth state "unhealthy"                                      | an endpoint is failing       |
// | Normal   | processExec                                                           | what runs matters            |
// | Normal   | netConnect / netAccept                                                | who talks to whom            |
// | Normal   | processExit killed by a signal                                        | crashes                      |
// | Normal   | fileOpen failed with EACCES / EPERM                                   | denied access attempts       |
// | Normal   | http otherwise                                                        | request log                  |
// | Low      | fileOpen otherwise, processExit normal, endpointHealth otherwise      | routine activity             |
// Trust: sandboxed processor.
#include "processor/stages/priority.h"

#include <cerrno>
#include <string_view>

namespace ringward::processor {

using schema::Priority;

Priority assign_priority(schema::Event::Reader ev, schema::Verdict verdict) {
  if (verdict == schema::Verdict::SUSPICIOUS || verdict == schema::Verdict::MALICIOUS) {
    return Priority::CRITICAL;
  }
  switch (ev.getKind().which()) {
    case schema::Event::Kind::PRIVILEGE_CHANGE:
    case schema::Event::Kind::VALIDATION_FAILURE:
    case schema::Event::Kind::LOST:
      return Priority::HIGH;
    case schema::Event::Kind::HTTP: {
      auto http = ev.getKind().getHttp();
      const uint16_t status = http.getStatus();
      if (status >= 500 || http.getTimedOut()) return Priority::HIGH;
      if (status == 401 || status == 403) return Priority::HIGH;
      if (http.getBusinessError().size() > 0) return Priority::HIGH;
      return Priority::NORMAL;
    }
    case schema::Event::Kind::ENDPOINT_HEALTH: {
      const std::string_view state(ev.getKind().getEndpointHealth().getState().cStr());
      return state == "unhealthy" ? Priority::HIGH : Priority::LOW;
    }
    case schema::Event::Kind::PROCESS_EXEC:
    case schema::Event::Kind::NET_CONNECT:
    case schema::Event::Kind::NET_ACCEPT:
      return Priority::NORMAL;
    case schema::Event::Kind::PROCESS_EXIT:
      // wait() status: low 7 bits are the terminating signal.
      return (ev.getKind().getProcessExit().getExitCode() & 0x7f) != 0 ? Priority::NORMAL : Priority::LOW;
    case schema::Event::Kind::FILE_OPEN: {
      const int32_t result = ev.getKind().getFileOpen().getResult();
      return (result == -EACCES || result == -EPERM) ? Priority::NORMAL : Priority::LOW;
    }
  }
  return Priority::NORMAL;  // a kind added to the schema later: neither shed first nor protected
}

}  // namespace ringward::processor
