// Starts real nats-server processes (JetStream on, 127.0.0.1 only, temp store dirs) for the sink
// tests and kills them by PID. Configs come from tests/sinks/nats/*.conf.in. Trust: test only.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>

namespace ringward::shipper::sinks::test {

int free_tcp_port();

class NatsServer {
 public:
  // `vars` fills the @NAME@-style placeholders of `template_name` (a file in tests/sinks/nats/).
  NatsServer(const std::string& template_name, std::map<std::string, std::string> vars, std::filesystem::path dir);
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  void start();                      // spawns and waits until the client port accepts (bounded)
  void kill();                       // SIGKILL by PID and reap
  bool running() const { return pid_ > 0; }
  std::string url() const { return "nats://127.0.0.1:" + vars_.at("PORT"); }

 private:
  std::filesystem::path conf_;
  std::map<std::string, std::string> vars_;
  pid_t pid_ = -1;
};

// A temp directory removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ringward::shipper::sinks::test
