// Test helper standing in for a child: reports ready, then installs a seccomp filter that kills
// the process on socket(2) and calls it, like a compromised processor would. Trust: test only.
#include <seccomp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--ready-fd") == 0) {
      int fd = std::atoi(argv[i + 1]);
      (void)!write(fd, "READY\n", 6);
      close(fd);
    }
  usleep(200'000);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(socket), 0) != 0 || seccomp_load(ctx) != 0)
    return 3;
  socket(AF_INET, SOCK_STREAM, 0);
  return 0;  // not reached
}
