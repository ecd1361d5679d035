// Shared helpers of the http test suite: fixture loading and a default config.
#pragma once

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "processor/http/http_config.h"

namespace ringward::http::test {

inline std::string read_fixture(const std::string& name) {
  const std::string path = std::string(RINGWARD_HTTP_FIXTURES) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// What capture keeps of a buffer: the first 1024 bytes.
inline std::string captured(const std::string& bytes) { return bytes.substr(0, 1024); }

}  // namespace ringward::http::test
