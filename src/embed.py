#!/usr/bin/env python3
"""embed.py FILE NAME — print a C file defining the bytes of FILE as
`const char NAME[]` (NUL-terminated) and `const size_t NAME_len`, so a
document (docs/openapi.json) is served from the binary itself.  Printable
ASCII stays readable; everything else becomes an octal escape."""

import sys


def main():
    path, name = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        data = f.read()
    out = ['/* Generated from %s by src/embed.py; do not edit. */\n'
           '#include <stddef.h>\n\n'
           'extern const char %s[];\nextern const size_t %s_len;\n\n'
           'const char %s[] =\n"' % (path, name, name, name)]
    for b in data:
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append('\\n"\n"')
        elif 32 <= b < 127 and c != "?":      # no trigraphs
            out.append(c)
        else:
            out.append("\\%03o" % b)
    out.append('";\nconst size_t %s_len = sizeof(%s) - 1;\n' % (name, name))
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
