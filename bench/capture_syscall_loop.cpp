// Benchmark load generator for the capture benchmarks (bench/capture_bench.py): runs one
// syscall-heavy loop for a fixed time and prints how many operations it completed.
//   open  SECONDS [RATE]  openat+close of a temp file (RATE > 0: paced to RATE opens/s)
//   fork  SECONDS         fork + execve(/bin/true) + wait
//   getpid SECONDS        a syscall no capture program hooks (control: should not slow down)
// Output (stdout, one line): "ops=N seconds=S ops_per_s=R". Trust: unprivileged test tool.
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

int usage() {
  fprintf(stderr, "usage: capture_syscall_loop open|fork|getpid SECONDS [RATE]\n");
  return 2;
}

// The clock is read once per batch so the loop measures the syscalls, not clock_gettime.
constexpr uint64_t kBatch = 64;

uint64_t loop_open(const char* path, uint64_t end_ns, double rate, bool* failed) {
  uint64_t ops = 0;
  const uint64_t start = now_ns();
  for (;;) {
    for (uint64_t i = 0; i < kBatch; i++) {
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        perror("open");
        *failed = true;
        return ops;
      }
      close(fd);
    }
    ops += kBatch;
    uint64_t t = now_ns();
    if (t >= end_ns) return ops;
    if (rate > 0) {
      // Paced: sleep until the schedule catches up with the ops done (batch granularity).
      uint64_t due = start + static_cast<uint64_t>(static_cast<double>(ops) * 1e9 / rate);
      if (due > t) {
        uint64_t d = std::min(due, end_ns) - t;
        timespec ts{static_cast<time_t>(d / 1'000'000'000ULL), static_cast<long>(d % 1'000'000'000ULL)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
      }
    }
  }
}

uint64_t loop_fork(uint64_t end_ns, bool* failed) {
  uint64_t ops = 0;
  while (now_ns() < end_ns) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      *failed = true;
      return ops;
    }
    if (pid == 0) {
      char arg0[] = "true";
      char* argv[] = {arg0, nullptr};
      char* envp[] = {nullptr};
      execve("/bin/true", argv, envp);
      _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "child did not exit 0 (status %d)\n", status);
      *failed = true;
      return ops;
    }
    ops++;
  }
  return ops;
}

uint64_t loop_getpid(uint64_t end_ns) {
  uint64_t ops = 0;
  for (;;) {
    for (uint64_t i = 0; i < kBatch; i++) (void)getpid();
    ops += kBatch;
    if (now_ns() >= end_ns) return ops;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  std::string_view mode = argv[1];
  double seconds = strtod(argv[2], nullptr);
  double rate = argc > 3 ? strtod(argv[3], nullptr) : 0;
  if (seconds <= 0) return usage();
  bool failed = false;
  uint64_t start = now_ns();
  uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
  uint64_t ops = 0;
  if (mode == "open") {
    char path[] = "/tmp/rw-syscall-loop.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
      perror("mkstemp");
      return 1;
    }
    close(fd);
    ops = loop_open(path, end, rate, &failed);
    unlink(path);
  } else if (mode == "fork") {
    ops = loop_fork(end, &failed);
  } else if (mode == "getpid") {
    ops = loop_getpid(end);
  } else {
    return usage();
  }
  double took = static_cast<double>(now_ns() - start) / 1e9;
  printf("ops=%llu seconds=%.3f ops_per_s=%.1f\n", static_cast<unsigned long long>(ops), took,
         static_cast<double>(ops) / took);
  return failed ? 1 : 0;
}
