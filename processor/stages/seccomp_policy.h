// The processor's seccomp allowlist: the one table of every syscall the processor may make after
// it has read its first untrusted byte. Anything else kills the process (SIGSYS).
// Trust: built and installed while the processor is still trusted (before the first event).
#pragma once

#include "common/sandbox/sandbox.h"

namespace ringward::processor {

// Built in the process that installs it (the tgkill row pins getpid()).
sandbox::SyscallPolicy processor_seccomp_policy();

}  // namespace ringward::processor
