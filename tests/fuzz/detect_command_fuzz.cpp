// libFuzzer target: the command detectors (patterns, base64 payload decoding, web-server,
// masquerade checks) and the privilege detector. The input is split on NUL bytes into
// filename, argv0, command line, comm and parent comm; privilege fields come from the first
// bytes.
// Build: as in detect_traversal_fuzz.cpp, with this file instead; corpus tests/fuzz/corpus/detect_command.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "processor/detect/engine.h"

namespace {

const ringward::detect::Engine& engine() {
  static const ringward::detect::Engine e = [] {
    auto r = ringward::detect::Engine::load_default();
    if (!r) std::abort();
    return std::move(r).value();
  }();
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::array<std::string_view, 5> parts{};
  std::size_t start = 0;
  for (std::size_t i = 0; i < parts.size() && start <= in.size(); ++i) {
    std::size_t end = in.find('\0', start);
    if (end == std::string_view::npos || i == parts.size() - 1) end = in.size();
    parts[i] = in.substr(start, end - start);
    start = end + 1;
  }
  ringward::detect::CommandInput c{parts[0], parts[1], parts[2], parts[3], parts[4]};
  std::vector<ringward::detect::Finding> f;
  engine().inspect_command(c, f);
  c.command_line = in;  // the whole input as one command line too
  engine().inspect_command(c, f);

  ringward::detect::PrivilegeInput p;
  std::array<std::uint32_t, 4> ids{};
  std::memcpy(ids.data(), data, std::min(size, sizeof ids));
  p.old_uid = ids[0];
  p.new_uid = ids[1];
  p.old_euid = ids[2];
  p.new_euid = ids[3];
  p.new_caps = size;
  p.filename = parts[0];
  p.comm = parts[3];
  engine().inspect_privilege(p, f);
  return 0;
}
