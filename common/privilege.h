// What counts as a privilege gain in a credential change, shared by capture (which keeps such a
// record as Critical when its ring is full) and the processor's detectors (RW-PRIV-001/004).
// Trust: pure functions of the ids a record carries.
#pragma once

#include <cstdint>

namespace ringward {

struct CredIds {
  uint32_t uid = 0, euid = 0, gid = 0, egid = 0;
};

// Root (uid or euid 0) where the real or effective uid was not.
inline bool gains_root_uid(const CredIds& before, const CredIds& after) {
  return (after.uid == 0 && before.uid != 0) || (after.euid == 0 && before.euid != 0);
}

// Group root (gid or egid 0) by a process that held no root id at all: neither uid, euid, gid nor
// egid 0. With one of them it could take group 0 anyway (root may take any group; a process may
// always set its effective gid back to its real one), so root daemons and OpenShift-style pods
// running with gid 0 stay quiet. (Saved ids are not recorded: a process whose saved gid is 0,
// after a set-gid exec that was itself reported, is reported again when it takes it back.)
inline bool gains_group_root(const CredIds& before, const CredIds& after) {
  if (before.uid == 0 || before.euid == 0 || before.gid == 0 || before.egid == 0) return false;
  return after.gid == 0 || after.egid == 0;
}

}  // namespace ringward
