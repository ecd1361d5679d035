// A small SQL lexer that turns untrusted text (a decoded HTTP parameter, path segment or body
// value) into a token-type fingerprint, in the spirit of libinjection: injection is recognised by
// the shape of the token stream an SQL parser would see, not by keywords. The fingerprint shapes
// that count as injection live in the rules file (field "sql_fingerprint"), so this file only
// knows SQL lexing. Untrusted input: bounded by max_input and max_tokens, no recursion, no
// allocation beyond the caller's reused output string.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ringward::detect {

// Where the application is assumed to have pasted the value into its query.
enum class SqlContext {
  raw,           // as-is, e.g. a numeric id:        WHERE id = <value>
  single_quote,  // inside '...':                    WHERE name = '<value>'
  double_quote,  // inside "...":                    WHERE name = "<value>"
};

// Token alphabet of fingerprints:
//   s string literal      1 number / NULL / TRUE / FALSE      n bareword (identifier)
//   k other keyword       U UNION [ALL|DISTINCT]              E statement (SELECT, DROP, EXEC...)
//   W WAITFOR             B ORDER BY / GROUP BY               & AND OR XOR || &&
//   o operator            c comment (to end, or unterminated) ; ( ) , punctuation
//   f function call name  v @variable / @@system_variable     x anything else
// The fingerprint is "<ctx>:<tokens>" with ctx r, q or d, e.g. "q:s&1o1c" for "' or 1=1--".
inline constexpr std::size_t kSqlMaxTokens = 10;
inline constexpr std::size_t kSqlMaxInput = 4096;

void sql_fingerprint(std::string_view input, SqlContext ctx, std::string& out,
                     std::size_t max_tokens = kSqlMaxTokens);

// Cheap pre-filter: false when the value cannot form any injection shape (only word characters
// and a few harmless separators), so the lexer is not run on most values.
bool sql_worth_lexing(std::string_view input);

}  // namespace ringward::detect
