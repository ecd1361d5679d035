// SQL lexer and fingerprinting (see sql_lexer.h). Every index is checked against the input size;
// tokens are kept in a fixed array; the keyword table is constant data.
#include "processor/detect/sql_lexer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>

namespace ringward::detect {
namespace {

struct Keyword {
  std::string_view name;  // upper case
  char type;
};

// Sorted by name for binary search. Only words whose token class changes the fingerprint shape
// are listed; every other word is a bareword.
constexpr std::array kKeywords = {
    Keyword{"ALL", 'k'},        Keyword{"ALTER", 'E'},     Keyword{"AND", '&'},
    Keyword{"AS", 'k'},         Keyword{"ASC", 'k'},       Keyword{"BETWEEN", 'o'},
    Keyword{"BY", 'k'},         Keyword{"CALL", 'E'},      Keyword{"CASE", 'k'},
    Keyword{"COLLATE", 'o'},    Keyword{"CREATE", 'E'},    Keyword{"DATABASE", 'k'},
    Keyword{"DECLARE", 'E'},    Keyword{"DELAY", 'k'},     Keyword{"DELETE", 'E'},
    Keyword{"DESC", 'k'},       Keyword{"DISTINCT", 'k'},  Keyword{"DIV", 'o'},
    Keyword{"DROP", 'E'},       Keyword{"DUMPFILE", 'k'},  Keyword{"ELSE", 'k'},
    Keyword{"END", 'k'},        Keyword{"ESCAPE", 'o'},    Keyword{"EXEC", 'E'},
    Keyword{"EXECUTE", 'E'},    Keyword{"FALSE", '1'},     Keyword{"FROM", 'k'},
    Keyword{"GRANT", 'E'},      Keyword{"GROUP", 'k'},     Keyword{"HAVING", 'k'},
    Keyword{"IN", 'o'},         Keyword{"INSERT", 'E'},    Keyword{"INTO", 'k'},
    Keyword{"IS", 'o'},         Keyword{"JOIN", 'k'},      Keyword{"LIKE", 'o'},
    Keyword{"LIMIT", 'k'},      Keyword{"MOD", 'o'},       Keyword{"NOT", 'o'},
    Keyword{"NULL", '1'},       Keyword{"OFFSET", 'k'},    Keyword{"ON", 'k'},
    Keyword{"OR", '&'},         Keyword{"ORDER", 'k'},     Keyword{"OUTFILE", 'k'},
    Keyword{"PROCEDURE", 'k'},  Keyword{"REGEXP", 'o'},    Keyword{"RENAME", 'E'},
    Keyword{"REVOKE", 'E'},     Keyword{"RLIKE", 'o'},     Keyword{"SELECT", 'E'},
    Keyword{"SHUTDOWN", 'E'},   Keyword{"SOUNDS", 'o'},    Keyword{"TABLE", 'k'},
    Keyword{"THEN", 'k'},       Keyword{"TOP", 'k'},       Keyword{"TRUE", '1'},
    Keyword{"TRUNCATE", 'E'},   Keyword{"UNION", 'U'},     Keyword{"UPDATE", 'E'},
    Keyword{"VALUES", 'k'},     Keyword{"WAITFOR", 'W'},   Keyword{"WHEN", 'k'},
    Keyword{"WHERE", 'k'},      Keyword{"XOR", '&'},
};

constexpr bool keywords_sorted() {
  for (std::size_t i = 1; i < kKeywords.size(); ++i) {
    if (!(kKeywords[i - 1].name < kKeywords[i].name)) return false;
  }
  return true;
}
static_assert(keywords_sorted(), "keyword table must be sorted for binary search");

char keyword_type(std::string_view upper) {
  const auto it = std::lower_bound(kKeywords.begin(), kKeywords.end(), upper,
                                   [](const Keyword& k, std::string_view v) { return k.name < v; });
  if (it != kKeywords.end() && it->name == upper) return it->type;
  return 'n';
}

constexpr std::size_t kWordCap = 32;

struct Token {
  char type = 0;
  char op = 0;  // first byte of an operator, for unary folding
  std::uint8_t len = 0;
  std::array<char, kWordCap> word{};  // upper-cased word text (words only), truncated
  std::string_view upper() const { return {word.data(), len}; }
};

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0 ||
         c == 0xA0;
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_word_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c >= 0x80;
}
bool is_word_char(unsigned char c) { return is_word_start(c) || is_digit(static_cast<char>(c)); }
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

class Lexer {
 public:
  Lexer(std::string_view in, std::size_t max_tokens) : in_(in), max_tokens_(max_tokens) {}

  void run(SqlContext ctx) {
    if (ctx != SqlContext::raw) {
      // The application's own opening quote precedes the input: everything up to the first
      // unescaped matching quote is the tail of that string literal.
      const char q = ctx == SqlContext::single_quote ? '\'' : '"';
      pos_ = scan_string_body(0, q);
      push_simple('s');
    }
    while (pos_ < in_.size() && !full()) step();
  }

  void write(char ctx_letter, std::string& out) const {
    out.clear();
    out.push_back(ctx_letter);
    out.push_back(':');
    for (std::size_t i = 0; i < std::min(count_, max_tokens_); ++i) out.push_back(toks_[i].type);
  }

 private:
  static constexpr std::size_t kCap = 16;

  bool full() const { return count_ > max_tokens_ || count_ >= kCap; }

  // Returns the position after the closing quote, or the input end if unterminated.
  std::size_t scan_string_body(std::size_t p, char q) const {
    while (p < in_.size()) {
      const char c = in_[p];
      if (c == '\\') {
        p += 2;
        continue;
      }
      if (c == q) {
        if (p + 1 < in_.size() && in_[p + 1] == q) {  // doubled quote is an escaped quote
          p += 2;
          continue;
        }
        return p + 1;
      }
      ++p;
    }
    return in_.size();
  }

  Token* last() { return count_ ? &toks_[count_ - 1] : nullptr; }

  void push(const Token& t) {
    glued_ = false;
    // Unary +, -, ~, ! or NOT directly before a number in operand position folds into it.
    if (t.type == '1' && count_ >= 1 && toks_[count_ - 1].type == 'o' &&
        (toks_[count_ - 1].op == '-' || toks_[count_ - 1].op == '+' ||
         toks_[count_ - 1].op == '~' || toks_[count_ - 1].op == '!' ||
         toks_[count_ - 1].op == 'N')) {
      const char before = count_ >= 2 ? toks_[count_ - 2].type : 0;
      if (before == 0 || before == 'o' || before == '&' || before == '(' || before == ',' ||
          before == ';' || before == 'k' || before == 'E' || before == 'U') {
        toks_[count_ - 1] = t;
        return;
      }
    }
    if (count_ < kCap) toks_[count_++] = t;
  }

  void push_simple(char type, char op = 0) {
    Token t;
    t.type = type;
    t.op = op;
    push(t);
  }

  void step() {
    const auto c = static_cast<unsigned char>(in_[pos_]);
    if (is_space(c)) {
      ++pos_;
      spaced_ = true;
      glued_ = false;
      return;
    }
    const bool glued_now = glued_;
    const bool prev_spaced = spaced_;
    spaced_ = false;
    if (c == '\'' || c == '"') {
      pos_ = scan_string_body(pos_ + 1, static_cast<char>(c));
      push_simple('s');
      return;
    }
    if (c == '`') {  // quoted identifier
      const std::size_t end = in_.find('`', pos_ + 1);
      pos_ = end == std::string_view::npos ? in_.size() : end + 1;
      push_simple('n');
      return;
    }
    if (c == '#' || (c == '-' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '-')) {
      const std::size_t nl = in_.find('\n', pos_);
      pos_ = nl == std::string_view::npos ? in_.size() : nl + 1;
      push_simple('c');
      return;
    }
    if (c == '/' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '*') {
      if (pos_ + 2 < in_.size() && in_[pos_ + 2] == '!') {
        // MySQL executable comment: its body is code. Skip "!" and an optional version number;
        // the closing "*/" is skipped where it appears.
        pos_ += 3;
        while (pos_ < in_.size() && is_digit(in_[pos_])) ++pos_;
        return;
      }
      const std::size_t end = in_.find("*/", pos_ + 2);
      if (end == std::string_view::npos) {
        pos_ = in_.size();
        push_simple('c');
        return;
      }
      pos_ = end + 2;
      // An inline comment is only a separator; a word right after it may be the second half
      // of a word split by the comment ("UN/**/ION").
      glued_ = glued_now || (count_ > 0 && last_was_word_ && !prev_spaced);
      return;
    }
    if (c == '*' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '/') {
      pos_ += 2;  // end of a MySQL executable comment
      return;
    }
    if (is_digit(static_cast<char>(c)) ||
        (c == '.' && pos_ + 1 < in_.size() && is_digit(in_[pos_ + 1]))) {
      lex_number();
      return;
    }
    if (c == '@') {
      ++pos_;
      if (pos_ < in_.size() && in_[pos_] == '@') ++pos_;
      while (pos_ < in_.size() && (is_word_char(static_cast<unsigned char>(in_[pos_])) ||
                                   in_[pos_] == '.')) {
        ++pos_;
      }
      last_was_word_ = false;
      push_simple('v');
      return;
    }
    if (is_word_start(c)) {
      lex_word(glued_now);
      return;
    }
    last_was_word_ = false;
    switch (c) {
      case '(':
      case ')':
      case ',':
      case ';':
        ++pos_;
        push_simple(static_cast<char>(c));
        return;
      case '|':
      case '&':
        if (pos_ + 1 < in_.size() && in_[pos_ + 1] == static_cast<char>(c)) {
          pos_ += 2;
          push_simple('&');
        } else {
          ++pos_;
          push_simple('o', static_cast<char>(c));
        }
        return;
      case '=':
      case '<':
      case '>':
      case '!':
      case '+':
      case '-':
      case '*':
      case '/':
      case '%':
      case '^':
      case '~':
      case ':':
      case '.':
        lex_operator();
        return;
      default:
        ++pos_;
        push_simple('x');
        return;
    }
  }

  void lex_operator() {
    const char c = in_[pos_];
    std::size_t len = 1;
    static constexpr std::array<std::string_view, 8> kMulti = {"<=>", "<>", "!=", "<=",
                                                               ">=",  ":=", "::", "!<"};
    for (std::string_view m : kMulti) {
      if (in_.substr(pos_, m.size()) == m) {
        len = m.size();
        break;
      }
    }
    pos_ += len;
    push_simple('o', len == 1 ? c : '=');
  }

  void lex_number() {
    last_was_word_ = false;
    if (in_[pos_] == '0' && pos_ + 1 < in_.size() && (in_[pos_ + 1] == 'x' || in_[pos_ + 1] == 'X' ||
                                                      in_[pos_ + 1] == 'b' || in_[pos_ + 1] == 'B')) {
      pos_ += 2;
      while (pos_ < in_.size() && std::isxdigit(static_cast<unsigned char>(in_[pos_]))) ++pos_;
    } else {
      while (pos_ < in_.size() && (is_digit(in_[pos_]) || in_[pos_] == '.')) ++pos_;
      if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
        std::size_t p = pos_ + 1;
        if (p < in_.size() && (in_[p] == '+' || in_[p] == '-')) ++p;
        if (p < in_.size() && is_digit(in_[p])) {
          pos_ = p;
          while (pos_ < in_.size() && is_digit(in_[pos_])) ++pos_;
        }
      }
    }
    // "5th", "3d": digits running into letters form an identifier, not a number.
    if (pos_ < in_.size() && is_word_start(static_cast<unsigned char>(in_[pos_]))) {
      while (pos_ < in_.size() && is_word_char(static_cast<unsigned char>(in_[pos_]))) ++pos_;
      push_simple('n');
      return;
    }
    push_simple('1');
  }

  void lex_word(bool glued) {
    const std::size_t start = pos_;
    while (pos_ < in_.size() && (is_word_char(static_cast<unsigned char>(in_[pos_])) ||
                                 in_[pos_] == '.')) {
      ++pos_;
    }
    std::string_view w = in_.substr(start, pos_ - start);
    // String literal prefixes: N'..', X'..', B'..', _utf8'..'.
    if (pos_ < in_.size() && (in_[pos_] == '\'' || in_[pos_] == '"') &&
        (w.size() == 1 || w.substr(0, 1) == "_")) {
      const char c0 = upper(w[0]);
      if (c0 == 'N' || c0 == 'X' || c0 == 'B' || c0 == '_') {
        pos_ = scan_string_body(pos_ + 1, in_[pos_]);
        last_was_word_ = false;
        push_simple('s');
        return;
      }
    }
    Token t;
    t.len = static_cast<std::uint8_t>(std::min(w.size(), kWordCap));
    for (std::size_t i = 0; i < t.len; ++i) t.word[i] = upper(w[i]);
    t.type = w.size() > kWordCap ? 'n' : keyword_type(t.upper());
    if (t.type == 'o' && t.upper() == "NOT") t.op = 'N';
    last_was_word_ = true;

    Token* prev = last();
    // A word split by an inline comment is rejoined if the halves make a keyword.
    if (glued && prev != nullptr && prev->len > 0 && prev->len + t.len <= kWordCap) {
      std::array<char, kWordCap> joined{};
      std::memcpy(joined.data(), prev->word.data(), prev->len);
      std::memcpy(joined.data() + prev->len, t.word.data(), t.len);
      const std::string_view j{joined.data(), static_cast<std::size_t>(prev->len + t.len)};
      const char jt = keyword_type(j);
      if (jt != 'n') {
        prev->word = joined;
        prev->len = static_cast<std::uint8_t>(j.size());
        prev->type = jt;
        return;
      }
    }
    if (prev != nullptr && prev->type == 'U' && (t.upper() == "ALL" || t.upper() == "DISTINCT")) {
      return;  // UNION ALL is one token
    }
    if (prev != nullptr && prev->type == 'k' && t.upper() == "BY" &&
        (prev->upper() == "ORDER" || prev->upper() == "GROUP")) {
      prev->type = 'B';
      return;
    }
    if (t.type == 'n') {
      std::size_t p = pos_;
      while (p < in_.size() && is_space(static_cast<unsigned char>(in_[p]))) ++p;
      if (p < in_.size() && in_[p] == '(') t.type = 'f';
    }
    push(t);
  }

  std::string_view in_;
  std::size_t max_tokens_;
  std::size_t pos_ = 0;
  std::array<Token, kCap> toks_{};
  std::size_t count_ = 0;
  bool spaced_ = false;
  bool glued_ = false;
  bool last_was_word_ = false;
};

}  // namespace

void sql_fingerprint(std::string_view input, SqlContext ctx, std::string& out,
                     std::size_t max_tokens) {
  if (input.size() > kSqlMaxInput) input = input.substr(0, kSqlMaxInput);
  Lexer lexer(input, std::min<std::size_t>(max_tokens, 15));
  lexer.run(ctx);
  const char letter = ctx == SqlContext::raw ? 'r' : (ctx == SqlContext::single_quote ? 'q' : 'd');
  lexer.write(letter, out);
}

bool sql_worth_lexing(std::string_view input) {
  for (char ch : input) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
        c == '.' || c == '@' || c == ':' || c == ',' || c == '/' || c >= 0x80) {
      continue;
    }
    if (c == '-') continue;  // a lone dash cannot start a comment; "--" is caught below
    return true;
  }
  // Only word characters: no quote, space, operator or parenthesis, so no injection shape.
  return input.find("--") != std::string_view::npos;
}

}  // namespace ringward::detect
