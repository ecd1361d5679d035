#!/usr/bin/env python3
"""Build step: embeds the default rules file into the binary as a byte array, so the processor
runs with its documented defaults even when share/ringward/default_rules.toml is not installed."""
import sys

src, dst = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
with open(dst, 'w') as f:
    f.write('// Generated from %s by embed_rules.py. Do not edit.\n' % src.split('/')[-1])
    f.write('#include <cstddef>\n\nnamespace ringward::detect {\n')
    f.write('extern const char kEmbeddedDefaultRules[];\n')
    f.write('extern const std::size_t kEmbeddedDefaultRulesSize;\n')
    f.write('const char kEmbeddedDefaultRules[] = {\n')
    for i in range(0, len(data), 16):
        f.write('  ' + ', '.join(str(b if b < 128 else b - 256) for b in data[i:i + 16]) + ',\n')
    f.write('  0};\n')
    f.write('const std::size_t kEmbeddedDefaultRulesSize = %d;\n' % len(data))
    f.write('}  // namespace ringward::detect\n')
