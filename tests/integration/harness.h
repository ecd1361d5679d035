// Test harness: runs the real supervisor with real children from the build tree in a temp dir,
// talks to it over its real control socket, and reads the NDJSON sink file.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace ringward::testing {

inline uint64_t json_u64(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\":(-?[0-9]+)");
  if (!std::regex_search(json, m, re)) return UINT64_MAX;
  return std::stoull(m[1]);
}

struct ProcessInfo {
  int pid = 0;
  std::string state;
  uint64_t restarts = 0;
};

inline ProcessInfo process_info(const std::string& json, const std::string& name) {
  std::smatch m;
  std::regex re("\"name\":\"" + name + "\",\"pid\":([0-9]+),\"state\":\"([a-z]+)\",\"restarts\":([0-9]+)");
  ProcessInfo p;
  if (std::regex_search(json, m, re)) {
    p.pid = std::stoi(m[1]);
    p.state = m[2];
    p.restarts = std::stoull(m[3]);
  }
  return p;
}

inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

class Pipeline {
 public:
  // `extra` is appended to a config that already sets the socket, run dir and file sink;
  // `supervisor_extra` goes into its [supervisor] section.
  explicit Pipeline(const std::string& extra, const std::string& supervisor_extra = "") {
    char tmpl[] = "/tmp/ringward-it-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::filesystem::create_directories(dir_ + "/libexec");
    for (const char* exe : {RW_CAPTURE_EXE, RW_PROCESSOR_EXE, RW_SHIPPER_EXE})
      std::filesystem::create_symlink(exe, dir_ + "/libexec/" + std::filesystem::path(exe).filename().string());
    socket_ = dir_ + "/ctl.sock";
    sink_ = dir_ + "/events.ndjson";
    std::ofstream(dir_ + "/ringward.toml")
        << "[supervisor]\ncontrol_socket = \"" << socket_ << "\"\nrun_dir = \"" << dir_ << "/run\"\n"
        << supervisor_extra
        << "[shipper]\nbuffer_dir = \"" << dir_ << "/buffer\"\ndlq_dir = \"" << dir_ << "/dlq\"\n"
        << "metrics_listen = \"127.0.0.1:0\"\n"
        << "[[shipper.sinks]]\ntype = \"file\"\npath = \"" << sink_ << "\"\n"
        << extra;
  }
  ~Pipeline() {
    stop();
    std::error_code ec;
    if (!getenv("RINGWARD_KEEP_TEST_DIR")) std::filesystem::remove_all(dir_, ec);
  }

  void start() {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open((dir_ + "/supervisor.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execl(RW_SUPERVISOR_EXE, RW_SUPERVISOR_EXE, "--config", (dir_ + "/ringward.toml").c_str(),
            "--libexec-dir", (dir_ + "/libexec").c_str(), nullptr);
      _exit(127);
    }
  }

  // Sends one control command; "" when the supervisor is not reachable.
  std::string command(const std::string& line) const {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return "";
    }
    std::string msg = line + "\n";
    if (write(fd, msg.data(), msg.size()) < 0) {
      close(fd);
      return "";
    }
    std::string reply;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
    close(fd);
    return reply;
  }
  std::string status() const { return command("status --json"); }

  bool wait_running(std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    return wait_until([&] {
      std::string s = status();
      return process_info(s, "capture").state == "running" &&
             process_info(s, "processor").state == "running" &&
             process_info(s, "shipper").state == "running";
    }, timeout);
  }

  // SIGTERM and wait: the supervisor drains the rings in order. Returns the exit status.
  int stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 600; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

  std::vector<std::string> sink_lines() const {
    std::ifstream in(sink_);
    std::vector<std::string> lines;
    std::string l;
    while (std::getline(in, l)) lines.push_back(l);
    return lines;
  }
  std::string log() const {
    std::ifstream in(dir_ + "/supervisor.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  const std::string& dir() const { return dir_; }
  const std::string& socket_path() const { return socket_; }
  int pid() const { return pid_; }

 private:
  std::string dir_, socket_, sink_;
  pid_t pid_ = -1;
};

inline std::string line_id(const std::string& line) {
  auto a = line.find("{\"id\":\"");
  if (a != 0) return "";
  auto b = line.find('"', 7);
  return line.substr(7, b - 7);
}

}  // namespace ringward::testing
